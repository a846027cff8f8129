"""evaluate: reproduce the Qwen models' published benchmark scores on your own hardware.

The public API lives here. The import name is ``evaluate``; the distribution is
``qwen-evaluate``, because Hugging Face's unrelated ``evaluate`` package owns that name on PyPI.
If both are installed, whichever comes first on ``sys.path`` wins: run from this repository's root
(or uninstall Hugging Face's ``evaluate``); :func:`shadow_warning` says when the other one is
installed.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from evaluate.data import DataDir
from evaluate.errors import EvaluateError
from evaluate.registry import all_tasks, get_task, register
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    SequenceNLLRequest,
    cut_at_stops,
)
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task

__all__ = [
    "Aggregation", "DataDir", "Doc", "EvaluateError", "GenerateRequest", "HFBackend",
    "LoglikelihoodRequest", "RunOptions", "ScoreInput", "Scored", "SequenceNLLRequest", "Task",
    "all_tasks", "cut_at_stops", "get_task", "register", "rescore", "run_task", "shadow_warning",
]


def shadow_warning() -> str | None:
    """A warning when Hugging Face's ``evaluate`` distribution is installed beside this one."""
    try:
        dist = metadata.distribution("evaluate")
    except metadata.PackageNotFoundError:
        return None
    return (
        f"Hugging Face's `evaluate` {dist.version} is installed too and uses the same import "
        "name; `python -m evaluate` runs whichever comes first on sys.path. Run from this "
        "repository's root or `pip uninstall evaluate`."
    )


def __getattr__(name: str) -> Any:  # heavy imports (torch) only when asked for
    if name == "HFBackend":
        from evaluate.backends.hf import HFBackend

        return HFBackend
    if name in ("run_task", "rescore", "RunOptions"):
        from evaluate import runner

        return getattr(runner, name)
    raise AttributeError(name)
