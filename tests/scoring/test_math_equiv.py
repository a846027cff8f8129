"""MATH answer rules: \\boxed extraction, Hendrycks / Minerva / OpenCompass normalisation and
equivalence, and the timed SymPy judge."""

from __future__ import annotations

import pytest

from evaluate.scoring import math_opencompass as oc
from evaluate.scoring.math_equiv import (
    SympyJudge,
    boxed_answer,
    hendrycks_equiv,
    hendrycks_strip,
    last_boxed_only_string,
    minerva_answer,
    minerva_normalize,
    remove_boxed,
    sympy_outcome,
)

# A reply in the shape a base model gives after the 4-shot Minerva prompt.
REPLY = (" We have $x^2-5x+6=(x-2)(x-3)$, so the roots are $2$ and $3$, and their sum is "
         "$\\boxed{5}$.\nFinal Answer: The final answer is $5$. I hope it is correct.\n\n")


# ---- \boxed --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, boxed", [
    ("so $\\boxed{\\frac{\\sqrt{3}}{2}}$.", "\\frac{\\sqrt{3}}{2}"),  # nested braces
    ("first $\\boxed{1}$ then $\\boxed{\\{1,2\\}}$", "\\{1,2\\}"),  # the last \boxed wins
    ("$\\fbox{7}$", None),  # \fbox is found but is not \boxed{...}
    ("$\\boxed{3", None),  # unbalanced
    ("no box", None),
])
def test_boxed_answer(text, boxed):
    assert boxed_answer(text) == boxed


def test_minerva_boxed_space_form():
    text = "so it is $\\boxed 5$."
    assert remove_boxed(last_boxed_only_string(text, boxed_space=True), boxed_space=True) == "5"
    assert boxed_answer(text) is None  # OpenCompass's reference reading has no such form


# ---- Hendrycks string equivalence (OpenCompass 2023 MATHEvaluator) ------------------------------
@pytest.mark.parametrize("pred, ref", [
    ("\\dfrac{1}{2}", "\\frac12"),  # \dfrac vs \frac and shorthand
    ("0.5", "\\frac{1}{2}"),
    ("3/4", "\\frac{3}{4}"),
    ("10\\text{ cm}", "10"),  # a unit after "\text{ "
    ("50\\%", "50"),  # percentages
    ("x = 5", "5"),  # a short left-hand side
    ("[2, 5)", "[2,5)"),  # intervals, spaces
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),  # matrix
    ("90^\\circ", "90"),
    ("\\sqrt3", "\\sqrt{3}"),
])
def test_hendrycks_equal(pred, ref):
    assert hendrycks_equiv(pred, ref)


@pytest.mark.parametrize("pred, ref", [("1/3", "0.33"), ("(1,2)", "(2,1)"), ("5", None)])
def test_hendrycks_different(pred, ref):
    assert not hendrycks_equiv(pred, ref)


def test_hendrycks_failure_falls_back_to_raw_equality():
    with pytest.raises(ValueError):
        hendrycks_strip("x/2")  # int("x") raises, as in the original
    assert hendrycks_equiv("x/2", "x/2") and not hendrycks_equiv("x/2", "\\frac{x}{2}")
    with pytest.raises(ValueError):
        hendrycks_strip("1\\text{ a}\\text{ b}")  # two "\text{ " units: the original asserts
    assert hendrycks_equiv(None, None)


# ---- OpenCompass math_postprocess v1 (Sept 2023) and its quirks ----------------------------------
def test_postprocess_v1_reads_the_final_answer_line():
    assert oc.postprocess_v1(REPLY) == "5"
    assert oc.postprocess_v1("The sum is 5") == "Thesumis5"  # no "final answer": first piece


@pytest.mark.parametrize("answer, read", [
    ("2.5", "2"),  # the split on "." cuts decimals
    ("\\dfrac{3}{7}", "\\df\\frac{3}{7}"),  # "rac" without "\frac" becomes "\frac"
    ("(-\\infty,0)", "(-\\iny,0)"),  # "ft" is a removed unit word
    ("7,9,12", "7912"),  # digit lists lose their commas
])
def test_postprocess_v1_quirks(answer, read):
    assert oc.postprocess_v1(f"Final Answer: The final answer is ${answer}$. I hope") == read


# ---- OpenCompass v2 (2024-05-28) -----------------------------------------------------------------
def test_postprocess_v2():
    assert oc.postprocess_v2("so $\\boxed{1}$ or $\\boxed{{2}}$.") == "2"  # last, outer {} off
    assert oc.postprocess_v2("Hence the answer is $\\frac{1}{2}$. Done") == "\\frac{1}{2}"
    assert oc.postprocess_v2("7 apples. Then") == "7apples"


@pytest.mark.parametrize("pred, ref, equal", [
    ("\\dfrac{1}{2}", "\\frac{1}{2}", True),
    ("10\\text{ inches}", "10", True),
    ("50\\%", "50", True),
    ("2.50", "2.5", False),  # only trailing zeros after an integer part are dropped
    ("3.000", "3", True),
    ("(-\\infty, 0)", "(-\\infty,0)", True),
    ("\\text{(C)}", "C", True),
    ("x/2", "x/2", True),  # strip raises (int("x")); the raw normalisation still matches
    ("1", None, False),
])
def test_equiv_v2(pred, ref, equal):
    assert oc.equiv_v2(pred, ref) is equal


# ---- Minerva ------------------------------------------------------------------------------------
def test_minerva_answer_and_normalisation():
    assert minerva_answer(REPLY) == "$5$"
    assert minerva_answer("no final line") == "[invalidanswer]"
    assert minerva_normalize("$x = 12$") == "12"  # keeps what follows the last "="
    assert minerva_normalize("10\\text{ cm}") == "10"
    assert minerva_normalize("\\$1,000") == "1000"
    assert minerva_normalize("\\dfrac12") == "\\dfrac{1}{2}"


@pytest.mark.parametrize("a, b, outcome", [
    ("\\frac{1}{2}", "0.5", "equal"),
    ("\\dfrac{2}{4}", "\\frac{1}{2}", "equal"),
    ("\\sqrt{8}", "2\\sqrt{2}", "equal"),
    ("x^2-1", "(x-1)(x+1)", "equal"),
    ("3", "4", "different"),
    ("(1,2)", "(1,2)", "unparsable"),  # no string-equality shortcut in Minerva's rule
    ("44\\%", "44\\%", "unparsable"),
])
def test_sympy_outcome(a, b, outcome):
    assert sympy_outcome(a, b) == outcome


def test_judge_times_out_and_recovers():
    judge = SympyJudge(timeout_s=2.0)
    try:
        assert judge.compare("\\frac{1}{2}", "0.5") == "equal"
        assert judge.compare("2^{2^{100}}", "3") == "timeout"  # a C-level power: killed
        assert judge.compare("1+1", "2") == "equal"  # a fresh worker takes over
    finally:
        judge.close()
