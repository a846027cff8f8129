"""A model's identity from its config and files alone, without loading the weights.

:func:`describe` is what the results file records as ``model`` and what the request cache
fingerprints (:func:`evaluate.cache.model_fingerprint`): the path or hub id, the revision (and
the resolved commit when from the hub), a hash of the config, the GGUF file's sha256 or the
weight files' sizes and modification times, and the dtype. Every value here feeds cache keys and
run keys, so a change to how one is computed is a change to every key (tests pin them).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from evaluate.errors import ModelLoadError, first_line

if TYPE_CHECKING:
    import torch

# GGUF metadata value types (the GGUF spec's gguf_metadata_value_type): the fixed-size scalars.
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_MAX_KEYS = 64  # general.architecture comes first in practice; never scan a whole header


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto`` is bfloat16 on a GPU and float32 on the CPU."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return table[dtype]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_source(model: str, revision: str | None,
                 trust_remote_code: bool) -> tuple[str, dict[str, Any]]:
    """What to pass to ``from_pretrained``; a ModelLoadError for paths that hold no model."""
    path = Path(model)
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"model file {model!r} does not exist")
        kwargs["gguf_file"] = path.name
        return str(path.parent), kwargs
    if path.exists() and not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{model!r} holds no Transformers model (no config.json); pass a model folder, "
            "a hub id or a .gguf file"
        )
    if not path.exists() and (model.startswith((".", "/", "~")) or model.count("/") > 1):
        raise ModelLoadError(f"model path {model!r} does not exist")
    return model, kwargs


def describe(
    model: str,
    dtype: str = "auto",
    device: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """The model's identity from its config and files alone, without loading the weights.

    Covers the path or hub id, the revision (and the resolved commit when from the hub), a hash
    of the config, the GGUF file's sha256 or the weight files' sizes and modification times, and
    the dtype: what the request cache fingerprints.
    """
    device = device or default_device()
    source, kwargs = model_source(model, revision, trust_remote_code)
    identity: dict[str, Any] = {
        "model": model,
        "revision": revision,
        "dtype": str(resolve_dtype(dtype, device)).removeprefix("torch."),
        "device": device,
        "trust_remote_code": trust_remote_code,
    }
    path = Path(model)
    if path.suffix == ".gguf":
        # The file's sha256 pins weights, config and tokenizer; reading the GGUF config through
        # transformers would take seconds, so only the architecture is read from the header.
        identity["architecture"] = gguf_architecture(path)
        identity["gguf_sha256"] = cached_file_sha256(path)
        return identity
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load model {model!r}: {first_line(exc)}") from exc
    identity["commit"] = getattr(config, "_commit_hash", None)
    identity["architecture"] = (getattr(config, "architectures", None) or [config.model_type])[0]
    identity["config_sha256"] = config_hash(config)
    if path.is_dir():
        identity["weights"] = weights_stat(path)
    return identity


def gguf_architecture(path: Path) -> str | None:
    """``general.architecture`` from a GGUF header (a few hundred bytes read, not the file).

    None when the header has no such key among its first entries (or reaches the arrays, which
    come late, first). A file that is not GGUF, or whose header is cut short or corrupt, is a
    one-line ModelLoadError.
    """
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelLoadError(f"{path} is not a GGUF file")
        header = _GGUFHeader(handle, path)
        try:
            return header.architecture()
        except (struct.error, ValueError) as exc:
            raise ModelLoadError(f"{path}: corrupt GGUF header ({exc})") from exc


class _GGUFHeader:
    """Reads GGUF header fields, refusing any read past the end of the file."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path
        self.size = path.stat().st_size

    def read(self, count: int) -> bytes:
        if count > self.size - self.handle.tell():
            raise ModelLoadError(
                f"{self.path}: GGUF header cut short at byte {self.handle.tell()} "
                f"(a truncated or corrupt file; download it again)")
        return self.handle.read(count)

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))

    def string(self) -> str:
        (length,) = self.unpack("<Q")
        return self.read(length).decode("utf-8", "replace")

    def skip(self, kind: int) -> None:
        if kind in _GGUF_SCALARS:
            self.read(struct.calcsize("<" + _GGUF_SCALARS[kind]))
        elif kind == _GGUF_STRING:
            self.string()
        elif kind == _GGUF_ARRAY:
            item_kind, count = self.unpack("<IQ")
            for _ in range(count):
                self.skip(item_kind)
        else:
            raise ValueError(f"unknown value type {kind}")

    def architecture(self) -> str | None:
        _version, _tensors, kv_count = self.unpack("<IQQ")
        for _ in range(min(kv_count, _GGUF_MAX_KEYS)):
            key = self.string()
            (kind,) = self.unpack("<I")
            if key == "general.architecture" and kind == _GGUF_STRING:
                return self.string()
            if kind == _GGUF_ARRAY:
                return None  # arrays come late (the vocabulary); give up rather than read it all
            self.skip(kind)
        return None


def weights_stat(folder: Path) -> str:
    """Hash of the weight files' names, sizes and modification times (cheap, not their bytes)."""
    entries = []
    for pattern in ("*.safetensors", "*.bin", "*.pt", "*.gguf"):
        for file in sorted(folder.glob(pattern)):
            stat = file.stat()
            entries.append(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def config_hash(config: Any) -> str:
    """Hash of a Transformers config, without the fields that change with no change of model."""
    data = config.to_dict()
    for volatile in ("transformers_version", "_name_or_path", "dtype", "torch_dtype",
                     "_commit_hash", "_attn_implementation_autoset"):
        data.pop(volatile, None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def cached_file_sha256(path: Path) -> str:
    """sha256 of a large file, memoised beside it by (size, mtime) so re-runs skip the hashing."""
    from evaluate.data import sha256_file

    stat = path.stat()
    key = f"{stat.st_size}:{int(stat.st_mtime)}"
    memo = path.with_name(path.name + ".sha256")
    try:
        cached_key, digest = memo.read_text().split()
        if cached_key == key:
            return digest
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    try:
        memo.write_text(f"{key} {digest}\n")
    except OSError:
        pass
    return digest

