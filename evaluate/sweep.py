"""Sweeps: a matrix of models x tasks x variants from a TOML file, one cell at a time.

    python -m evaluate sweep configs/qwen_base.toml [--dry-run] [--limit N] [--output DIR]

A sweep file::

    description = "Qwen base models, Qwen's own scripts"
    reported = "qwen_base"              # the table in evaluate/published/ it reproduces (optional)
    output = "results/qwen_base"        # results folder (default: results)
    tasks = ["mmlu", "ceval", "gsm8k", "humaneval"]
    # optional: limit = 100, seed = 1234, data_dir = "../shared/data"

    [defaults]                          # ModelSpec fields for every model
    dtype = "bfloat16"
    trust_remote_code = true

    [[models]]
    model = "Qwen/Qwen-7B"              # any --model value; per-model fields override defaults,
    tasks = ["mmlu"]                    # and ``tasks`` narrows this model's tasks

    [[variants]]                        # optional: each model runs once per variant
    name = "dynamic_ntk"
    options = { dynamic_ntk = true }    # context knobs (evaluate/context_options.py)

Every cell goes through :func:`evaluate.evaluation.evaluate_model`, so it computes exactly what
``python -m evaluate --model M --task T --output OUTPUT[/VARIANT]`` would. A cell is skipped when
its ``results.json`` is complete, has the task's current protocol hash, and the same model
(model id, revision, dtype, options), limit and seed. Options are checked when the file is
loaded: an unknown or malformed one is one line naming the file and the variant or model. A
failing cell is recorded with a one-line reason and the sweep goes on; each model is loaded once
for all of its pending tasks.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evaluate.context_options import ContextOptionError, ContextOptions
from evaluate.errors import EvaluateError
from evaluate.evaluation import ModelSpec, evaluate_model, load_backend
from evaluate.records import RESULTS, MalformedRecordError, read_json, run_dir_for, write_json

SPEC_FIELDS = {f.name for f in fields(ModelSpec)} - {"model", "options"}
TOP_KEYS = {"description", "reported", "output", "tasks", "limit", "seed", "data_dir",
            "defaults", "models", "variants"}


@dataclass(frozen=True)
class Variant:
    """A named set of options every model runs with (``""``: the plain model)."""

    name: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # ModelSpec field overrides
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One (model, variant, task) of the matrix."""

    spec: ModelSpec
    variant: str
    task: str
    output: Path

    @property
    def name(self) -> str:
        return f"{self.spec.label}{f' [{self.variant}]' if self.variant else ''} / {self.task}"

    @property
    def run_dir(self) -> Path:
        return run_dir_for(self.output, self.spec.label, self.task)


