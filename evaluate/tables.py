"""Score tables: reproduced ± standard error, beside the reported number where there is one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluate.reported import lookup


def score_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, task): headline metric, its stderr, n, reported value, difference."""
    rows = []
    for result in results:
        metric = result.get("metrics", {}).get(result.get("headline", ""), {})
        model = result.get("model", {}).get("model", "?")
        reported = lookup(model, result["task"])
        value = metric.get("value")
        rows.append({
            "model": model,
            "task": result["task"],
            "metric": result.get("headline"),
            "value": value,
            "stderr": metric.get("stderr"),
            "n": result.get("samples"),
            "complete": result.get("complete", True),
            "reported": reported[0] if reported else None,
            "diff": (value - reported[0]) if reported and value is not None else None,
            "protocol": result.get("protocol", {}).get("hash"),
            "seconds": result.get("wall_time_s"),
        })
    return rows


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """A markdown table of :func:`score_rows`."""
    header = "| model | task | metric | reproduced | n | reported | diff | protocol | time (s) |"
    lines = [header, "|" + "---|" * 9]
    for row in score_rows(results):
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        if row["stderr"] is not None and row["stderr"] == row["stderr"]:  # not NaN
            value += f" ± {row['stderr']:.2f}"
        if not row["complete"]:
            value += " (partial)"
        reported = "-" if row["reported"] is None else f"{row['reported']:.2f}"
        diff = "-" if row["diff"] is None else f"{row['diff']:+.2f}"
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.1f}"
        lines.append(
            f"| {row['model']} | {row['task']} | {row['metric']} | {value} | {row['n']} | "
            f"{reported} | {diff} | {row['protocol']} | {seconds} |"
        )
    return "\n".join(lines)
