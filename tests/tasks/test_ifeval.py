"""ifeval:opencompass-chat: prompt, each instruction checker, strict vs loose, a tiny-model run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from evaluate.chat_templates import ChatRenderer
from evaluate.data import DataDir
from evaluate.errors import MissingDataError
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import ifeval as task

SIX = "The cat sat. The dog ran. A bird sang. It rained. We left. Night fell."
# instruction id -> (kwargs, a reply that follows it, a reply that does not)
CASES = {
    "change_case:capital_word_frequency": ({"capital_frequency": 2, "capital_relation": "at least"},
                                           "THE BIG dog ran", "the big dog ran"),
    "change_case:english_capital": ({}, "THIS IS AN ENGLISH SENTENCE ABOUT THE WEATHER TODAY.",
                                    "This is an English sentence about the weather today."),
    "change_case:english_lowercase": ({}, "this is an english sentence about the weather today.",
                                      "This is an English sentence about the weather today."),
    "combination:repeat_prompt": ({"prompt_to_repeat": "Say hi."}, "Say hi. Hi!", "Hi! Say hi."),
    "combination:two_responses": ({}, "First answer.******Second answer.",
                                  "First answer.******First answer."),
    "detectable_content:number_placeholders": ({"num_placeholders": 2}, "To [name] at [address].",
                                               "To [name] at home."),
    "detectable_content:postscript": ({"postscript_marker": "P.S."}, "Hello.\nP.S. Bye.",
                                      "Hello. Bye."),
    "detectable_format:constrained_response": ({}, "My answer is yes.", "Yes."),
    "detectable_format:json_format": ({}, '```json\n{"a": 1}\n```', "a = 1"),
    "detectable_format:multiple_sections": ({"section_spliter": "Section", "num_sections": 2},
                                            "Section 1\nOne.\nSection 2\nTwo.",
                                            "Section 1\nOne."),
    "detectable_format:number_bullet_lists": ({"num_bullets": 2}, "* one\n* two",
                                              "* one\n* two\n* three"),
    "detectable_format:number_highlighted_sections": ({"num_highlights": 2},
                                                      "*one* and *two*", "*one* only"),
    "detectable_format:title": ({}, "<<My Title>>\nText.", "My Title\nText."),
    "keywords:existence": ({"keywords": ["apple", "pear"]}, "An apple and a pear.", "An apple."),
    "keywords:forbidden_words": ({"forbidden_words": ["bad"]}, "All good.", "Not bad."),
    "keywords:frequency": ({"keyword": "cat", "frequency": 2, "relation": "at least"},
                           "cat and cat", "cat and dog"),
    "keywords:letter_frequency": ({"letter": "z", "let_frequency": 2, "let_relation": "less than"},
                                  "one z", "zzz"),
    "language:response_language": ({"language": "de"},
                                    "Das ist ein kurzer Satz in deutscher Sprache über das Wetter.",
                                    "This is a short sentence in the English language."),
    "length_constraints:nth_paragraph_first_word": (
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First part.\n\nThen the second.", "First part.\n\nAnd the second."),
    "length_constraints:number_paragraphs": ({"num_paragraphs": 2}, "One.\n***\nTwo.",
                                             "One.\n***\nTwo.\n***\nThree."),
    "length_constraints:number_sentences": ({"num_sentences": 5, "relation": "at least"}, SIX,
                                            "Only one sentence."),
    "length_constraints:number_words": ({"num_words": 5, "relation": "less than"},
                                        "Four words are here", "These are six words right here"),
    "punctuation:no_comma": ({}, "No commas here.", "Commas, here."),
    "startend:end_checker": ({"end_phrase": "Any other questions?"}, "Done. Any other questions?",
                             "Any other questions? Done."),
    "startend:quotation": ({}, '"Quoted reply."', "Unquoted reply."),
}


def _strict(instruction: str, kwargs: dict, reply: str) -> bool:
    return task.follows(reply, "the prompt", [instruction], [kwargs])[0][0]


def test_every_instruction_in_the_data_is_covered(data_dir):
    rows = DataDir(data_dir).read_jsonl(task.FILE)
    assert len(rows) == 541
    assert {i for row in rows for i in row["instruction_id_list"]} == set(CASES)


@pytest.mark.parametrize("instruction", sorted(CASES))
def test_checker_accepts_and_rejects(instruction, data_dir):
    task._checkers(DataDir(data_dir))
    kwargs, good, bad = CASES[instruction]
    assert _strict(instruction, kwargs, good)
    assert not _strict(instruction, kwargs, bad)


def test_missing_punkt_is_one_clear_error(tmp_path):
    with pytest.raises(MissingDataError, match="punkt"):
        task._checkers(DataDir(tmp_path))


def test_none_kwargs_are_dropped_and_empty_reply_fails(data_dir):
    task._checkers(DataDir(data_dir))
    kwargs = {"num_words": 5, "relation": "less than", "keyword": None}
    assert _strict("length_constraints:number_words", kwargs, "Four words are here")
    assert task.follows("  ", "p", ["punctuation:no_comma"], [{}]) == ([False], [False])


def test_loose_removes_first_or_last_line_and_asterisks(data_dir):
    task._checkers(DataDir(data_dir))
    reply = "Sure, here it is:\nNo commas in this part.\nHope that helps, bye!"
    assert task.follows(reply, "p", ["punctuation:no_comma"], [{}]) == ([False], [True])
    reply = "**<<Title>>**\nText."
    assert task.follows(reply, "p", ["detectable_format:title"], [{}]) == ([True], [True])
    reply = '"Quoted"\n**'
    assert task.follows(reply, "p", ["startend:quotation"], [{}]) == ([False], [True])
    assert len(task.loose_variants("a\nb\nc")) == 8


def test_score_is_prompt_level_strict(data_dir):
    docs = {d.id: d for d in task.load(DataDir(data_dir))}
    doc = docs["3615"]  # punctuation:no_comma
    sample = ScoreInput(id=doc.id, target=doc.target, reference=doc.reference)
    assert task.score(sample, [{"text": "A riddle<|im_end|>, with a comma"}]).score == 1.0
    assert task.score(sample, [{"text": "A riddle, with a comma"}]).score == 0.0
    facts = task.run_facts([{"extra": {"strict": [True, False], "loose": [True, True]}},
                            {"extra": {"strict": [False], "loose": [False]}}])
    assert facts == {"Inst-level-strict-accuracy": pytest.approx(100 / 3),
                     "Prompt-level-loose-accuracy": 50.0,
                     "Inst-level-loose-accuracy": pytest.approx(200 / 3)}


def test_prompt_is_one_user_turn_with_opencompass_newline(data_dir, qwen2_tokenizer):
    docs = {d.id: d for d in task.load(DataDir(data_dir))}
    # the shared tokenizer's own template adds no default system turn; the "qwen" layout does
    request = ChatRenderer(tokenizer=qwen2_tokenizer).render(task.build(docs["3615"])[0])
    assert request.context == (
        "<|im_start|>user\nWrite a riddle about Camilla that doesn't use commas.\n<|im_end|>\n"
        "<|im_start|>assistant\n")
    renderer = ChatRenderer(tokenizer=qwen2_tokenizer, override="qwen")
    request = renderer.render(task.build(docs["3615"])[0])
    assert request.context == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a "
        "riddle about Camilla that doesn't use commas.\n<|im_end|>\n<|im_start|>assistant\n")
    request = renderer.render(task.build(docs["1593"])[0])
    assert request.context.endswith(
        "user\nCompose a poem all in lowercase letters about my friend Barnet.\n<|im_end|>\n"
        "<|im_start|>assistant\n")
    assert request.max_new_tokens == 1025 and request.greedy
    assert get_task("ifeval:opencompass-chat").chat


def test_tiny_model_run_and_rerun(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    from evaluate.backends.hf import HFBackend

    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    backend.chat_renderer = ChatRenderer(tokenizer=qwen2_tokenizer)
    short = dataclasses.replace(get_task("ifeval:opencompass-chat"), build=lambda doc: [
        dataclasses.replace(task.build(doc)[0], max_new_tokens=8)])
    runs = [run_task(short, backend, DataDir(data_dir), tmp_path / str(i), "tiny",
                     RunOptions(limit=3, progress=False, use_cache=False)) for i in range(2)]
    first, second = runs
    assert first["samples"] == 3
    assert set(first["task_extra"]) >= {"Inst-level-strict-accuracy", "Inst-level-loose-accuracy"}
    assert first["metrics"] == second["metrics"]
    assert json.dumps(first["task_extra"], sort_keys=True) == json.dumps(
        second["task_extra"], sort_keys=True)