@dataclass
class Outcome:
    cell: Cell
    status: str  # "ran", "skipped", "failed", "pending" (dry run)
    reason: str = ""
    seconds: float = 0.0
    results: dict[str, Any] | None = None


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file."""

    path: Path
    description: str
    reported: str | None
    output: Path
    limit: int | None
    seed: int
    data_dir: str | None
    cells: tuple[Cell, ...]


def _spec_fields(table: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(table) - SPEC_FIELDS
    if unknown:
        raise EvaluateError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                            f"use {', '.join(sorted(SPEC_FIELDS))}")
    return dict(table)


def _checked_options(options: dict[str, Any], where: str) -> ContextOptions:
    try:
        return ContextOptions.from_options(options)
    except ContextOptionError as exc:
        raise EvaluateError(f"{where}: {exc}") from None


def load_sweep(path: str | Path, output: str | Path | None = None,
               limit: int | None = None) -> Sweep:
    """Parse and check a sweep file; ``output`` and ``limit`` override the file's."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise EvaluateError("sweep files need Python 3.11+ (or `pip install tomli`)") from None
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"sweep file {path} does not exist")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EvaluateError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(config) - TOP_KEYS
    if unknown:
        raise EvaluateError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    tasks = config.get("tasks", [])
    models = config.get("models", [])
    if not models:
        raise EvaluateError(f"{path}: no [[models]]")
    defaults = _spec_fields(config.get("defaults", {}), f"{path} [defaults]")
    variants = []
    for i, raw in enumerate(config.get("variants", [{}])):
        raw = dict(raw)
        name, options = str(raw.pop("name", "")), dict(raw.pop("options", {}))
        if len(config.get("variants", [])) > 1 and not name:
            raise EvaluateError(f"{path}: variant {i + 1} has no name")
        _checked_options(options, f"{path} variant {name!r}")
        variants.append(Variant(name, _spec_fields(raw, f"{path} variant {name!r}"), options))
    if len({v.name for v in variants}) != len(variants):
        raise EvaluateError(f"{path}: variant names must differ")
    out = Path(output if output is not None else config.get("output", "results"))
    cells = []
    for i, raw in enumerate(models):
        raw = dict(raw)
        if "model" not in raw:
            raise EvaluateError(f"{path}: model {i + 1} has no `model`")
        model, model_tasks = str(raw.pop("model")), raw.pop("tasks", tasks)
        options = dict(raw.pop("options", {}))
        _checked_options(options, f"{path} model {model!r}")
        overrides = _spec_fields(raw, f"{path} model {model!r}")
        if not model_tasks:
            raise EvaluateError(f"{path}: no tasks for model {model!r}")
        for variant in variants:
            knobs = _checked_options({**options, **variant.options},
                                     f"{path} model {model!r} variant {variant.name!r}")
            spec = ModelSpec(model=model, **{**defaults, **overrides, **variant.spec},
                             options=knobs)
            folder = out / variant.name if variant.name else out
            cells += [Cell(spec, variant.name, str(task), folder) for task in model_tasks]
    limit = limit if limit is not None else config.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise EvaluateError(f"{path}: limit must be a positive integer, not {limit!r}")
    return Sweep(path=path, description=str(config.get("description", "")),
                 reported=config.get("reported"), output=out, limit=limit,
                 seed=int(config.get("seed", 1234)), data_dir=config.get("data_dir"),
                 cells=tuple(cells))


# ---- is a cell already done? -----------------------------------------------------------------
def _resolved_dtype(spec: ModelSpec) -> str | None:
    from evaluate.backends.identity import default_device, resolve_dtype

    try:
        return str(resolve_dtype(spec.dtype, spec.device or default_device())).removeprefix(
            "torch.")
    except ValueError:
        return None


def _recorded_options(results: dict[str, Any]) -> dict[str, Any] | None:
    """The options a run was made with: the sweep's note, else what the backend recorded."""
    if "sweep" in results:
        return dict(results["sweep"].get("options", {}))
    identity = results.get("model", {})
    for key in ("options", "knobs"):
        if isinstance(identity.get(key), dict):
            return dict(identity[key])
    return None


def done_reason(cell: Cell, limit: int | None, seed: int) -> str | None:
    """Why the cell's existing results can stand (None: it must run)."""
    from evaluate.registry import get_task

    path = cell.run_dir / RESULTS
    if not path.is_file():
        return None
    try:
        results = read_json(path)
    except MalformedRecordError:
        return None
    identity = results.get("model", {})
    recorded = _recorded_options(results)
    try:
        options_match = (ContextOptions.from_options(recorded) == cell.spec.options
                         if recorded is not None else not cell.spec.options.active)
    except ContextOptionError:  # recorded by an older version under other names
        options_match = False
    same = (
        results.get("complete") is True
        and results.get("task") == cell.task
        and results.get("protocol", {}).get("hash") == get_task(cell.task).protocol_hash()
        and identity.get("model") in (cell.spec.model, cell.spec.label)
        and identity.get("revision") == cell.spec.revision
        and identity.get("dtype") == _resolved_dtype(cell.spec)
        and options_match
        and results.get("limit") == limit
        and results.get("seed") == seed
    )
    if not same:
        return None
    metric = results.get("metrics", {}).get(results.get("headline", ""), {})
    value = metric.get("value")
    return "complete, same protocol and model" + (
        f" ({results['headline']} {value:.2f})" if value is not None else "")


