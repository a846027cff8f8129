"""Qwen's chat-script extraction cascades (D2-D5) on real rows and adversarial replies."""

from __future__ import annotations

import pytest

from evaluate.scoring.qwen_chat import (
    ceval_choice,
    ceval_replace,
    gsm8k_equal,
    gsm8k_number,
    humaneval_body,
    mmlu_choice,
    mmlu_replace_choices,
)

# mmlu/test/high_school_geography_test.csv row 0 (answer B)
GEO = ["a currency.", "a well-connected transportation infrastructure.", "government activity.",
       "a banking service."]
# ceval/val/computer_network_val.csv rows 1 (answer C) and 0 (answer C)
NET_Q = "在802.3标准中，发送帧之前需要____"
NET = ["等待冲突", "等待令牌", "监听介质", "接受一个帧"]
DIGITS = ["1", "2", "3", "4"]


@pytest.mark.parametrize(("reply", "letter", "rule"), [
    ("The answer is B.", "B", "regex1"),
    ("I would choose D", "D", "regex1"),
    # restating a choice's text: replaced by its letter (case-insensitive, trailing "." dropped)
    ("The lack of A well-connected transportation infrastructure holds them back.", "B",
     "regex4"),
    # a negated "answer" is skipped by regex 1; the first lone letter then wins: a wrong "A"
    ("The answer is not A, it is C.", "A", "regex4"),
    ("A is not correct; D is correct.", "D", "regex2"),
    ("C. because of the roads", "C", "regex3"),
    ("", "A", "fuzzy"),  # nothing to match: extractOne scores every choice 0 and keeps the first
    ("it is about the transportation infrastructure", "B", "fuzzy"),
])
def test_mmlu_cascade(reply, letter, rule):
    assert mmlu_choice(reply, GEO) == (letter, rule)


def test_mmlu_replacement_is_longest_first_and_an_empty_choice_floods():
    assert mmlu_replace_choices("a banking service, not A CURRENCY", GEO) == "D, not A"
    # an empty choice text is re.sub with an empty pattern: its letter between every character
    assert mmlu_replace_choices("xy", ["", "b", "c", "d"]) == "AxAyA"


@pytest.mark.parametrize(("reply", "letter", "rule"), [
    # restating the question and the choice: "答案是" + letter
    ("在802.3标准中，发送帧之前需要监听介质。", "C", "regex1"),
    ("答案：C", "C", "regex1"),  # Chinese colon
    ("答案不是A，应该选C", "C", "regex1"),  # the negated 答案 is skipped, 选C is taken
    ("A选项不正确，C选项正确", "C", "regex2"),
    ("（B）", "B", "regex3"),
    ("", "A", "fuzzy"),
    ("我认为应该是监听", "C", "fuzzy"),
])
def test_ceval_cascade(reply, letter, rule):
    assert ceval_choice(reply, NET_Q, NET) == (letter, rule)


def test_ceval_question_and_digit_choices_are_replaced():
    assert ceval_replace("在802.3标准中，发送帧之前需要监听介质", NET_Q, NET) == "答案是C"
    # digit choices (computer_network row 0): every digit of the reply becomes a letter
    assert ceval_replace("要添加3个0", "求问传送时要添加几个0____", DIGITS) == "要添加C个0"
    assert ceval_choice("共有12个", "求问____", DIGITS)[1] == "fuzzy"  # "AB": no lone letter


@pytest.mark.parametrize(("text", "number"), [
    ("The answer is 18.", "18."),
    ("1,234.5 then -3", "-3"),
    ("+5 apples", "5"),
    ("$1,000,000 in total", "1000000"),
    ("12,34", "34"),
    ("no digits", None),
    ("", None),
    ("Janet sells 9 eggs.\n#### 18", "18"),
])
def test_gsm8k_last_number(text, number):
    assert gsm8k_number(text) == number


def test_gsm8k_comparison():
    assert gsm8k_equal("18", "18.")  # eval("18.") == 18.0
    assert gsm8k_equal("0.5", ".50009") and not gsm8k_equal("0.5", ".5002")  # abs_tol 1e-4
    assert not gsm8k_equal("7", "007")  # eval("007") is a SyntaxError: counted wrong
    assert not gsm8k_equal("7", None)
    assert gsm8k_equal("-3", "-3")


ENTRY = "has_close_elements"


def test_humaneval_body_from_fenced_block():
    reply = ("Here it is:\n```python\nfrom typing import List\n\n"
             "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
             "    for i in range(len(numbers)):\n        return True\n    return False\n```\n")
    assert humaneval_body(reply, ENTRY) == (
        "    for i in range(len(numbers)):\n        return True\n    return False")


def test_humaneval_body_without_fence_and_plain_reply():
    reply = "def has_close_elements(numbers, threshold):\n    return False\nprint(1)"
    assert humaneval_body(reply, ENTRY) == "    return False"
    assert humaneval_body("def helper(x):\n    return x\n", ENTRY) == "    return x"
    assert humaneval_body("return False", ENTRY) == "    return False"
    assert humaneval_body("", ENTRY) == ""
