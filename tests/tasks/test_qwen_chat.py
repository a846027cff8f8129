"""Qwen's chat-script tasks (D2-D5): exact conversations on real rows, rendering, scoring, e2e."""

from __future__ import annotations

import pytest
from chat_helpers import tiny_runs

from evaluate.chat import Message
from evaluate.chat_templates import ChatRenderer
from evaluate.data import DataDir
from evaluate.registry import get_task

SYSTEM = "You are a helpful assistant."
QWEN_NAMES = ("mmlu:qwen-chat", "ceval:qwen-chat", "gsm8k:qwen-chat", "gsm8k:qwen-chat-4shot",
              "humaneval:qwen-chat")


@pytest.fixture(scope="module")
def docs(data_dir):
    data = DataDir(data_dir)
    return {name: {d.id: d for d in get_task(name).load(data)} for name in QWEN_NAMES}


def _only_request(name, doc):
    (request,) = get_task(name).build(doc)
    assert request.context == "" and request.repetition_penalty == 1.0
    assert request.max_new_tokens == 512 and request.greedy
    assert request.stop[:2] == ("<|im_end|>", "<|im_start|>")
    return request


def _user(name, doc) -> str:
    chat = _only_request(name, doc).chat
    assert chat.prefill == "" and chat.messages[0] == Message("system", SYSTEM)
    assert len(chat.messages) == 2 and chat.messages[1].role == "user"
    return chat.messages[1].content


def test_counts(docs):
    assert len(docs["mmlu:qwen-chat"]) == 14042
    assert len(docs["ceval:qwen-chat"]) == 1346
    assert len(docs["gsm8k:qwen-chat"]) == len(docs["gsm8k:qwen-chat-4shot"]) == 1319
    assert len(docs["humaneval:qwen-chat"]) == 164


def test_mmlu_query(docs):
    doc = docs["mmlu:qwen-chat"]["high_school_geography/0"]
    assert _user("mmlu:qwen-chat", doc) == (
        "The following is a multiple-choice question. Please choose the most suitable one among "
        "A, B, C and D as the answer to this question.\n\n"
        "The main factor preventing subsistence economies from advancing economically is the "
        "lack of\nA. a currency.\nB. a well-connected transportation infrastructure.\n"
        "C. government activity.\nD. a banking service.\n")
    assert doc.target == "B" and doc.meta["choices"][1].startswith("a well-connected")


def test_ceval_query(docs):
    doc = docs["ceval:qwen-chat"]["computer_network/1"]
    assert _user("ceval:qwen-chat", doc) == (
        "在802.3标准中，发送帧之前需要____\n\n"
        "A. 等待冲突\nB. 等待令牌\nC. 监听介质\nD. 接受一个帧\n")
    assert doc.meta["question"] == "在802.3标准中，发送帧之前需要____" and doc.target == "C"


def test_gsm8k_queries(docs):
    question = ("Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and "
                "bakes muffins for her friends every day with four. She sells the remainder at the "
                "farmers' market daily for $2 per fresh duck egg. How much in dollars does she "
                "make every day at the farmers' market?")
    assert _user("gsm8k:qwen-chat", docs["gsm8k:qwen-chat"]["0"]) == question
    fewshot = _user("gsm8k:qwen-chat-4shot", docs["gsm8k:qwen-chat-4shot"]["0"])
    assert fewshot.startswith(
        "Question: Angelo and Melanie want to plan how many hours over the next week they should "
        "study together for their test next week.")
    assert ("week if they take a 10-minute break every hour, include 3 10-minute snack breaks "
            "each day, and 30 minutes for lunch each day?\nLet's think step by step\nAngelo and "
            "Melanie think they should dedicate") in fewshot
    assert "The answer is 4\n\nQuestion: Mark's basketball team" in fewshot
    assert "The answer is 201\n\nQuestion: Bella has" in fewshot
    assert "The answer is 140\n\nQuestion: A group of 4 fruit baskets" in fewshot
    assert fewshot.endswith(
        "The answer is 146\n\nQuestion: " + question + "\nLet's think step by step")
    assert fewshot.count("\nLet's think step by step") == 5


