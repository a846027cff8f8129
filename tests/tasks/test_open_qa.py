"""triviaqa:opencompass and nq:opencompass: prompts, loader, scoring, a tiny-model run."""

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import open_qa
from evaluate.tasks import opencompass as oc


def test_prompts_and_counts(data_dir):
    trivia = get_task("triviaqa:opencompass").load(DataDir(data_dir))
    nq = get_task("nq:opencompass").load(DataDir(data_dir))
    assert len(trivia) == 7993 and len(nq) == 3610
    assert nq[0].data["prompt"] == (
        "Q: where did they film hot tub time machine\nA: Fernie Alpine Resort.\n\n"
        "Q: when was the last time anyone was on the moon\nA: ")
    assert nq[0].target == ["14 December 1972 UTC", "December 1972"]
    assert trivia[0].data["prompt"] == (
        "Q: Which American-born Sinclair won the Nobel Prize for Literature in 1930?\n"
        "A: Sinclair Lewis.\n\n"
        "Q: Which Lloyd Webber musical premiered in the US on 10th December 1993?\nA: ")


def test_train_file_used_when_present(tmp_path):
    (tmp_path / "nq-open").mkdir()
    (tmp_path / "nq-open/nq-open-train.jsonl").write_text(
        json.dumps({"question": "q0", "answer": ["a0", "b0"]}) + "\n", encoding="utf-8")
    (tmp_path / "nq-open/nq-open-validation.jsonl").write_text(
        json.dumps({"question": "q1", "answer": ["x"]}) + "\n", encoding="utf-8")
    docs = get_task("nq:opencompass").load(DataDir(tmp_path))
    assert docs[0].data["prompt"] == "Q: q0\nA: a0.\n\nQ: q1\nA: "


def test_general_postprocess():
    assert oc.general_postprocess("The  Beatles, a band") == "Beatles"
    assert oc.general_postprocess("An apple's core.") == "apples core"


@pytest.mark.parametrize(("name", "text", "aliases", "right"), [
    ("triviaqa:opencompass", " Sunset Boulevard\nQ: next", ["Sunset Boulevard"], 1.0),
    ("triviaqa:opencompass", "I think the answer is the Beatles.", ["Beatles"], 1.0),
    ("triviaqa:opencompass", "Paris", ["London"], 0.0),
    ("triviaqa:opencompass", "A: B: answer: Tokyo", ["tokyo"], 1.0),
    ("nq:opencompass", "x a: Tokyo", ["Tokyo"], 1.0),
    ("nq:opencompass", "December 1972, on the moon", ["14 December 1972 UTC", "December 1972"],
     1.0),
    ("nq:opencompass", "1972", ["December 1972"], 0.0),
])
def test_scoring(name, text, aliases, right):
    result = get_task(name).score(ScoreInput(id="0", target=aliases), [{"text": text}])
    assert result.score == right


def test_triviaqa_splits_on_a_colon_nq_does_not():
    sample = ScoreInput(id="0", target=["x"])
    assert get_task("triviaqa:opencompass").score(sample, [{"text": "Q a: x"}]).extracted == "x"
    assert get_task("nq:opencompass").score(sample, [{"text": "Q a: y"}]).extracted == "q y"


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(open_qa, "MAX_NEW_TOKENS", 4)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("triviaqa:opencompass", "nq:opencompass"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=2, progress=False))
        assert results["complete"] and results["samples"] == 2
        samples = [json.loads(line) for line in
                   open(Path(results["run_dir"]) / "samples.jsonl", encoding="utf-8")]
        for sample in samples:
            assert sample["requests"][0]["stop"] == ["Q:", "\n"]
            assert sample["prompt"].endswith("\nA: ")
