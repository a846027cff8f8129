"""OpenCompass's left-padded perplexity batches (request_batching, SequenceNLLRequest.left_pad).

The faithful values are checked against a batch built here by hand and run through the model's
plain forward (input ids and attention mask, no position ids), as OpenCompass's ``get_ppl`` did.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from evaluate import left_padding
from evaluate.backends.hf import HFBackend
from evaluate.backends.lazy import LazyBackend
from evaluate.data import DataDir
from evaluate.records import read_plan
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task, select_indices
from evaluate.scoring.choice import row_ppl_choice
from evaluate.task import Doc, LeftPaddedBatches, Task
from evaluate.tasks import opencompass_ppl as ppl
from evaluate.tasks import winogrande

ENDINGS = (" A", " B")
REPO = Path(__file__).resolve().parents[1]


def toy_docs() -> list[Doc]:
    """14 docs of varied lengths: subject s1 (11 docs: batches of 8 and 3), s2 (3 docs)."""
    return [Doc(id=str(i), target="AB"[i % 2], meta={"subject": "s1" if i < 11 else "s2"},
                data={"prompt": "Context" + " x y" * (i * 7 % 5) + f" item {i}.\nAnswer:",
                      "prompts": [f"Shots.\nThe cat{' sat' * (i % 3)} on mat {i}.",
                                  f"Shots.\nThe dog{' ran' * (i % 4)} on rug {i}."],
                      "cont": " on mat."})
            for i in range(14)]


BATCHES = LeftPaddedBatches(size=8, rows=2, by="subject", engine="test")
PPL = Task(name="toy:ppl", description="toy", provenance="test", shots=0, data_files=(),
           load=lambda data: toy_docs(),
           build=functools.partial(ppl.row_build, endings=ENDINGS),
           score=functools.partial(row_ppl_choice, labels=("A", "B")),
           request_batching=BATCHES)
LL = Task(name="toy:ll", description="toy", provenance="test", shots=0, data_files=(),
          load=lambda data: toy_docs(), build=winogrande.build, score=winogrande.score,
          request_batching=BATCHES)


def oc_batch(model, tokenizer, texts: list[str], cont_tokens: int | None = None) -> list[float]:
    """``get_ppl`` (or with ``cont_tokens`` the LL value) of one batch, built by hand."""
    pad = tokenizer.pad_token_id
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                           ignore_index=pad, reduction="none").view(len(rows), -1).double()
    lens = (ids != pad).sum(-1)
    if cont_tokens is None:
        return (loss.sum(-1) / lens).tolist()
    keep = torch.arange(width - 1)[None] >= cont_tokens - 1
    return (-(loss * keep).sum(-1) / (lens - cont_tokens)).tolist()


@pytest.fixture()
def backend(tiny_model, qwen2_tokenizer):
    return HFBackend(tiny_model, qwen2_tokenizer, batch_size=3, identity={"model": "tiny"})


def test_batches_are_consecutive_docs_cut_at_size_and_subject():
    assert left_padding.batches(toy_docs(), BATCHES) == [
        list(range(8)), [8, 9, 10], [11, 12, 13]]
    assert left_padding.batches(toy_docs(), LeftPaddedBatches(by=None)) == [
        list(range(8)), list(range(8, 14))]


def test_plan_pads_each_label_to_its_full_dataset_batch(backend, tmp_path, qwen2_tokenizer):
    """A --limit subset keeps its rows' real peers: 8 per label in dataset order."""
    results = run_task(PPL, backend, DataDir(tmp_path), tmp_path, "tiny",
                       RunOptions(limit=5, seed=3, progress=False, use_cache=False))
    chosen = select_indices(14, 5, 3)
    docs = toy_docs()
    plans = read_plan(tmp_path / "tiny" / "toy_ppl")
    assert [p.id for p in plans] == [docs[i].id for i in chosen]
    for index, record in zip(chosen, plans, strict=True):
        batch = next(b for b in left_padding.batches(docs, BATCHES) if index in b)
        for label, ending in enumerate(ENDINGS):
            sizes = [len(qwen2_tokenizer(docs[i].data["prompt"] + ending)["input_ids"])
                     for i in batch]
            own = sizes[batch.index(index)]
            assert record.requests[label]["left_pad"] == max(sizes) - own
    assert results["request_batching"]["applied"] is True
    assert results["request_batching"]["pad_id"] == qwen2_tokenizer.pad_token_id


def test_faithful_rows_equal_a_hand_built_left_padded_batch(backend, tiny_model,
                                                             qwen2_tokenizer, tmp_path):
    docs = toy_docs()
    run_task(PPL, backend, DataDir(tmp_path), tmp_path, "tiny",
             RunOptions(progress=False, use_cache=False))
    samples = [json.loads(line) for line in
               (tmp_path / "tiny" / "toy_ppl" / "samples.jsonl").read_text().splitlines()]
    by_id = {s["id"]: s for s in samples}
    pads = [r["left_pad"] for s in samples for r in s["responses"]]
    assert max(pads) > 0 and min(pads) == 0
    for batch in left_padding.batches(docs, BATCHES):
        for label, ending in enumerate(ENDINGS):
            want = oc_batch(tiny_model, qwen2_tokenizer,
                            [docs[i].data["prompt"] + ending for i in batch])
            got = [by_id[docs[i].id]["extra"]["avg_nll"][label] for i in batch]
            assert got == pytest.approx(want, abs=1e-6)