def test_humaneval_query(docs):
    doc = docs["humaneval:qwen-chat"]["HumanEval/0"]
    assert _user("humaneval:qwen-chat", doc) == (
        "Write a Python function `has_close_elements(numbers: List[float], threshold: float) -> "
        "bool` to solve the following problem:\n"
        "Check if in given list of numbers, are any two numbers closer to each other than\n"
        "given threshold.\n>>> has_close_elements([1.0, 2.0, 3.0], 0.5)\nFalse\n"
        ">>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\nTrue\n\n"
        + doc.target["prompt"])
    for other in docs["humaneval:qwen-chat"].values():  # every prompt has a signature, docstring
        _user("humaneval:qwen-chat", other)


def test_rendered_with_qwen_layout_and_real_template(docs, qwen2_tokenizer):
    doc = docs["ceval:qwen-chat"]["computer_network/1"]
    (request,) = get_task("ceval:qwen-chat").build(doc)
    expected = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                "在802.3标准中，发送帧之前需要____\n\nA. 等待冲突\nB. 等待令牌\nC. 监听介质\n"
                "D. 接受一个帧\n<|im_end|>\n<|im_start|>assistant\n")
    assert ChatRenderer(override="qwen").render(request).context == expected
    assert ChatRenderer(tokenizer=qwen2_tokenizer).render(request).context == expected


def _reply(text: str) -> list[dict]:
    return [{"text": text, "num_tokens": 1, "context_tokens": 1, "finish": "stop"}]


def test_scoring_with_replies(docs):
    mmlu = get_task("mmlu:qwen-chat")
    doc = docs["mmlu:qwen-chat"]["high_school_geography/0"]
    scored = mmlu.score(doc, _reply("  The answer is B.<|im_end|>ignored"))
    assert (scored.extracted, scored.score, scored.extra["rule"]) == ("B", 1.0, "regex1")
    assert scored.extra["reply"] == "The answer is B."
    assert mmlu.score(doc, _reply("The answer is not A, it is B.")).extracted == "A"  # quirk
    ceval = get_task("ceval:qwen-chat")
    doc = docs["ceval:qwen-chat"]["computer_network/1"]
    assert ceval.score(doc, _reply("在802.3标准中，发送帧之前需要监听介质。")).score == 1.0
    gsm = get_task("gsm8k:qwen-chat")
    doc = docs["gsm8k:qwen-chat"]["0"]
    scored = gsm.score(doc, _reply("She makes 9 * 2 = $18.00 every day."))
    assert (scored.extracted, scored.score, scored.extra["gold"]) == ("18.00", 1.0, "18")
    assert gsm.score(doc, _reply("")).score == 0.0


def test_humaneval_scoring_runs_in_the_sandbox(docs):
    task = get_task("humaneval:qwen-chat")
    doc = docs["humaneval:qwen-chat"]["HumanEval/0"]
    good = "```python\n" + doc.target["prompt"] + doc.data["canonical_solution"] + "```"
    bad = "```python\ndef has_close_elements(numbers, threshold):\n    return None\n```"
    results = task.score_all([doc, doc], [_reply(good), _reply(bad)])
    assert [r.score for r in results] == [1.0, 0.0]
    assert results[1].extracted == "    return None" and results[1].extra["status"] == "failed"


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    runs = tiny_runs(QWEN_NAMES, tiny_model, qwen2_tokenizer, data_dir, tmp_path, 6)
    for _name, _run_dir, samples in runs:
        for sample in samples:
            context = sample["requests"][0]["context"]
            assert context.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
            assert context.endswith("<|im_end|>\n<|im_start|>assistant\n")
            assert sample["responses"][0]["num_tokens"] <= 6
            assert "reply" in sample["extra"]


def test_reported_columns():
    from evaluate.reported import lookup_in

    assert lookup_in("qwen_chat", "Qwen/Qwen-7B-Chat", "humaneval:qwen-chat") == 37.2
    assert lookup_in("qwen_chat", "Qwen/Qwen-14B-Chat", "ceval:qwen-chat") == 69.8  # 0-shot
    assert lookup_in("qwen_chat", "Qwen/Qwen-14B-Chat", "gsm8k:qwen-chat") == 60.1
    assert lookup_in("qwen_chat", "Qwen/Qwen-14B-Chat", "gsm8k:qwen-chat-4shot") is None
