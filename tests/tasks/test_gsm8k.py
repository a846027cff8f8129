"""GSM8K: cut rules, extraction quirks, the fixed comparison, OpenCompass's variant, prompts, and
end to end on the tiny model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import get_task
from evaluate.requests import cut_at_stops
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import gsm8k


def _score(task_name: str, text: str, gold: str) -> tuple[object, float]:
    task = get_task(task_name)
    scored = task.score(ScoreInput(id="0", target=f"reasoning ...\n#### {gold}"), [{"text": text}])
    return scored.extracted, scored.score


# ---- gsm8k: the cut rules, in order --------------------------------------------------------------
@pytest.mark.parametrize("text, kept", [
    ("5 + 2 = 7\nThe answer is 7<|endoftext|>Question: 99", "5 + 2 = 7\nThe answer is 7"),
    ("The answer is 7\n\n\n\n12", "The answer is 7"),
    ("The answer is 7\n\nQuestion: how many 12?", "The answer is 7"),
    ("The answer is 7\nQuestion: how many 12?", "The answer is 7\n"),
    # order: "\n\n\n" is cut before "\n\n", both before "Question:"
    ("a 1\n\nb 2\n\n\nc 3", "a 1"),
    ("The answer is 3<|endoftext|>\n\n", "The answer is 3"),
])
def test_qwen_cut_rules(text, kept):
    assert cut_at_stops(text, gsm8k.STOPS) == kept


@pytest.mark.parametrize("text, gold, extracted, correct", [
    ("16 - 3 - 4 = 9\n9 * 2 = 18\nThe answer is 18", "18", 18, 1.0),
    ("The answer is 18\n\nQuestion: 25 apples", "18", 18, 1.0),  # \n\n cut before the last digits
    ("The answer is 18\nQuestion: 25 apples", "18", 18, 1.0),  # Question: cut
    ("The answer is 17<|endoftext|>The answer is 18", "18", 17, 0.0),
    ("No number here", "18", None, 0.0),
    # the faithful quirks
    ("The answer is 20,800", "20,800", 800, 0.0),  # thousands separator: last run is 800
    ("The answer is -5", "-5", 5, 0.0),  # sign dropped; a negative gold never matches
    ("The answer is 3.75", "3.75", 75, 0.0),  # decimals: last run is 75
    ("The answer is 08", "8", None, 0.0),  # eval("08") is a SyntaxError: no answer
    ("The answer is 0", "0", 0, 1.0),
    ("The answer is 1800.", "1,800", 1800, 1.0),  # gold commas removed
])
def test_qwen_extraction_and_quirks(text, gold, extracted, correct):
    assert _score("gsm8k", text, gold) == (extracted, correct)


def test_qwen_gold_reads_like_eval():
    assert gsm8k.qwen_gold("x\n#### 1,234") == 1234
    assert gsm8k.qwen_gold("x\n#### -5") == -5
    assert gsm8k.qwen_gold("x\n#### 3.75") == 3.75
    with pytest.raises(MalformedDataError):
        gsm8k.qwen_gold("no gold here")


# ---- gsm8k:fixed ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, gold, correct", [
    ("The answer is 20,800", "20800", 1.0),
    ("The answer is $20,800.", "20,800", 1.0),
    ("It drops to -5 degrees", "-5", 1.0),
    ("She pays 3.75", "3.75", 1.0),
    ("She pays 3.750", "3.75", 1.0),
    ("He eats 3/4 of it", "0.75", 1.0),
    ("10 - 15 = -5", "-5", 1.0),
    ("10-5", "5", 1.0),  # subtraction, not a negative number
    ("x-5", "5", 1.0),
    ("The answer is 5", "-5", 0.0),
    ("The answer is 75", "3.75", 0.0),
    ("nothing", "3", 0.0),
    ("The answer is 18\n\n20", "18", 1.0),  # same cut rules
])
def test_fixed_comparison(text, gold, correct):
    assert _score("gsm8k:fixed", text, gold)[1] == correct


# ---- gsm8k:opencompass ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, gold, extracted, correct", [
    ("So 3*38=114\nThe answer is 146\n", "146", "146", 1.0),
    ("The answer is 140.0\n", "140", "140.0", 1.0),  # float within 1e-6 of int(gold)
    ("The answer is -5", "-5", "-5", 1.0),
    ("The answer is 20,800", "20800", "800", 0.0),  # no thousands separators
    ("The answer is 3.75", "3.75", "3.75", 1.0),  # string equality (int("3.75") fails)
    ("The answer is 3.750", "3.75", "3.750", 0.0),
    ("The answer is 7\n\nQuestion: 12", "7", "7", 1.0),  # cut at "Question"
    ("The answer is 7<|im_end|>9", "7", "7", 1.0),
    ("no number", "7", "NULL", 0.0),
])
def test_opencompass_extraction(text, gold, extracted, correct):
    assert _score("gsm8k:opencompass", text, gold) == (extracted, correct)


def test_opencompass_prompt_has_four_shots_joined_directly(data_dir):
    task = get_task("gsm8k:opencompass")
    doc = task.load(DataDir(data_dir))[0]
    prompt = task.build(doc)[0].context
    assert prompt.startswith("Question: Angelo and Melanie want to plan how many hours")
    assert prompt.count("Let's think step by step\nAnswer:") == 5
    assert "\nLet's think step by step\nAnswer:Angelo and Melanie think" in prompt
    assert "The answer is 4\nQuestion: Mark's basketball team" in prompt
    assert "The answer is 146\nQuestion: Janet\u2019s ducks lay 16 eggs per day." in prompt
    assert prompt.endswith("at the farmers' market?\nLet's think step by step\nAnswer:")
    assert task.shots == 4


# ---- prompts against the real files --------------------------------------------------------------
def test_qwen_prompt_snapshot(data_dir):
    task = get_task("gsm8k")
    docs = task.load(DataDir(data_dir))
    assert len(docs) == 1319
    [request] = task.build(docs[0])
    shots = (Path(data_dir) / "gsm8k" / "qwen_8shot_prompt.txt").read_text(encoding="utf-8")
    question = json.loads((Path(data_dir) / "gsm8k" / "test.jsonl").open().readline())["question"]
    assert request.context == shots + "\nQuestion: " + question + "\nLet's think step by step\n"
    # the join, written out by hand
    assert request.context.startswith("Question: In 2004, there were 60 kids at a cookout.")
    assert request.context.endswith(
        "he picked 120 + 230 = 350 apples from his orchard.\nThe answer is 350\n"
        "\nQuestion: Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every "
        "morning and bakes muffins for her friends every day with four. She sells the remainder "
        "at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she "
        "make every day at the farmers' market?\nLet's think step by step\n")
    assert request.stop == ("<|endoftext|>", "\n\n\n", "\n\n", "Question:")
    assert request.max_new_tokens == 512 and request.temperature == 0.0
    assert docs[0].target.endswith("#### 18")


# ---- the tiny model ------------------------------------------------------------------------------
def test_early_stop_keeps_the_full_length_cut(tiny_model, qwen2_tokenizer, data_dir):
    """Task-level: decoding that stops at the task's stop strings keeps exactly what the cut of
    an unstopped run of the same length keeps (shortened from 512 tokens to 64 for speed)."""
    task = get_task("gsm8k")
    docs = task.load(DataDir(data_dir))[:8]
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=8)
    early = [dataclasses.replace(task.build(d)[0], max_new_tokens=64) for d in docs]
    full = [dataclasses.replace(r, stop=()) for r in early]
    got_early = dict(backend.run(early, progress=False))
    got_full = dict(backend.run(full, progress=False))
    assert any(got_early[i]["finish"] == "stop" for i in got_early)  # the rule was exercised
    for i, doc in enumerate(docs):
        assert got_early[i]["num_tokens"] <= got_full[i]["num_tokens"]
        assert (cut_at_stops(got_early[i]["text"], gsm8k.STOPS)
                == cut_at_stops(got_full[i]["text"], gsm8k.STOPS))
        assert (task.score(doc, [got_early[i]]).extracted
                == task.score(doc, [got_full[i]]).extracted)


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(gsm8k, "MAX_NEW_TOKENS", 8)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("gsm8k", "gsm8k:fixed", "gsm8k:opencompass"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=2, progress=False))
        assert results["complete"] and results["samples"] == 2
        samples = [json.loads(line) for line in
                   open(Path(results["run_dir"]) / "samples.jsonl", encoding="utf-8")]
        assert results["metrics"]["accuracy"]["value"] == pytest.approx(
            100 * sum(s["score"] for s in samples) / 2)
        for sample in samples:
            assert sample["responses"][0]["num_tokens"] <= 8
            assert sample["extra"]["completion"] == cut_at_stops(
                sample["responses"][0]["text"], sample["requests"][0]["stop"])
        assert any(k.endswith("gsm8k/test.jsonl") for k in results["data_files"])
