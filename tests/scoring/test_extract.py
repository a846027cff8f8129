"""Answer extraction: the last digit run as Python reads it, and exact numbers."""

from __future__ import annotations

from fractions import Fraction

from evaluate.scoring.extract import last_digit_run, last_number, parse_number, python_int_literal


def test_last_digit_run_reads_like_python_eval():
    assert last_digit_run("20,800 apples") == 800
    assert last_digit_run("it is -5") == 5
    assert last_digit_run("3.75") == 75
    assert last_digit_run("answer 08") is None  # a syntax error for eval
    assert last_digit_run("no digits") is None
    assert python_int_literal("000") == 0


def test_parse_and_last_number_are_exact():
    assert parse_number("-1,234.5") == Fraction(-2469, 2)
    assert parse_number("$1/3") == Fraction(1, 3)
    assert parse_number("abc") is None
    assert last_number("1/0 and then") is None
    assert last_number("10 - 15 = -5, then 7") == 7
    assert last_number("10-5") == 5  # subtraction, not a sign
