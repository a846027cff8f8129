"""gaokao/triviaqa/nq:opencompass-chat (C4-C6, A2): prompts rendered with Qwen1.5-Chat's template
on real rows, scoring on crafted replies, a tiny-model run of each."""

from __future__ import annotations

import pytest
from chat_helpers import docs_by_id, qwen15_renderer, tiny_runs

from evaluate.registry import get_task
from evaluate.task import ScoreInput

NAMES = ("gaokao:opencompass-chat", "triviaqa:opencompass-chat", "nq:opencompass-chat")
# Qwen1.5-Chat's tokenizer_config.json template (default system prompt, no period)
SYSTEM = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
ENGLISH = ("请你做一道英语选择题\n请你一步一步思考并将思考过程写在【解析】和<eoe>之间。"
           "你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n"
           "例如：【答案】: A <eoa>\n完整的题目回答的格式如下：\n【解析】 ... <eoe>\n"
           "【答案】 ... <eoa>\n请你严格按照上述格式作答。\n题目如下：")


@pytest.fixture(scope="module")
def docs(data_dir):
    return docs_by_id(NAMES, data_dir)


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    return qwen15_renderer(tmp_path_factory.mktemp("template"))


def _rendered(renderer, name, doc):
    (request,) = get_task(name).build(doc)
    assert request.context == "" and request.greedy and request.repetition_penalty is None
    return request, renderer.render(request).context


def test_counts(docs):
    assert [len(docs[n]) for n in NAMES] == [1781, 7993, 3610]


def test_gaokao_one_user_turn(docs, renderer):
    doc = docs["gaokao:opencompass-chat"]["2010-2013_English_MCQs/0"]
    request, text = _rendered(renderer, "gaokao:opencompass-chat", doc)
    assert request.max_new_tokens == 1024 and request.stop == ("<|im_end|>", "<|endoftext|>")
    assert text == (SYSTEM + "<|im_start|>user\n" + ENGLISH + "21. --- Have  you finished  "
                    "reading  Jane  Eyre ? \n--- No, I        my homework  all day yesterday . "
                    "\nA. was doing  B. would  do C. had done  D. do\n"
                    "\n<|im_end|>\n<|im_start|>assistant\n")
    assert doc.target == ["A"] and doc.meta == {"subset": "2010-2013_English_MCQs",
                                                "type": "single_choice"}


def test_triviaqa_turns(docs, renderer):
    request, text = _rendered(renderer, "triviaqa:opencompass-chat",
                              docs["triviaqa:opencompass-chat"]["0"])
    assert request.max_new_tokens == 50
    assert request.stop == ("<|im_end|>", "<|endoftext|>", "Q:", "\n")
    assert text == (SYSTEM + "<|im_start|>user\nQ: Which American-born Sinclair won the Nobel "
                    "Prize for Literature in 1930?\n<|im_end|>\n<|im_start|>assistant\n"
                    "A: Sinclair Lewis.\n<|im_end|>\n<|im_start|>user\nQ: Which Lloyd Webber "
                    "musical premiered in the US on 10th December 1993?\n<|im_end|>\n"
                    "<|im_start|>assistant\n")


def test_nq_turns_add_a_question_mark(docs, renderer):
    doc = docs["nq:opencompass-chat"]["0"]
    _, text = _rendered(renderer, "nq:opencompass-chat", doc)
    assert text == (SYSTEM + "<|im_start|>user\nQ: where did they film hot tub time machine?\n"
                    "<|im_end|>\n<|im_start|>assistant\nA: Fernie Alpine Resort.\n<|im_end|>\n"
                    "<|im_start|>user\nQ: when was the last time anyone was on the moon?\n"
                    "<|im_end|>\n<|im_start|>assistant\n")
    assert doc.target == ["14 December 1972 UTC", "December 1972"]


def _reply(text: str) -> list[dict]:
    return [{"text": text, "num_tokens": 1, "context_tokens": 1, "finish": "stop"}]


