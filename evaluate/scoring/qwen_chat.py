"""The answer extraction of Qwen's chat scripts (``QwenLM/Qwen`` ``eval/evaluate_chat_*.py``).

PROTOCOLS_MORE.md D2-D5, as of QwenLM/Qwen@2df8e8ac (scripts last changed in e8e15962,
2023-11-30). Each function reproduces the script's steps, quirks included:

- :func:`mmlu_choice` (D2): every choice text (``rstrip(".")``) in the reply is replaced,
  case-insensitively and longest first, by its letter; then four regexes, first hit wins; then the
  choice text closest to the reply by ``thefuzz.process.extractOne`` (its default scorer, WRatio).
  An empty choice text (after ``rstrip``) inserts its letter between every character, as
  ``re.sub`` with an empty pattern does in the script.
- :func:`ceval_choice` (D3): the question's last clause is replaced by ``"答案是"`` and its tail
  (after the blank) removed, choice texts (``rstrip("。")``) replaced by letters with plain
  ``str.replace``; then the Chinese regex cascade and the same fuzzy fallback.
- :func:`gsm8k_number` / :func:`gsm8k_equal` (D4): the last number of the text (signs, thousands
  separators and decimals; commas and ``+`` dropped), compared with ``math.isclose(abs_tol=1e-4)``
  after ``eval`` (here :func:`ast.literal_eval`, which reads every string the regex can give the
  same way, and fails on the same ones, e.g. ``007``).
- :func:`humaneval_body` (D5): the body of the function from the reply (three regexes), else the
  whole reply indented by four spaces.

Each choice extractor returns ``(letter, rule)``: the rule that decided (``regex1``..``regex4`` or
``fuzzy``), recorded per sample.
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from collections.abc import Sequence

LETTERS = ("A", "B", "C", "D")

MMLU_PATTERNS = (
    # answer is A | choice is A | choose A
    r"(?:(?:[Cc]hoose)|(?:(?:[Aa]nswer|[Cc]hoice)(?![^ABCD]{0,20}?(?:n't|not))[^ABCD]{0,10}?\b"
    r"(?:|is|:|be))\b)[^ABCD]{0,20}?\b(A|B|C|D)\b",
    # A is correct | A is right
    r"\b(A|B|C|D)\b(?![^ABCD]{0,8}?(?:n't|not)[^ABCD]{0,5}?(?:correct|right))[^ABCD]{0,10}?\b"
    r"(?:correct|right)\b",
    # straight answer: A
    r"^(A|B|C|D)(?:\.|,|:|$)",
    # the first letter standing alone
    r"(?<![a-zA-Z])(A|B|C|D)(?![a-zA-Z=])",
)

CEVAL_PATTERNS = (
    # 答案是A | 选项是A | 应该选A选项
    r"(?:(?:选|选择|选定)[：:]?\s*|(?:(?:答案|选项)(?![^ABCD]{0,10}?(?:不|非)[^ABCD]{0,10}?"
    r"(?:是|选|为|：|:|】))[^ABCD]{0,10}?(?:是|选|为|：|:|】))[^ABCD]{0,10}?)(A|B|C|D)(?:选项)?"
    r"(?:\)|。|\.|，|,|．|、|A|B|C|D|$|：|:|\)|）)",
    # A选项正确 | A选项符合题意
    r"(A|B|C|D)(?:选?项)?(?![^ABCD]{0,4}?(?:不|非)[^ABCD]{0,4}?(?:正确|对[的，。：]|符合))"
    r"[^ABCD]{0,4}?(?:正确|对[的，。：]|符合)",
    # 直接输出 A
    r"^[\(（]?(A|B|C|D)(?:。|\)|）|\.|，|,|．|：|:|$)",
    # the first letter standing alone
    r"(?<![a-zA-Z])(A|B|C|D)(?![a-zA-Z=])",
)

GSM8K_NUMBER = re.compile(
    r"([+-])?(?=([0-9]|\.[0-9]))(0|([1-9](\d{0,2}(,\d{3})*)|\d*))?(\.\d*)?(?=\D|$)"
)


def fuzzy_choice(reply: str, choices: Sequence[str]) -> str:
    """The letter of the choice ``thefuzz.process.extractOne`` finds closest to ``reply``."""
    from thefuzz import process

    best = process.extractOne(reply, list(choices))[0]
    return LETTERS[list(choices).index(best)]


def _cascade(text: str, patterns: Sequence[str], choices: Sequence[str]) -> tuple[str, str]:
    for number, pattern in enumerate(patterns, 1):
        match = re.search(pattern, text)
        if match is not None:
            return match.group(1), f"regex{number}"
    return fuzzy_choice(text, choices), "fuzzy"


def _longest_first(choices: Sequence[str]) -> list[tuple[str, str]]:
    """(letter, text) pairs sorted by text length, longest first; ties keep A..D order."""
    return sorted(zip(LETTERS, choices, strict=True), key=lambda pair: len(pair[1]), reverse=True)


def mmlu_replace_choices(reply: str, choices: Sequence[str]) -> str:
    """D2's ``process_before_extraction``: choice texts become their letters."""
    for letter, text in _longest_first(choices):
        reply = re.compile(re.escape(text.rstrip(".")), re.IGNORECASE).sub(letter, reply)
    return reply


