"""theoremqa:opencompass(-fixed): the prompt to the character (PROTOCOLS_MORE.md B3, appendix X4),
gold answers as replies, and end to end on the tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import theoremqa
from evaluate.tasks.theoremqa_prompts import SHOTS


def test_shots_are_the_appendix_ones(data_dir):
    protocols = Path(data_dir).resolve().parent / "PROTOCOLS_MORE.md"  # the shared folder
    if not protocols.is_file():
        pytest.skip("PROTOCOLS_MORE.md not beside the repository")
    text = protocols.read_text(encoding="utf-8")
    block = text[text.index("### X4."):text.index("### X5.")]
    code = re.search(r"```python\n(.*?)```", block, re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)  # the protocol document's own Python literal
    assert tuple(tuple(s) for s in namespace["THEOREMQA_SHOTS"]) == SHOTS


def test_prompt_to_the_character(data_dir):
    docs = get_task("theoremqa:opencompass").load(DataDir(data_dir))
    assert len(docs) == 800 and docs[0].id == "jianyu_xu/Lah_number_6.json"
    expected = "You are supposed to provide a solution to a given problem.\n\n"
    for question, solution in SHOTS:
        expected += "Problem:\n" + question + "\nSolution:\n" + solution + "\n"
    expected += ("Problem:\nHow many ways are there to divide a set of 8 elements into 5 "
                 "non-empty ordered subsets?\nSolution:")
    [request] = theoremqa.build(docs[0])
    assert request.context == expected
    assert request.stop == ("Problem:", "Problem") and request.max_new_tokens == 1024
    assert docs[0].target == "11760" and docs[0].meta["answer_type"] == "integer"
    assert {d.meta["answer_type"] for d in docs} == {
        "float", "integer", "bool", "list of integer", "option", "list of float"}


def test_gold_answers_score_all_but_one(data_dir):
    """"The answer is <Answer>" for all 800; the one miss is a protocol quirk: list answers only
    match as strings, and "[3]" is parsed as the number 3."""
    task = get_task("theoremqa:opencompass")
    docs = task.load(DataDir(data_dir))
    samples = [ScoreInput(d.id, d.target, d.meta, d.reference) for d in docs]
    scored = task.score_all(samples, [[{"text": f" The answer is {d.target}.\n"}] for d in docs])
    missed = {d.id: s.extracted for d, s in zip(docs, scored, strict=True) if s.score != 1.0}
    assert missed == {"maxku/graphtheory4-vertexcover.json": "3"}


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(theoremqa, "MAX_NEW_TOKENS", 8)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("theoremqa:opencompass", "theoremqa:opencompass-fixed"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=2, progress=False))
        assert results["complete"] and results["samples"] == 2
        samples = [json.loads(line) for line in open(Path(results["run_dir"]) / "samples.jsonl")]
        assert results["metrics"]["score"]["value"] == pytest.approx(
            100 * sum(s["score"] for s in samples) / 2)
        assert all(s["responses"][0]["num_tokens"] <= 8 for s in samples)
        assert set(results["task_extra"]["status_counts"]) == {"ok"}


def test_reported_rows():
    from evaluate.reported import lookup_in

    assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", "theoremqa:opencompass") == 4.25
    assert lookup_in("opencompass_qwen_base", "Qwen/Qwen-7B", "theoremqa:opencompass") == 15.0