@pytest.mark.parametrize(("name", "text", "aliases", "right", "extracted"), [
    ("triviaqa:opencompass-chat", "A: Sunset Boulevard.", ["Sunset Boulevard"], 1.0,
     "sunset boulevard"),
    ("triviaqa:opencompass-chat", "Paris<|im_end|>London", ["London"], 0.0, "paris"),
    ("triviaqa:opencompass-chat", "Tokyo\nQ: next", ["tokyo"], 1.0, "tokyo"),
    ("triviaqa:opencompass-chat", "The answer is the Beatles", ["Beatles"], 1.0, "beatles"),
    ("nq:opencompass-chat", "A: December 1972, the moon",
     ["14 December 1972 UTC", "December 1972"], 1.0, "december 1972"),
    ("nq:opencompass-chat", "A: Tokyo", ["Tokyo"], 1.0, "tokyo"),  # "a" dropped, a substring
    ("nq:opencompass-chat", "A: 1972", ["December 1972"], 0.0, "1972"),
])
def test_open_qa_scoring(name, text, aliases, right, extracted):
    result = get_task(name).score(ScoreInput(id="0", target=aliases), _reply(text))
    assert (result.score, result.extracted) == (right, extracted)


@pytest.mark.parametrize(("kind", "text", "answer", "score", "extracted"), [
    ("single_choice", "【解析】选A不对<eoe>\n【答案】 C <eoa><|im_end|>B", ["C"], 1.0, ["C"]),
    ("multi_choice", "【解析】 ... 【答案】 B <eoa>", ["BC"], 0.5, ["B"]),
    ("multi_question_choice", "（1）【答案】 A <eoa>\n（2）【答案】：B <eoa>", ["A", "C"], 0.5,
     ["A", "B"]),
])
def test_gaokao_scoring(kind, text, answer, score, extracted):
    result = get_task("gaokao:opencompass-chat").score(
        ScoreInput(id="x", target=answer, meta={"type": kind}), _reply(text))
    assert (result.score, result.extracted) == (score, extracted)
    assert result.weight == len(answer) * (2 if kind == "multi_choice" else 1)


def test_gaokao_weights_are_the_base_tasks():
    chat, base = get_task("gaokao:opencompass-chat"), get_task("gaokao:opencompass")
    assert chat.aggregation == base.aggregation and chat.subjects == base.subjects


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    runs = tiny_runs(NAMES, tiny_model, qwen2_tokenizer, data_dir, tmp_path, 5)
    for _name, _run_dir, samples in runs:
        for sample in samples:
            assert sample["requests"][0]["context"].endswith(
                "\n<|im_end|>\n<|im_start|>assistant\n")
            assert "reply" in sample["extra"]


def test_reported_rows_of_the_chat_table():
    from evaluate.reported import lookup_in, missing_rows

    pairs = {"gaokao:opencompass-chat": 70.55, "triviaqa:opencompass-chat": 53.65,
             "nq:opencompass-chat": 16.87, "race:opencompass-chat": 83.28,
             "winogrande:opencompass-chat": 65.27, "hellaswag:opencompass-chat": 71.58,
             "gpqa:opencompass-chat": 31.82}
    for task, value in pairs.items():
        assert lookup_in("opencompass_qwen1.5_chat", "Qwen/Qwen1.5-7B-Chat", task) == value
        assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", task) is None
    chat = ["mmlu:opencompass-chat", "cmmlu:opencompass-chat", "ceval:opencompass-chat", *pairs]
    rows = missing_rows("opencompass_qwen1.5_chat", chat)
    assert not any(r.startswith(("GaokaoBench", "race-high", "GPQA_diamond", "nq ")) for r in rows)
    # a row that cannot be reproduced is named with its reason even when a task stands beside it
    assert any(r.startswith("ceval-test (C-Eval's test answers are private") for r in rows)
    assert "bbh (no run)" in rows
