"""Score tables: reproduced ± standard error, beside the reported number where there is one.

- :func:`markdown_table`: one row per (model, task), printed after every run.
- :func:`pivot` / :func:`pivot_markdown` / :func:`pivot_csv`: shaped like the reported tables
  (rows = benchmarks, columns = models), for ``python -m evaluate table``.
- :func:`plot_sizes`: score against model size per task (needs matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.records import load_results as load_results  # re-exported for callers of tables
from evaluate.reported import (
    lookup,
    lookup_in,
    missing_rows,
    table_models,
    table_name,
    table_tasks,
)


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


def run_label(result: dict[str, Any]) -> str:
    """A column name: the model, plus the sweep variant when the run was one."""
    model = result.get("model", {}).get("model", "?")
    variant = result.get("sweep", {}).get("variant")
    return f"{model} [{variant}]" if variant else str(model)


# ---- tables shaped like the reported ones ----------------------------------------------------
@dataclass
class Cell:
    """One reproduced score beside its reported value."""

    value: float | None
    stderr: float | None
    n: int | None
    complete: bool
    protocol: str | None
    reported: float | None
    hash_differs: bool = False

    @property
    def diff(self) -> float | None:
        if self.value is None or self.reported is None:
            return None
        return self.value - self.reported


@dataclass
class Pivot:
    """Rows = tasks (benchmarks), columns = runs (models); ``cells[(task, column)]``."""

    tasks: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    reported_table: str | None

    @property
    def any_hash_differs(self) -> bool:
        return any(cell.hash_differs for cell in self.cells.values())


def pivot(results: Sequence[dict[str, Any]], reported: str | None = None) -> Pivot:
    """Arrange runs like the reported tables; ``reported`` names the table to compare against
    (default: the first table that reports the model and task, see :func:`reported.lookup`).

    Within a row, a cell whose protocol hash differs from the row's most common hash is marked:
    those numbers were not produced by the same protocol and are not comparable as they stand.
    """
    table = table_name(reported) if reported else None
    tasks: list[str] = []
    columns: list[str] = []
    cells: dict[tuple[str, str], Cell] = {}
    for result in results:
        task, column = result["task"], run_label(result)
        if (task, column) in cells:
            raise EvaluateError(f"two runs of {column} on {task}: {result.get('run_dir')}; "
                                "pass one of them")
        tasks += [task] if task not in tasks else []
        columns += [column] if column not in columns else []
        metric = result.get("metrics", {}).get(result.get("headline", ""), {})
        model = result.get("model", {}).get("model", "?")
        if table:
            value = lookup_in(table, model, task)
        else:
            found = lookup(model, task)
            value = found[0] if found else None
        stderr = metric.get("stderr")
        cells[(task, column)] = Cell(
            value=metric.get("value"),
            stderr=None if stderr is None or math.isnan(stderr) else stderr,
            n=result.get("samples"), complete=bool(result.get("complete", True)),
            protocol=result.get("protocol", {}).get("hash"), reported=value,
        )
    for task in tasks:
        row = [cells[(task, c)] for c in columns if (task, c) in cells]
        common = Counter(cell.protocol for cell in row).most_common(1)[0][0]
        for cell in row:
            cell.hash_differs = cell.protocol != common
    if table:
        order = table_tasks(table)
        tasks.sort(key=lambda t: order.index(t) if t in order else len(order))
    return Pivot(tasks, columns, cells, table)


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    text = "-" if cell.value is None else f"{cell.value:.2f}"
    if cell.value is not None and cell.stderr is not None:
        text += f" ± {cell.stderr:.2f}"
    if not cell.complete:
        text += " (partial)"
    if cell.hash_differs:
        text += " " + HASH_MARK
    if cell.reported is not None:
        diff = "" if cell.diff is None else f", {cell.diff:+.2f}"
        text += f" (rep. {cell.reported:.2f}{diff})"
    return text


HASH_MARK = "†"


def pivot_markdown(table: Pivot) -> str:
    """Markdown: each cell ``reproduced ± stderr (rep. reported, difference)``."""
    lines = ["| task | " + " | ".join(table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    for task in table.tasks:
        texts = [_cell_text(table.cells.get((task, c))) for c in table.columns]
        lines.append(f"| {task} | " + " | ".join(texts) + " |")
    notes = []
    if table.reported_table:
        notes.append(f"reported: {table.reported_table}")
        missing = missing_rows(table.reported_table, table.tasks)
        if missing:
            notes.append("reported rows not shown: " + "; ".join(missing))
    if table.any_hash_differs:
        hashes = sorted({f"{t}: {c} has protocol {cell.protocol}"
                         for (t, c), cell in table.cells.items() if cell.hash_differs})
        notes.append(f"{HASH_MARK} protocol hash differs from the rest of its row ("
                     + "; ".join(hashes) + ")")
    return "\n".join(lines + ([""] + notes if notes else []))


def pivot_csv(table: Pivot) -> str:
    """CSV, one row per task; per model: value, stderr, n, reported, diff, protocol, differs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    fields = ("value", "stderr", "n", "reported", "diff", "protocol", "protocol_differs")
    writer.writerow(["task"] + [f"{c}:{f}" for c in table.columns for f in fields])
    for task in table.tasks:
        row: list[Any] = [task]
        for column in table.columns:
            cell = table.cells.get((task, column))
            if cell is None:
                row += [""] * len(fields)
                continue
            row += [_num(cell.value), _num(cell.stderr), cell.n or "", _num(cell.reported),
                    _num(cell.diff), cell.protocol or "", int(cell.hash_differs)]
        writer.writerow(row)
    return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


# ---- score against model size ----------------------------------------------------------------
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")


def model_size(model: str) -> float | None:
    """Billions of parameters named in a model id: ``Qwen1.5-0.5B-Chat`` -> 0.5, else None."""
    name = str(model).rstrip("/").split("/")[-1]
    found = _SIZE.findall(name)
    return float(found[-1]) if found else None


def plot_sizes(results: Sequence[dict[str, Any]], path: str | Path,
               reported: str | None = None) -> Path:
    """PNG: per task, reproduced score (± stderr) and reported score against model size.

    Models whose name carries no size (``1.8B``, ``7B``, ...) are left out. With ``reported``, the
    whole reported curve of that table is drawn, not only the evaluated models' points.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EvaluateError("--plot needs matplotlib: pip install -e '.[plot]'") from None
    table = pivot(results, reported)
    tasks = table.tasks
    if not tasks:
        raise EvaluateError("nothing to plot: no results")
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        ours, theirs = [], {}
        for column in table.columns:
            cell = table.cells.get((task, column))
            size = model_size(column.split(" [")[0])
            if cell is None or size is None or cell.value is None:
                continue
            ours.append((size, cell.value, cell.stderr or 0.0))
            if cell.reported is not None:
                theirs[size] = cell.reported
        if reported:
            for model in table_models(reported):
                size, value = model_size(model), lookup_in(reported, model, task)
                if size is not None and value is not None:
                    theirs.setdefault(size, value)
        if ours:
            ours.sort()
            ax.errorbar([p[0] for p in ours], [p[1] for p in ours], yerr=[p[2] for p in ours],
                        marker="o", capsize=3, label="reproduced")
        if theirs:
            sizes = sorted(theirs)
            ax.plot(sizes, [theirs[s] for s in sizes], "s--", fillstyle="none", label="reported")
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("parameters (B)")
        ax.set_ylabel("score")
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