def mmlu_choice(reply: str, choices: Sequence[str]) -> tuple[str, str]:
    """D2's ``extract_answer``: ``(letter, rule)``."""
    return _cascade(mmlu_replace_choices(reply, choices), MMLU_PATTERNS, choices)


def ceval_replace(reply: str, question: str, choices: Sequence[str]) -> str:
    """D3's ``process_before_extraction``: the question's clause and the choice texts replaced."""
    parts = question.rstrip("。").split("。")[-1].split("_")
    if len(parts[0].strip()) > 4:
        reply = reply.replace(parts[0], "答案是")
    if len(parts[-1].strip()) > 4:
        reply = reply.replace(parts[-1], "")
    for letter, text in _longest_first(choices):
        reply = reply.replace(text.rstrip("。"), letter)
    return reply


def ceval_choice(reply: str, question: str, choices: Sequence[str]) -> tuple[str, str]:
    """D3's ``extract_answer``: ``(letter, rule)``."""
    return _cascade(ceval_replace(reply, question, choices), CEVAL_PATTERNS, choices)


def gsm8k_number(text: str) -> str | None:
    """D4's ``extract_answer``: the last number, without ``,`` and ``+``; None if there is none."""
    matches = list(GSM8K_NUMBER.finditer(text))
    if not matches:
        return None
    return matches[-1].group().replace(",", "").replace("+", "").strip()


def _number(text: str) -> float | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def gsm8k_equal(gold: str, pred: str | None) -> bool:
    """D4's ``number_equal``: both read as Python numbers, within 1e-4 absolute."""
    if pred is None:
        return False
    a, b = _number(gold), _number(pred)
    if a is None or b is None:
        return False  # the script prints "cannot compare" and counts it wrong
    try:
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-4)
    except OverflowError:
        return False


def humaneval_body(reply: str, entry_point: str) -> str:
    """D5's ``extract_code``: the function body (group 1 of the first matching pattern)."""
    name = re.escape(entry_point)
    patterns = (
        rf"```(?:[Pp]ython\n)?.*?def\s+{name}.*?:\n(.*?)\n```",
        rf"def\s+{name}.*?:\n(.*?)(?:\n(?!\n*(?:  |\t))|$)",
        r"def.*?:\n(.*?)(?:\n(?!\n*(?:  |\t))|$)",
    )
    for pattern in patterns:
        match = re.search(pattern, reply, re.DOTALL)
        if match is not None:
            return match.group(1)
    return textwrap.indent(reply, " " * 4)
