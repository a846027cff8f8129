"""Regression gates: does a run score below its baseline by more than noise?

    python -m evaluate gate --baseline BASELINE RESULTS...
    python -m evaluate gate --write-baseline FILE RESULTS... [--tolerance T] [--deterministic]

``BASELINE`` is a baseline file (written by ``--write-baseline``: per task the headline value, its
standard error, the protocol hash and every sample's score) or earlier results (``results.json``
files or folders). For each task the verdict is:

- ``PROTOCOL CHANGED``: the protocol hashes differ, so the numbers are not comparable. A failure,
  never a silent pass: refresh the baseline on purpose if the change was meant.
- ``INCOMPLETE``: the new run did not finish. ``MISSING``: the baseline has the task, the results
  do not. Both fail.
- ``ok``: the score did not drop by more than the task's tolerance (points), or it did but the
  drop is within noise.
- ``REGRESSION``: the drop exceeds the tolerance and is significant at ``alpha`` (one-sided).

Noise: when both sides have per-sample scores (``samples.jsonl``), a paired sign test on the
samples matched by id: McNemar's exact test on the discordant pairs for 0/1 scores, mid-p. A
0.5-point drop on MMLU's 14,042 questions, made of a hundred answers lost and thirty gained, has
mid-p far below 0.05 although the two means' standard errors overlap; one question lost out of 40
(2.5 points) has mid-p 0.25. Without per-sample scores on both sides: a z-test on the two
bootstrap standard errors. Without those either, or for a task marked ``deterministic`` (CI on a
fixed model, where any change is a code change): every drop beyond the tolerance is a regression.
Metrics named like perplexity or loss count lower as better.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.records import RESULTS, load_results, read_json, read_sample_scores

BASELINE_FORMAT = "qwen-evaluate-baseline/1"
ALPHA = 0.05
FAILING = ("REGRESSION", "PROTOCOL CHANGED", "INCOMPLETE", "MISSING")
_LOWER_IS_BETTER = re.compile(r"ppl|perplexity|nll|loss|bits", re.IGNORECASE)


@dataclass
class Entry:
    """One task's score on one side of the comparison."""

    task: str
    model: str
    metric: str
    value: float | None
    stderr: float | None
    n: int | None
    protocol_hash: str | None
    complete: bool = True
    samples: dict[str, float] | None = None  # sample id -> score
    tolerance: float = 0.0
    deterministic: bool = False
    higher_is_better: bool = True


@dataclass
class Verdict:
    task: str
    baseline: float | None
    now: float | None
    verdict: str
    detail: str

    @property
    def diff(self) -> float | None:
        if self.baseline is None or self.now is None:
            return None
        return self.now - self.baseline

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


# ---- statistics ------------------------------------------------------------------------------
def _log_binom_pmf(k: int, n: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)


def sign_test_midp(worse: int, better: int) -> float:
    """One-sided mid-p of ``worse`` or more losses among ``worse + better`` discordant pairs
    under no change (Binomial(d, 1/2)): McNemar's exact test, mid-p version."""
    d = worse + better
    if d == 0:
        return 1.0
    tail = sum(math.exp(_log_binom_pmf(k, d)) for k in range(worse + 1, d + 1))
    return min(1.0, tail + 0.5 * math.exp(_log_binom_pmf(worse, d)))


def z_test_p(drop: float, se_a: float, se_b: float) -> float | None:
    """One-sided p of a drop this large from two independent standard errors (None if unknown)."""
    spread = math.hypot(se_a, se_b)
    if not spread or math.isnan(spread):
        return None
    return 0.5 * math.erfc(drop / spread / math.sqrt(2))


# ---- reading both sides ----------------------------------------------------------------------
def entry_from_results(result: dict[str, Any]) -> Entry:
    headline = result.get("headline", "")
    metric = result.get("metrics", {}).get(headline, {})
    stderr = metric.get("stderr")
    return Entry(
        task=result["task"], model=str(result.get("model", {}).get("model", "?")),
        metric=headline, value=metric.get("value"),
        stderr=None if stderr is None or math.isnan(stderr) else float(stderr),
        n=result.get("samples"), protocol_hash=result.get("protocol", {}).get("hash"),
        complete=bool(result.get("complete", True)),
        samples=read_sample_scores(Path(result["run_dir"])) if result.get("run_dir") else None,
        higher_is_better=not _LOWER_IS_BETTER.search(headline or ""),
    )


def _by_task(entries: list[Entry], where: str) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for entry in entries:
        if entry.task in out:
            raise EvaluateError(f"{where}: two runs of task {entry.task} "
                                f"({out[entry.task].model}, {entry.model}); gate one at a time")
        out[entry.task] = entry
    return out