def test_ll_rows_equal_a_hand_built_left_padded_batch(backend, tiny_model, qwen2_tokenizer,
                                                      tmp_path):
    docs = toy_docs()
    run_task(LL, backend, DataDir(tmp_path), tmp_path, "tiny",
             RunOptions(progress=False, use_cache=False))
    samples = {s["id"]: s for s in (json.loads(line) for line in (
        tmp_path / "tiny" / "toy_ll" / "samples.jsonl").read_text().splitlines())}
    cont = len(qwen2_tokenizer(" on mat.", add_special_tokens=False)["input_ids"])
    for batch in left_padding.batches(docs, BATCHES):
        for label in range(2):
            want = oc_batch(tiny_model, qwen2_tokenizer,
                            [docs[i].data["prompts"][label] for i in batch], cont)
            got = [samples[docs[i].id]["extra"]["ll"][label] for i in batch]
            assert got == pytest.approx(want, abs=1e-6)


def test_unbatched_equals_batch_one_and_cache_keeps_them_apart(backend, tiny_model,
                                                                qwen2_tokenizer, tmp_path):
    docs = toy_docs()
    unbatched = ppl.unbatched(Task(**{**PPL.__dict__, "request_batching": None}))
    options = RunOptions(limit=6, seed=1, progress=False)  # the shared request cache on
    faithful = run_task(PPL, backend, DataDir(tmp_path), tmp_path, "tiny", options)
    alone = run_task(unbatched, backend, DataDir(tmp_path), tmp_path, "tiny", options)
    assert "request_batching" not in alone
    padded = {r["hash"] for p in read_plan(tmp_path / "tiny" / "toy_ppl") for r in p.requests
              if r.get("left_pad")}
    plain = {r["hash"] for p in read_plan(tmp_path / "tiny" / "toy_ppl-unbatched")
             for r in p.requests}
    assert padded and not padded & plain
    samples = [json.loads(line) for line in (tmp_path / "tiny" / "toy_ppl-unbatched"
                                             / "samples.jsonl").read_text().splitlines()]
    for sample in samples:
        doc = docs[int(sample["id"])]
        want = [oc_batch(tiny_model, qwen2_tokenizer, [doc.data["prompt"] + e])[0]
                for e in ENDINGS]
        assert sample["extra"]["avg_nll"] == pytest.approx(want, abs=1e-6)
    assert faithful["samples"] == alone["samples"] == 6
    gap = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "oc_padding.py"), "--compare",
         str(tmp_path / "tiny" / "toy_ppl"), str(tmp_path / "tiny" / "toy_ppl-unbatched")],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(gap.stdout)
    assert report["rows"] == 6 and report["max_abs_diff"] > 0

    class Offline(HFBackend):
        def run(self, requests, progress=True, desc="model"):
            raise AssertionError("the model ran although every request was cached")

    again = run_task(PPL, Offline(tiny_model, qwen2_tokenizer, identity={"model": "tiny"}),
                     DataDir(tmp_path), tmp_path / "again", "tiny", options)
    assert again["metrics"] == faithful["metrics"]


def test_a_backend_without_padded_rows_computes_each_prompt_alone(backend, tmp_path):
    backend.left_padded_rows = False  # as a completions server
    results = run_task(PPL, backend, DataDir(tmp_path), tmp_path, "tiny",
                       RunOptions(limit=4, progress=False, use_cache=False))
    assert results["request_batching"]["applied"] is False
    assert "each prompt alone" in results["request_batching"]["computed"]
    assert all("left_pad" not in r for p in read_plan(tmp_path / "tiny" / "toy_ppl")
               for r in p.requests)


def test_the_openai_backend_never_pads():
    from evaluate.backends.openai import OpenAIBackend
    from evaluate.errors import EvaluateError
    from evaluate.requests import SequenceNLLRequest

    assert not left_padding.applies(OpenAIBackend)
    server = object.__new__(OpenAIBackend)  # no server needed to refuse
    with pytest.raises(EvaluateError, match="left-padded"):
        server.tokenize(0, SequenceNLLRequest(text="x", left_pad=2))


def test_race_unbatched_two_pass_form_equals_batch_one(data_dir, backend, tiny_model,
                                                       qwen2_tokenizer):
    task = get_task("race-middle:opencompass-unbatched")
    doc = task.load(DataDir(data_dir))[0]
    responses = [r for _, r in sorted(backend.run(task.build(doc), progress=False))]
    got = task.score(doc, responses).extra["avg_nll"]
    want = [oc_batch(tiny_model, qwen2_tokenizer, [doc.data["prompt"] + x])[0]
            for x in (" A", " B", " C", " D")]
    assert got == pytest.approx(want, abs=1e-5)


def test_lazy_backend_measures_prompts_without_loading_the_weights(qwen2_tokenizer):
    def factory():
        raise AssertionError("weights loaded")

    lazy = LazyBackend({"model": "x"}, factory, "transformers", 1, left_padded_rows=True,
                       load_tokenizer=lambda: qwen2_tokenizer)
    assert lazy.encode_batch(["Answer: A"]) == [
        qwen2_tokenizer("Answer: A", add_special_tokens=False)["input_ids"]]
    assert left_padding.applies(lazy) and lazy.pad_id is None


def test_library_batch_values_used_by_the_benchmark(tiny_model, qwen2_tokenizer):
    from evaluate.backends.left_padded import ppl_values

    texts = [d.data["prompt"] + " A" for d in toy_docs()[:8]]
    rows = [qwen2_tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert ppl_values(tiny_model, rows, qwen2_tokenizer.pad_token_id) == pytest.approx(
        oc_batch(tiny_model, qwen2_tokenizer, texts), abs=1e-6)
