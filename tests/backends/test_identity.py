"""Model identity (evaluate/backends/identity.py): values pinned, GGUF headers read safely.

Every value here feeds the request cache key and run keys, so the pinned digests below are the
ones the code produced before it moved out of the Transformers backend; a change to any of them
invalidates every cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from evaluate.backends.identity import (
    cached_file_sha256,
    config_hash,
    describe,
    gguf_architecture,
    weights_stat,
)
from evaluate.errors import ModelLoadError


def _write_gguf(path: Path, architecture: str = "qwen2") -> Path:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_uint32(f"{architecture}.context_length", 4096)
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    writer.add_tensor("weight", np.zeros((8,), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_identity_reads_the_architecture_and_hashes_the_file(tmp_path):
    path = _write_gguf(tmp_path / "small.gguf")
    assert gguf_architecture(path) == "qwen2"
    identity = describe(str(path), "auto", "cpu")
    assert identity == {
        "model": str(path), "revision": None, "dtype": "float32", "device": "cpu",
        "trust_remote_code": False, "architecture": "qwen2",
        "gguf_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    # Memoised beside the file by (size, mtime): a second call reads the memo, not the file.
    memo = path.with_name("small.gguf.sha256")
    key, digest = memo.read_text().split()
    memo.write_text(f"{key} {'0' * 64}\n")
    assert cached_file_sha256(path) == "0" * 64


def test_truncated_gguf_headers_are_one_clear_line(tmp_path):
    whole = _write_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    # Every cut inside the header up to the architecture's value, one byte at a time.
    end = whole.index(b"qwen2") + len(b"qwen2")
    for size in range(4, end):
        cut.write_bytes(whole[:size])
        with pytest.raises(ModelLoadError) as info:
            gguf_architecture(cut)
        assert "\n" not in str(info.value) and "cut.gguf" in str(info.value)
    cut.write_bytes(whole[:end])
    assert gguf_architecture(cut) == "qwen2"


def test_corrupt_gguf_files_are_one_clear_line(tmp_path):
    path = tmp_path / "bad.gguf"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelLoadError, match="is not a GGUF file"):
        gguf_architecture(path)
    # The right magic, then a key length far past the end of the file.
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
                     + (1).to_bytes(8, "little") + (2**63).to_bytes(8, "little") + b"x" * 32)
    with pytest.raises(ModelLoadError, match="cut short"):
        gguf_architecture(path)
    # An unknown value type before the architecture.
    key = b"general.name"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
                     + (2).to_bytes(8, "little") + len(key).to_bytes(8, "little") + key
                     + (99).to_bytes(4, "little") + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="corrupt GGUF header"):
        gguf_architecture(path)


def test_cli_names_a_broken_gguf_in_one_line(tmp_path, capsys):
    from evaluate.cli import main

    whole = _write_gguf(tmp_path / "whole.gguf").read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(whole[:40])
    code = main(["--model", str(broken), "--task", "mmlu", "--limit", "1",
                 "--output", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "broken.gguf" in err
    assert "Traceback" not in err


def test_weights_stat_is_pinned(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 100)
    (tmp_path / "extra.bin").write_bytes(b"\1" * 7)
    (tmp_path / "notes.txt").write_text("not a weight file")
    for name in ("model.safetensors", "extra.bin"):
        os.utime(tmp_path / name, (1_700_000_000, 1_700_000_000.75))
    assert weights_stat(tmp_path) == "7becda646f464702"


def test_config_hash_is_pinned():
    class Config:
        def to_dict(self) -> dict:
            return {"model_type": "qwen2", "hidden_size": 64, "rope_theta": 1e6,
                    "transformers_version": "4.0", "_name_or_path": "/somewhere",
                    "torch_dtype": "float32", "dtype": "float32", "_commit_hash": "abc",
                    "_attn_implementation_autoset": True, "extra": Path("/x")}

    assert config_hash(Config()) == "fb346c2e31c9b03e"


def test_a_gguf_cut_after_its_architecture_fails_to_load_in_one_line(tmp_path):
    from evaluate.backends.hf import HFBackend

    whole = _write_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: whole.index(b"qwen2") + len(b"qwen2") + 20])
    assert describe(str(cut), "auto", "cpu")["architecture"] == "qwen2"  # the header starts well
    with pytest.raises(ModelLoadError) as info:
        HFBackend.load(str(cut), device="cpu")
    assert "\n" not in str(info.value) and "cut.gguf" in str(info.value)