# ---- running ---------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_sweep(
    sweep: Sweep,
    dry_run: bool = False,
    progress: bool = True,
    loader: Callable[[ModelSpec], Any] = load_backend,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Outcome]:
    """Run every cell not already done; never stops at a failing cell.

    Cells are grouped by model and variant; a group's model is loaded once (by ``loader``), and
    only if one of its cells is pending and its task and data check out.
    """
    from evaluate.data import DataDir
    from evaluate.registry import get_task

    outcomes: dict[int, Outcome] = {}  # by cell index (a ModelSpec holds a dict: not hashable)
    groups: dict[str, list[int]] = {}
    for index, cell in enumerate(sweep.cells):
        key = json.dumps([asdict(cell.spec), cell.variant], sort_keys=True, default=str)
        groups.setdefault(key, []).append(index)
    for indices in groups.values():
        pending: list[int] = []
        for index in indices:
            cell = sweep.cells[index]
            try:
                reason = done_reason(cell, sweep.limit, sweep.seed)
                if reason:
                    outcomes[index] = Outcome(cell, "skipped", reason)
                    continue
                get_task(cell.task).load(DataDir(sweep.data_dir))  # checks data before loading
                pending.append(index)
            except Exception as exc:
                outcomes[index] = Outcome(cell, "failed", _one_line(exc))
        if dry_run:
            for index in pending:
                outcomes[index] = Outcome(sweep.cells[index], "pending", "would run")
            continue
        if not pending:
            continue
        first = sweep.cells[pending[0]]
        log(f"sweep: loading {first.spec.label}"
            f"{f' [{first.variant}]' if first.variant else ''} for {len(pending)} task(s)")
        try:
            import torch

            torch.manual_seed(sweep.seed)  # as evaluate_model does before loading
            backend = loader(first.spec)
        except Exception as exc:
            for index in pending:
                outcomes[index] = Outcome(sweep.cells[index], "failed",
                                          "model did not load: " + _one_line(exc))
            continue
        for index in pending:
            cell = sweep.cells[index]
            start = time.time()
            try:
                [results] = evaluate_model(
                    cell.spec, [cell.task], data_dir=sweep.data_dir, output=cell.output,
                    limit=sweep.limit, seed=sweep.seed, progress=progress,
                    command=["python", "-m", "evaluate", "sweep", str(sweep.path)],
                    backend=backend)
                results["sweep"] = {"config": str(sweep.path), "variant": cell.variant,
                                    "options": cell.spec.options.to_options()}
                write_json(cell.run_dir / RESULTS, results)
                outcomes[index] = Outcome(cell, "ran", "", time.time() - start, results)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                outcomes[index] = Outcome(cell, "failed", _one_line(exc), time.time() - start)
            log(f"sweep: {cell.name}: {outcomes[index].status}")
        del backend
        gc.collect()
        _empty_cuda_cache()
    return [outcomes[index] for index in range(len(sweep.cells))]


def _empty_cuda_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def summary_table(outcomes: list[Outcome]) -> str:
    """Markdown: every cell with what happened to it and why, then the counts."""
    lines = ["| model | variant | task | status | score / reason | time (s) |",
             "|---|---|---|---|---|---|"]
    for o in outcomes:
        detail = o.reason
        if o.status == "ran" and o.results:
            metric = o.results.get("metrics", {}).get(o.results.get("headline", ""), {})
            if metric.get("value") is not None:
                detail = f"{o.results['headline']} {metric['value']:.2f}"
        seconds = f"{o.seconds:.1f}" if o.status == "ran" else "-"
        lines.append(f"| {o.cell.spec.label} | {o.cell.variant or '-'} | {o.cell.task} | "
                     f"{o.status} | {detail.replace('|', '/')} | {seconds} |")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ran", "skipped", "failed",
                                                                  "pending")}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "pending"))
    return "\n".join(lines)