def read_baseline(path: str | Path) -> dict[str, Entry]:
    """A baseline file, or results (``results.json`` files or folders) used as the baseline."""
    path = Path(path)
    if path.is_file() and path.name != RESULTS:
        data = read_json(path)
        if data.get("format") != BASELINE_FORMAT:
            raise EvaluateError(f"{path} is not a baseline file (format {BASELINE_FORMAT}) "
                                "nor a results.json")
        entries = {}
        for task, raw in data.get("tasks", {}).items():
            try:
                entries[task] = Entry(task=task, **raw)
            except TypeError as exc:
                raise EvaluateError(f"{path}: task {task}: {exc}") from None
        return entries
    return _by_task([entry_from_results(r) for r in load_results([path])], str(path))


def write_baseline(path: str | Path, results: list[dict[str, Any]], tolerance: float = 0.0,
                   deterministic: bool = False, note: str = "") -> dict[str, Any]:
    """Write a baseline file from results (with their per-sample scores when present)."""
    entries = _by_task([entry_from_results(r) for r in results], "results")
    tasks = {}
    for task, entry in sorted(entries.items()):
        if not entry.complete:
            raise EvaluateError(f"{task}: the run is incomplete; a baseline needs a finished run")
        raw = {k: v for k, v in vars(entry).items() if k not in ("task", "complete")}
        raw.update(tolerance=tolerance, deterministic=deterministic)
        tasks[task] = raw
    data = {"format": BASELINE_FORMAT, "note": note, "tasks": tasks}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return data


# ---- the verdict -----------------------------------------------------------------------------
def compare(base: Entry, now: Entry | None, alpha: float = ALPHA,
            tolerance: float | None = None) -> Verdict:
    """The verdict for one task (``tolerance`` overrides the baseline's)."""
    if now is None:
        return Verdict(base.task, base.value, None, "MISSING", "no run of this task given")
    if base.protocol_hash != now.protocol_hash:
        return Verdict(base.task, base.value, now.value, "PROTOCOL CHANGED",
                       f"baseline {base.protocol_hash}, now {now.protocol_hash}")
    if not now.complete:
        return Verdict(base.task, base.value, now.value, "INCOMPLETE",
                       f"{now.n} samples scored; the run did not finish")
    if base.value is None or now.value is None:
        return Verdict(base.task, base.value, now.value, "INCOMPLETE", "no headline value")
    tol = base.tolerance if tolerance is None else tolerance
    sign = 1.0 if base.higher_is_better else -1.0
    drop = sign * (base.value - now.value)
    p, how = _noise(base, now, drop, sign)
    detail = f"tolerance {tol:g}; {how}"
    if drop <= tol:
        return Verdict(base.task, base.value, now.value, "ok", detail)
    if p is not None and p >= alpha:
        return Verdict(base.task, base.value, now.value, "ok", detail + " (within noise)")
    return Verdict(base.task, base.value, now.value, "REGRESSION", detail)


def _noise(base: Entry, now: Entry, drop: float, sign: float) -> tuple[float | None, str]:
    """(one-sided p of the drop, how it was computed); p None means no noise allowance."""
    if base.deterministic:
        return None, "deterministic: any drop counts"
    if base.samples and now.samples:
        shared = base.samples.keys() & now.samples.keys()
        if shared:
            worse = sum(1 for k in shared if sign * (base.samples[k] - now.samples[k]) > 0)
            better = sum(1 for k in shared if sign * (now.samples[k] - base.samples[k]) > 0)
            p = sign_test_midp(worse, better)
            return p, (f"paired on {len(shared)} samples: {worse} worse, {better} better, "
                       f"mid-p {p:.3g}")
    if base.stderr is not None and now.stderr is not None:
        z_p = z_test_p(drop, base.stderr, now.stderr)
        if z_p is not None:
            return z_p, f"unpaired z-test on stderrs, p {z_p:.3g}"
    return None, "no per-sample scores or stderrs: any drop beyond tolerance counts"


def gate(baseline: dict[str, Entry], results: list[dict[str, Any]], alpha: float = ALPHA,
         tolerance: float | None = None) -> list[Verdict]:
    """One verdict per baseline task, then ``new`` for tasks the baseline does not have."""
    now = _by_task([entry_from_results(r) for r in results], "results")
    verdicts = [compare(entry, now.get(task), alpha, tolerance)
                for task, entry in sorted(baseline.items())]
    verdicts += [Verdict(task, None, entry.value, "new", "no baseline for this task")
                 for task, entry in sorted(now.items()) if task not in baseline]
    return verdicts


def report(verdicts: list[Verdict]) -> str:
    """One line per task: baseline, now, difference, verdict (and how it was decided)."""
    def num(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:+.2f}" if signed else f"{value:.2f}"

    width = max([len(v.task) for v in verdicts] + [4])
    lines = [f"{'task':<{width}}  {'baseline':>8}  {'now':>8}  {'diff':>7}  verdict"]
    for v in verdicts:
        lines.append(f"{v.task:<{width}}  {num(v.baseline):>8}  {num(v.now):>8}  "
                     f"{num(v.diff, True):>7}  {v.verdict} ({v.detail})")
    failed = sum(v.failed for v in verdicts)
    lines.append(f"gate: {'FAILED' if failed else 'passed'} "
                 f"({failed} of {len(verdicts)} task(s) failing)")
    return "\n".join(lines)
