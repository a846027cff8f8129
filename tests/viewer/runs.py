"""Run folders in the runner's own layout, with chosen per-sample scores (no model needed).

``results.json`` comes from :func:`evaluate.runner.build_results` for a registered task, and both
files are written through :mod:`evaluate.records`, so the viewer reads what runs write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluate.records import SampleRecord, run_dir_for, write_results, write_samples
from evaluate.registry import get_task
from evaluate.runner import build_results

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"  # screenshots
HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
           "\x00\x07\x1b[31m bell and escape " + "x" * 5000 + "\n<b>bold?</b>")


def mmlu_sample(number: int, correct: bool, subject: str = "anatomy") -> dict[str, Any]:
    question = f"Question {number}: which letter is right?"
    context = f"The following are multiple choice questions about {subject}.\n\n{question}\nAnswer:"
    return {
        "id": f"{subject}/{number}", "prompt": context,
        "requests": [{"hash": f"h{number}", "context": context,
                      "candidates": [" A", " B", " C", " D"], "next_token": True,
                      "kind": "loglikelihood"}],
        "responses": [[-1.0, -2.0, -3.0, -4.0]], "target": "A",
        "extracted": "A" if correct else "B", "score": 1.0 if correct else 0.0, "weight": 1.0,
        "meta": {"subject": subject},
    }


def write_run(output: Path, model: str, task_name: str, samples: list[dict[str, Any]],
              wall_time_s: float = 12.5, extra: dict[str, Any] | None = None) -> Path:
    """A finished run of ``model`` on ``task_name`` holding ``samples``; returns its folder."""
    run_dir = run_dir_for(output, model, task_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    records = [SampleRecord.from_dict(sample) for sample in samples]
    write_samples(run_dir, records)
    results = build_results(get_task(task_name), records, len(records))
    results.update({"run_dir": str(run_dir), "model": {"model": model}, "backend": "test",
                    "wall_time_s": wall_time_s,
                    "environment": {"time": "2026-01-02T03:04:05+0000"}, **(extra or {})})
    write_results(run_dir, results)
    return run_dir


def run_number(catalog: Any, model: str, task: str) -> int:
    """The viewer's number for the run of ``model`` on ``task``."""
    return next(r["run"] for r in catalog.runs_table()
                if r["model"] == model and r["task"] == task)
