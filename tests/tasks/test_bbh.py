"""BBH: prompts from the CoT files, both answer extractions, gold targets as completions, the
27-task mean, and end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import get_task
from evaluate.reported import lookup_in
from evaluate.runner import RunOptions, run_task
from evaluate.scoring.bbh import answer_after_trigger, opencompass_freeform, opencompass_mcq
from evaluate.tasks import bbh


def test_prompts(data_dir):
    docs = get_task("bbh").load(DataDir(data_dir))
    assert len(docs) == 6511 and len({d.meta["task"] for d in docs}) == 27
    first = docs[0]  # boolean_expressions/0
    text = (Path(data_dir) / "bbh" / "cot-prompts" / "boolean_expressions.txt").read_text()
    shots = text.split("\n", 2)[2]
    assert shots.startswith("Evaluate the result of a random Boolean expression.\n\nQ: ")
    assert first.data["prompt"] == (shots + "\n\nQ: " + "not ( True ) and ( True ) is"
                                    + "\nA: Let's think step by step.")
    oc_first = get_task("bbh:opencompass").load(DataDir(data_dir))[0]
    assert oc_first.data["prompt"] == ("Follow the given examples and answer the question.\n"
                                       + first.data["prompt"])
    assert get_task("bbh:opencompass").build(oc_first)[0].stop[-1] == "Q:"
    old = get_task("bbh:opencompass-2023")
    old_first = old.load(DataDir(data_dir))[0]
    assert old_first.data["prompt"] == oc_first.data["prompt"].removesuffix(
        "Let's think step by step.")
    (request,) = old.build(old_first)
    assert request.max_context_tokens == 1536 and "Q:" not in request.stop


def test_2023_variant_reads_the_whole_reply(data_dir):
    """bbh_gen_5bf00b has no stop string: text after the next "Q:" still counts."""
    task = get_task("bbh:opencompass-2023")
    doc = next(d for d in task.load(DataDir(data_dir)) if d.meta["task"] == "navigate")
    reply = " We go left.\n\nQ: next question\nA: So the answer is " + doc.target + "."
    assert task.score(doc, [{"text": reply}]).score == 1.0
    assert get_task("bbh:opencompass").score(doc, [{"text": reply}]).score == 0.0


def test_bad_cot_file(toy_data):
    (toy_data.root / "bbh" / "cot-prompts").mkdir(parents=True)
    (toy_data.root / "bbh" / "cot-prompts" / "x.txt").write_text("no canary\nhere")
    with pytest.raises(MalformedDataError, match="canary"):
        bbh.shots(toy_data, "x")


@pytest.mark.parametrize("reply, answer", [
    (" A = True. So the answer is True.\n\nQ: next", "True"),
    ("... So the answer is (B).", "(B)"),
    ("So the answer is ] >.\nmore", "] >"),
    ("so the answer is 3.", None),  # the trigger is case-sensitive
    ("no trigger", None),
])
def test_answer_after_trigger(reply, answer):
    assert answer_after_trigger(reply) == answer


# Real replies of the embedded Qwen2.5-Coder-0.5B-Instruct (seeded `bbh` run, --limit 10), tails.
REAL = [
    ("causal_judgement", "No", " The polar bear could not finish his homework. So the answer is "
     "No.<|im_end|>", "No", 1.0),
    ("object_counting", "10", " 3 + 1 + 2 + 2 + 1 + 1 + 1 + 1 = 14. So the answer is 14.\n\nQ: I "
     "have a banana, a grape", "14", 0.0),
    ("disambiguation_qa", "(A)", " we conclude that the antecedent of the pronoun is ambiguous. So "
     "the answer is (C).<|im_end|>", "(C)", 0.0),
    ("dyck_languages", "> ) }", "\n38: ] ; stack: ( < [ < > ]\n39: > ; stack: ( < [", None, 0.0),
]


@pytest.mark.parametrize("task, target, reply, extracted, score", REAL)
def test_real_replies(task, target, reply, extracted, score):
    from evaluate.task import Doc

    doc = Doc(id=f"{task}/0", target=target,
              meta={"task": task, "multiple_choice": task in bbh.MC_TASKS})
    result = get_task("bbh").score(doc, [{"text": reply}])
    assert (result.extracted, result.score) == (extracted, score)
    oc = get_task("bbh:opencompass").score(doc, [{"text": reply}])
    assert oc.score == score  # the same verdicts under OpenCompass's post-processors


@pytest.mark.parametrize("reply, answer", [
    ("So the answer is (C).", "C"),
    ("the answer is B or A", "B"),
    ("The answer is (D). But the answer is (A).", "D"),  # between 1st and 2nd occurrence
    ("no letters here", "no letters here"),
    ("(A)", "A"),
])
def test_opencompass_mcq(reply, answer):
    assert opencompass_mcq(reply) == answer


@pytest.mark.parametrize("reply, answer", [
    ("So the answer is valid.\nQ", "valid"),
    ("So the answer is 24..", "24."),  # one trailing period only
    ("Yes", "Yes"),
])
def test_opencompass_freeform(reply, answer):
    assert opencompass_freeform(reply) == answer


def test_gold_targets_score_100(data_dir):
    """Targets as completions: 100% for ``bbh``; for ``bbh:opencompass`` every target but two
    ruin_names rows whose targets are option texts instead of letters (a data quirk: the MC
    post-processor keeps the reply's final period on text without capitals)."""
    for name in ("bbh", "bbh:opencompass", "bbh:opencompass-2023"):
        task = get_task(name)
        failed = [d.id for d in task.load(DataDir(data_dir))
                  if task.score(d, [{"text": f" x. So the answer is {d.target}.\n\nQ:"}]).score
                  != 1.0]
        assert failed == ([] if name == "bbh" else ["ruin_names/99", "ruin_names/144"])
    targets = json.loads((Path(data_dir) / "bbh" / "ruin_names.json").read_text())["examples"]
    assert targets[99]["target"] == "dearth, wind, & fire"


def test_macro_mean_over_tasks(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(bbh, "MAX_NEW_TOKENS", 4)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("bbh", "bbh:opencompass", "bbh:opencompass-2023"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=3, progress=False))
        metrics = results["metrics"]
        per_task = {k: v["value"] for k, v in metrics.items() if k.startswith("task:")}
        assert results["samples"] == 3 and 1 <= len(per_task) <= 3
        assert metrics["accuracy"]["value"] == pytest.approx(sum(per_task.values())
                                                             / len(per_task))


def test_reported_rows():
    assert lookup_in("qwen_base", "Qwen/Qwen-7B", "bbh") == 45.0
    assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", "bbh:opencompass") is not None
