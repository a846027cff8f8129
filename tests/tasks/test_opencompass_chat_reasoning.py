"""OpenCompass chat configs C10, C12, C14 (engine A2): exact turns on real rows, rendering with
the real Qwen template, scoring on crafted replies, end to end on the tiny model."""

from __future__ import annotations

import pytest
from chat_helpers import tiny_runs

from evaluate.chat import Message
from evaluate.chat_templates import ChatRenderer
from evaluate.data import DataDir
from evaluate.registry import get_task

NAMES = ("math:opencompass-chat", "mbpp:opencompass-chat", "bbh:opencompass-chat")
STOPS = ("<|im_end|>", "<|endoftext|>")
# PROTOCOLS_MORE X2b, written out by hand (user turns get A2's extra "\n")
MBPP_SHOT_TURNS = [
    ("You are an expert Python programmer, and here is your task:\nWrite a function to find the "
     "similar elements from the given two tuple lists.\nYour code should pass these tests:\n\n"
     "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
     "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
     "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n\n",
     "```python\ndef similar_elements(test_tup1, test_tup2):\n    res = tuple(set(test_tup1) & "
     "set(test_tup2))\n    return (res)```"),
    ("You are an expert Python programmer, and here is your task:\nWrite a python function to "
     "identify non-prime numbers.\nYour code should pass these tests:\n\n"
     "assert is_not_prime(2) == False\nassert is_not_prime(10) == True\n"
     "assert is_not_prime(35) == True\n\n",
     "```python\nimport math\ndef is_not_prime(n):\n    result = False\n    for i in "
     "range(2,int(math.sqrt(n)) + 1):\n        if n %% i == 0:\n            result = True\n"
     "    return result```"),
    ("You are an expert Python programmer, and here is your task:\nWrite a function to find the "
     "largest integers from a given list of numbers using heap queue algorithm.\nYour code should "
     "pass these tests:\n\nassert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)=="
     "[85, 75, 65]\nassert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]\n"
     "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n\n",
     "```python\nimport heapq as hq\ndef heap_queue_largest(nums,n):\n    largest_nums = "
     "hq.nlargest(n, nums)\n    return largest_nums```"),
]


@pytest.fixture(scope="module")
def docs(data_dir):
    data = DataDir(data_dir)
    return {name: {d.id: d for d in get_task(name).load(data)} for name in NAMES}


def _messages(name, doc, max_new_tokens):
    (request,) = get_task(name).build(doc)
    assert request.context == "" and request.greedy and request.max_new_tokens == max_new_tokens
    assert request.repetition_penalty is None and request.stop == STOPS
    assert all(m.role != "system" for m in request.chat.messages)
    return request.chat.messages


def _reply(text: str) -> list[dict]:
    return [{"text": text, "num_tokens": 1, "context_tokens": 1, "finish": "stop"}]


def test_counts(docs):
    assert [len(docs[n]) for n in NAMES] == [5000, 257, 6511]


def test_math_turn_rendered_with_real_template(docs, qwen2_tokenizer):
    doc = docs["math:opencompass-chat"]["algebra/1"]
    (only,) = _messages("math:opencompass-chat", doc, 1024)
    text = ("How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?\n"
            "Please reason step by step, and put your final answer within \\boxed{}.\n")
    assert only == Message("user", text)
    assert "within \\boxed{}." in only.content and "\\\\boxed" not in only.content
    (request,) = get_task("math:opencompass-chat").build(doc)
    rendered = ChatRenderer(tokenizer=qwen2_tokenizer).render(request).context
    assert rendered == f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    assert doc.target == "2" and doc.meta["type"] == "Algebra"


