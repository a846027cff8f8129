"""The viewer's data, as JSON-ready dicts: shared by the local server and the static export.

Scores and reported values come from :func:`evaluate.tables.score_rows`, the paired comparison of
two runs from :func:`evaluate.gate.compare` (the test ``gate`` applies), the plot from
:func:`evaluate.tables.plot_sizes`; run files are read only through :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.gate import compare, entry_from_results
from evaluate.tables import plot_sizes, run_label, score_rows
from evaluate.viewer import records

PREVIEW = 240  # characters of a long field shown in a table row


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PREVIEW:
        return value[:PREVIEW] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value[:8]]
    return value


class Catalog:
    """The runs found under some paths, numbered in a stable order."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        runs = records.find_runs(paths)
        self.runs = sorted(runs, key=lambda r: (run_label(r), r["task"], r["run_dir"]))
        self._table: list[dict[str, Any]] | None = None

    def _run(self, number: int) -> dict[str, Any]:
        if not 0 <= number < len(self.runs):
            raise EvaluateError(f"no run {number}")
        return self.runs[number]

    def runs_table(self) -> list[dict[str, Any]]:
        """One row per run: model, task, score ± stderr, reported, difference, protocol, date."""
        if self._table is not None:
            return self._table
        rows = []
        for number, (run, row) in enumerate(zip(self.runs, score_rows(self.runs), strict=True)):
            rows.append({**row, "run": number, "label": run_label(run),
                         "date": run.get("environment", {}).get("time"),
                         "run_dir": run["run_dir"]})
        self._table = rows
        return rows

    def run(self, number: int) -> dict[str, Any]:
        """One run's summary and per-group scores (subjects, categories, lengths)."""
        run = self._run(number)
        headline = run.get("headline")
        metrics = run.get("metrics", {})
        groups = [{"name": name, **value} for name, value in metrics.items() if name != headline]
        protocol = run.get("protocol", {})
        return {
            **self.runs_table()[number], "groups": groups,
            "protocol_info": {k: protocol.get(k) for k in
                              ("hash", "version", "description", "provenance", "shots")},
            "planned": run.get("planned_samples"), "error": run.get("error"),
            "task_extra": run.get("task_extra"), "command": run.get("command"),
            "siblings": [n for n, other in enumerate(self.runs)
                         if other["task"] == run["task"] and n != number],
        }

    def samples(self, number: int, offset: int = 0, limit: int = 50,
                verdict: str | None = None, search: str | None = None) -> dict[str, Any]:
        """A page of a run's samples (long fields clipped), and how many match."""
        run_dir = self._run(number)["run_dir"]
        if not records.has_samples(run_dir):
            return {"total": 0, "offset": 0, "rows": [], "note": f"{run_dir} has no samples"}
        total, rows = records.iter_samples(run_dir, max(0, offset),
                                           max(1, min(limit, 500)), verdict or None,
                                           search or None)
        records.warm(run_dir)  # a filter asked for next finds the verdicts ready
        keep = ("index", "id", "verdict", "score", "extracted", "target", "prompt")
        return {"total": total, "offset": offset,
                "rows": [{k: _clip(row.get(k)) for k in keep} for row in rows]}

    def sample(self, number: int, index: int) -> dict[str, Any]:
        """One sample in full."""
        return records.read_sample(self._run(number)["run_dir"], index)

    def all_samples(self, number: int) -> list[dict[str, Any]]:
        """Every sample of a run in full (for the static export)."""
        run_dir = self._run(number)["run_dir"]
        return records.iter_samples(run_dir, 0, 1 << 62)[1] if records.has_samples(run_dir) else []

    def diff(self, a: int, b: int, offset: int = 0, limit: int | None = 100) -> dict[str, Any]:
        """Two runs of one task sample by sample, changed verdicts first, and gate's test."""
        run_a, run_b = self._run(a), self._run(b)
        if run_a["task"] != run_b["task"]:
            raise EvaluateError(f"runs {a} and {b} are of different tasks "
                                f"({run_a['task']}, {run_b['task']})")
        left = records.sample_scores(run_a["run_dir"])
        right = {sid: (k, score, v)
                 for k, (sid, score, v) in enumerate(records.sample_scores(run_b["run_dir"]))}
        rows = []
        for k, (sid, score, verdict) in enumerate(left):
            other = right.pop(sid, (None, None, "absent"))
            rows.append({"id": sid, "a_index": k, "a_score": score, "a_verdict": verdict,
                         "b_index": other[0], "b_score": other[1], "b_verdict": other[2]})
        rows += [{"id": sid, "a_index": None, "a_score": None, "a_verdict": "absent",
                  "b_index": k, "b_score": score, "b_verdict": v}
                 for sid, (k, score, v) in right.items()]
        for row in rows:
            row["changed"] = row["a_score"] != row["b_score"]
        rows.sort(key=lambda r: not r["changed"])  # stable: file order within each part
        test = compare(entry_from_results(run_a), entry_from_results(run_b))
        table = self.runs_table()
        end = None if limit is None else offset + limit
        return {"task": run_a["task"], "a": table[a], "b": table[b],
                "verdict": test.verdict, "detail": test.detail,
                "changed": sum(r["changed"] for r in rows), "total": len(rows),
                "offset": offset, "rows": rows[offset:end]}

    def plot(self, path: str | Path) -> Path:
        """The score-versus-size PNG of ``table --plot``."""
        return plot_sizes(self.runs, path)
