"""OpenCompass's postprocessors of 2024-05-28 (A4, B4, X5) on real and adversarial replies."""

from __future__ import annotations

import pytest

from evaluate.scoring.opencompass import (
    FIRST_OPTION_PATTERNS,
    first_capital,
    first_option,
    humaneval_v2,
)


def test_patterns_are_the_pinned_list():
    assert len(FIRST_OPTION_PATTERNS) == 43
    assert FIRST_OPTION_PATTERNS[8] == "故选?\\s*([{options}])只有选?项?\\s?([{options}])\\s?是?对"


@pytest.mark.parametrize(("text", "letter"), [
    ("The answer is B", "B"),
    ("The correct answer is (D)", "D"),
    ("答案是：C", "C"),
    ("故选D。", "D"),  # '选择?' matches "选D"
    ("B or A", "A"),  # the ending " A" pattern comes first
    ("(C) is the answer, not (A).", "C"),  # only the bare [ABCD] pattern matches: first letter
    ("The answer is not A", "A"),
    ("", ""),
    ("none of them", ""),
])
def test_first_option(text, letter):
    assert first_option(text, "ABCD") == letter


def test_first_option_takes_the_whole_match_in_options_order():
    # no earlier pattern matches; '1.\\s?(.*?)$' matches "1.D/B" whole: B precedes D in "ABCD"
    assert first_option("Step 1.D/B", "ABCD") == "B"


def test_first_capital():
    assert first_capital("The answer is B") == "T"  # any upper-case character
    assert first_capital("答案是: B") == "B"
    assert first_capital("b") == "" and first_capital("") == ""


def test_humaneval_v2_fenced_block():
    reply = ("```python\ndef has_close_elements(numbers, threshold):\n    for i in numbers:\n\n"
             "        pass\n    return False\n```\nExplanation: ...")
    assert humaneval_v2(reply) == "    for i in numbers:\n        pass\n    return False"


def test_humaneval_v2_imports_dedent_and_literals():
    reply = ("from typing import List\n\ndef has_close_elements(a, b):\n    return True\n\n"
             "print(has_close_elements(1, 2))")
    assert humaneval_v2(reply) == "    return True"  # cut where the indentation drops
    # the first "def" may be inside a word (defaultdict): the cut lands after that line
    assert humaneval_v2("import collections\nd = collections.defaultdict(int)\n"
                        "def f(x):\n    return 1") == "    return 1"
    assert humaneval_v2('"    return 1"') == "    return 1"  # a quoted string is decoded
    assert humaneval_v2("return sorted(x)\nreturn 2") == "    return sorted(x)\n    return 2"
    assert humaneval_v2("   x = 1\n        y = 2") == "    x = 1\n        y = 2"
    assert humaneval_v2("") == "    "
