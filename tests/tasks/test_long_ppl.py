"""long_ppl: exact-length windows of the joined token stream, per-length PPL, one at a time."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evaluate.data import DataDir
from evaluate.errors import EvaluateError
from evaluate.tasks import long_ppl
from evaluate.tasks.long_ppl import check_vocabulary, make_task, window_starts


@pytest.fixture()
def small_data(tmp_path, qwen2_tokenizer_dir):
    """A data dir with two short documents and the Qwen tokenizer (linked, not copied)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.tex").write_text("\\section{Intro} Let $x^2 = 1$. " * 12, encoding="utf-8")
    (folder / "b.txt").write_text("Plain text, 中文 too.\n" * 10, encoding="utf-8")
    (folder / "SOURCES.md").write_text("not a document", encoding="utf-8")
    tok = tmp_path / "tokenizers" / "qwen2"
    tok.mkdir(parents=True)
    (tok / "tokenizer.json").symlink_to(qwen2_tokenizer_dir / "tokenizer.json")
    return tmp_path


def expected_stream(tokenizer, root) -> list[int]:
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    stream: list[int] = []
    for name in ("a.tex", "b.txt"):
        if stream:
            stream.append(eot)
        text = (root / "docs" / name).read_text(encoding="utf-8")
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
    return stream


def test_window_starts_spread_evenly():
    assert window_starts(100, 10, 2) == [20, 70]
    assert window_starts(100, 10, 1) == [50]
    assert window_starts(100, 10, 50) == list(range(0, 100, 10))
    assert window_starts(9, 10, 3) == []


def test_windows_are_exact_slices_of_the_joined_stream(small_data, qwen2_tokenizer):
    task = make_task("t", lengths=(16, 64), windows=3, folder="docs")
    docs = task.load(DataDir(small_data))
    stream = expected_stream(qwen2_tokenizer, small_data)
    assert len(docs) == 6
    for doc in docs:
        length, start = doc.meta["length"], doc.meta["start"]
        assert len(doc.data) == length
        assert list(doc.data) == stream[start : start + length]
        assert task.build(doc)[0].token_ids == tuple(doc.data)
    for length in (16, 64):
        starts = sorted(d.meta["start"] for d in docs if d.meta["length"] == length)
        assert all(b - a >= length for a, b in zip(starts, starts[1:], strict=False))
    a_len = len(qwen2_tokenizer((small_data / "docs" / "a.tex").read_text(encoding="utf-8"),
                                add_special_tokens=False)["input_ids"])
    for doc in docs:
        start, end = doc.meta["start"], doc.meta["start"] + doc.meta["length"]
        expected = (["a.tex"] if start < a_len else []) + (["b.txt"] if end > a_len + 1 else [])
        assert doc.meta["documents"] == expected
    assert stream[0] != qwen2_tokenizer.convert_tokens_to_ids("<|endoftext|>")  # no BOS


def test_too_short_corpus_is_a_clear_error(small_data):
    task = make_task("t", lengths=(100_000,), windows=1, folder="docs")
    with pytest.raises(EvaluateError, match="fewer than one window"):
        task.load(DataDir(small_data))


def test_vocabulary_check(small_data, qwen2_tokenizer):
    data = DataDir(small_data)
    check_vocabulary(data, lambda t: qwen2_tokenizer(t, add_special_tokens=False)["input_ids"])
    with pytest.raises(EvaluateError, match="Qwen-vocabulary"):
        check_vocabulary(data, lambda t: [ord(c) for c in t])


def test_per_length_ppl_matches_a_direct_computation(small_data, tiny_model, qwen2_tokenizer,
                                                     tmp_path, monkeypatch):
    from evaluate.backends.hf import HFBackend
    from evaluate.evaluation import ModelSpec, evaluate_model
    from evaluate.registry import _TASKS

    task = make_task("long_ppl:test", lengths=(16, 48), windows=2, folder="docs")
    monkeypatch.setitem(_TASKS, task.name, task)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=8)
    sizes: list[int] = []
    original = backend._sequence_nll_batch
    monkeypatch.setattr(backend, "_sequence_nll_batch",
                        lambda items: sizes.append(len(items)) or original(items))
    (result,) = evaluate_model(ModelSpec("tiny"), [task.name], data_dir=small_data,
                               output=tmp_path / "out", progress=False, backend=backend,
                               use_cache=False)
    assert sizes == [1, 1, 1, 1]  # one window per forward, whatever the backend's batch size
    assert backend.batch_size == 8  # restored afterwards
    for length in (16, 48):
        total, count = 0.0, 0
        for doc in (d for d in task.load(DataDir(small_data)) if d.meta["length"] == length):
            tokens = torch.tensor([doc.data])
            with torch.inference_mode():
                out = tiny_model(input_ids=tokens).logits[0, :-1].float()
            total += float(F.cross_entropy(out, tokens[0, 1:], reduction="sum"))
            count += length - 1
        metric = result["metrics"][f"length:{length}"]
        assert metric["n"] == 2
        assert metric["value"] == pytest.approx(math.exp(total / count), rel=1e-4)


def test_real_corpus_windows(data_dir):
    docs = long_ppl.make_task("x", windows=3).load(DataDir(data_dir))
    for length in long_ppl.LENGTHS:
        these = [d for d in docs if d.meta["length"] == length]
        assert len(these) == 3 and all(len(d.data) == length for d in these)
        starts = [d.meta["start"] for d in these]
        assert starts == sorted(starts) and starts[1] - starts[0] >= length


def test_table_has_the_reports_shape():
    def result(variant):
        metrics = {"ppl": {"value": 9.0, "n": 2}, "length:1024": {"value": 4.5, "n": 2},
                   "length:8192": {"value": 88.25, "n": 1}}
        context = {"context": {"variant": variant}} if variant else {}
        return {"task": "long_ppl", "model": {"model": "Qwen/Qwen-7B", **context},
                "metrics": metrics}

    table = long_ppl.ppl_table([result(None), result("dynamic_ntk+logn+window_attn")])
    lines = table.splitlines()
    assert lines[0] == "| model | variant | 1K | 2K | 4K | 8K | 16K | 32K |"
    assert lines[2] == "| Qwen/Qwen-7B | none | 4.50 (2) | - | - | 88.25 (1) | - | - |"
    assert lines[3].startswith("| Qwen/Qwen-7B | dynamic_ntk+logn+window_attn | 4.50 (2)")
    assert "| Qwen-7B (reported) | none | 4.23 | 3.81 | 3.52 | 3.31 | 7.27 | 181.49 |" in lines
    assert not any("Qwen-14B" in line for line in lines)
