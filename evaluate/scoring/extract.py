"""Answer extraction from generated text: the last number, read as each protocol reads it.

- :func:`last_digit_run`: the last run of digits, read as a Python literal (Qwen's GSM8K script
  ``eval``-s it, so ``08`` is no answer, ``-5`` reads as 5 and ``3.75`` as 75).
- :func:`last_number` / :func:`parse_number`: the last number written with an optional sign,
  thousands separators, decimals or as a fraction (``-1,234.5``, ``3/4``), exactly, as a
  :class:`fractions.Fraction`.
"""

from __future__ import annotations

import re
from fractions import Fraction

# A number: an optional sign (a minus right after a letter, digit or bracket is subtraction, not
# a sign), then a fraction of plain integers, thousands-grouped digits, or plain digits, with
# optional decimals; never starting inside another number.
NUMBER_RE = re.compile(
    r"(?:(?<![\w)\]])(?P<sign>-))?(?<![\d.])"
    r"(?P<body>\d+/\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)


def python_int_literal(digits: str) -> int | None:
    """``eval`` of a run of digits as Python 3 reads it: ``08`` is a syntax error (None)."""
    if len(digits) > 1 and digits[0] == "0" and digits.strip("0"):
        return None
    return int(digits)


def last_digit_run(text: str) -> int | None:
    """The last run of digits as a Python literal, or None (Qwen's ``extract_answer``)."""
    runs = re.findall(r"\d+", text)
    return python_int_literal(runs[-1]) if runs else None


def parse_number(text: str) -> Fraction | None:
    """A number written with sign, thousands separators, decimals or as a fraction; else None."""
    match = NUMBER_RE.fullmatch(text.strip().replace("$", ""))
    if match is None:
        return None
    return _to_fraction(match)


def _to_fraction(match: re.Match[str]) -> Fraction | None:
    body = match.group("body").replace(",", "")
    try:
        value = Fraction(body)
    except ZeroDivisionError:
        return None
    return -value if match.group("sign") else value


def last_number(text: str) -> Fraction | None:
    """The last number in ``text`` (see :data:`NUMBER_RE`), exactly; None if none."""
    found = None
    for match in NUMBER_RE.finditer(text):
        value = _to_fraction(match)
        if value is not None:
            found = value
    return found