def test_mbpp_turns(docs, data_dir, qwen2_tokenizer):
    doc = docs["mbpp:opencompass-chat"]["11"]
    messages = _messages("mbpp:opencompass-chat", doc, 512)
    assert [m.role for m in messages] == ["user", "assistant"] * 3 + ["user"]
    assert [(u.content, a.content) for u, a in zip(messages[0::2], messages[1::2],
                                                    strict=False)] == MBPP_SHOT_TURNS
    last = ("You are an expert Python programmer, and here is your task:\nWrite a python function "
            "to remove first and last occurrence of a given character from the string.\nYour code "
            "should pass these tests:\n\nassert remove_Occ(\"hello\",\"l\") == \"heo\"\n"
            "assert remove_Occ(\"abcda\",\"a\") == \"bcd\"\nassert remove_Occ(\"PHP\",\"P\") == "
            "\"H\"\n\n")
    assert messages[-1] == Message("user", last)
    (request,) = get_task("mbpp:opencompass-chat").build(doc)
    rendered = ChatRenderer(tokenizer=qwen2_tokenizer).render(request).context
    assert "return (res)```<|im_end|>\n<|im_start|>user\nYou are" in rendered
    assert rendered.endswith(f"<|im_start|>user\n{last}<|im_end|>\n<|im_start|>assistant\n")
    # same problems and tests as the base-model task
    base = {d.id: d for d in get_task("mbpp:opencompass").load(DataDir(data_dir))}
    assert base["11"].reference == doc.reference


def test_bbh_turn(docs, data_dir, qwen2_tokenizer):
    doc = docs["bbh:opencompass-chat"]["boolean_expressions/0"]
    (only,) = _messages("bbh:opencompass-chat", doc, 512)
    shots = (data_dir / "bbh/cot-prompts/boolean_expressions.txt").read_text().split("\n", 2)[2]
    assert only.role == "user" and only.content == (
        "Follow the given examples and answer the question.\n" + shots
        + "\n\nQ: not ( True ) and ( True ) is\nA: Let's think step by step.\n")
    assert only.content.startswith("Follow the given examples and answer the question.\n"
                                   "Evaluate the result of a random Boolean expression.\n\n"
                                   "Q: not ( ( not not True ) ) is\nA: Let's think step by step.")
    assert doc.target == "False" and not doc.meta["multiple_choice"]


def test_math_scoring(docs):
    task = get_task("math:opencompass-chat")
    doc = docs["math:opencompass-chat"]["algebra/1"]
    right = task.score(doc, _reply("It factors as $(x-2)(x+3)$.\nProblem: so $\\boxed{2}$."
                                   "<|im_end|>\\boxed{3}"))
    assert (right.extracted, right.score) == ("2", 1.0)  # no "Problem" stop in chat
    assert task.score(doc, _reply("The answer is $\\boxed{3}$.")).score == 0.0


def test_mbpp_scoring_runs_in_the_sandbox(docs):
    task = get_task("mbpp:opencompass-chat")
    doc = docs["mbpp:opencompass-chat"]["11"]
    good = ("Here it is:\n```python\ndef remove_Occ(s, ch):\n    i = s.find(ch)\n"
            "    if i >= 0:\n        s = s[:i] + s[i + 1:]\n    j = s.rfind(ch)\n"
            "    if j >= 0:\n        s = s[:j] + s[j + 1:]\n    return s\n```<|im_end|>")
    bad = "```python\ndef remove_Occ(s, ch):\n    return s\n```"
    results = task.score_all([doc, doc], [_reply(good), _reply(bad)])
    assert [r.score for r in results] == [1.0, 0.0]
    assert results[0].extracted.startswith("def remove_Occ(s, ch):")
    assert results[1].extra["status"] == "failed"


def test_bbh_scoring(docs):
    task = get_task("bbh:opencompass-chat")
    free = docs["bbh:opencompass-chat"]["boolean_expressions/0"]
    # "Q:" is no stop here: the answer after it counts (bbh:opencompass would cut there)
    scored = task.score(free, _reply("Q: not True is False. So the answer is False."))
    assert (scored.extracted, scored.score) == ("False", 1.0)
    assert task.score(free, _reply("So the answer is True.")).score == 0.0
    mc = next(d for d in docs["bbh:opencompass-chat"].values() if d.meta["multiple_choice"])
    letter = mc.target.strip("()")
    assert task.score(mc, _reply(f"So the answer is ({letter}).")).score == 1.0


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    runs = tiny_runs(NAMES, tiny_model, qwen2_tokenizer, data_dir, tmp_path, 6)
    assert len(list(runs)) == len(NAMES)


def test_reported_rows():
    from evaluate.reported import lookup_in

    for name, value in zip(NAMES, (22.14, 50.58, 38.12), strict=True):  # the 7B column
        assert lookup_in("opencompass_qwen1.5_chat", "Qwen/Qwen1.5-7B-Chat", name) == value
        assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", name) is None
