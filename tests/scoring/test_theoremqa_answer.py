"""TheoremQA's answer rules (OpenCompass B3) run in the sandbox: real and edge-case replies, the
kept quirks, the fixed variant, and hostile replies that must not run in the harness."""

from __future__ import annotations

import builtins
import os

import pytest

from evaluate.scoring import theoremqa

# (reply, Answer, Answer_type, prediction, correct) -- by the protocol's steps
CASES = [
    ("Thus x = 5.\nThe answer is 5.", "5", "integer", "5", True),
    ("I do not know the number 7", "7", "integer", "False", False),  # "no" in "not": False
    ("The answer is 25%", "0.25", "float", "0.25", True),  # % -> /100, then parsed
    ("The answer is \\frac{1}{3}", "0.333", "float", "0.3333333333333333", True),  # within 4 %
    ("The answer is (b)", "(b)", "option", "(b)", True),
    ("The answer is True", "True", "bool", "True", True),
    ("The answer is 3.14 meters", "3.14", "float", "3.14", True),  # number + word: the number
    ("The answer is 1.\n\nProblem: x\nThe answer is 2", "1", "integer", "1", True),  # 2 triggers
    ("The answer is 2\\pi", "6.2832", "float", "6.28", True),  # pi -> 3.14
    ("", "0", "integer", "", False),
    ("The answer is 11760.4", "11760", "integer", "11760.4", True),  # integers: round()
    ("The answer is [1, 2]", "[1, 2]", "list of integer", "[1, 2]", True),  # lists: as strings
]


def _items(cases):
    return [{"text": c[0], "answer": c[1], "answer_type": c[2]} for c in cases]


HOSTILE_MARKS = ("__import__", "open(", "iter(int")


@pytest.fixture()
def no_eval(monkeypatch):
    """Fail the test if this process evals or execs text from the replies below (imports, which
    exec module code, still work)."""
    real_eval, real_exec = builtins.eval, builtins.exec

    def guard(real):
        def refuse(source, *args, **kwargs):
            if isinstance(source, str) and any(m in source for m in HOSTILE_MARKS):
                raise AssertionError("model text evaluated in the harness process")
            return real(source, *args, **kwargs)
        return refuse
    monkeypatch.setattr(builtins, "eval", guard(real_eval))
    monkeypatch.setattr(builtins, "exec", guard(real_exec))


def test_replies_as_the_protocol_reads_them(no_eval):
    verdicts, parser = theoremqa.score_in_sandbox(_items(CASES))
    assert parser in ("latex2sympy2", "sympy.parse_latex")
    assert [(v["pred"], v["correct"]) for v in verdicts] == [(c[3], c[4]) for c in CASES]
    fixed, _ = theoremqa.score_in_sandbox(_items(CASES[1:2]), whole_words=True)
    assert (fixed[0]["pred"], fixed[0]["correct"]) == ("7", True)  # "not"/"know" are not "no"


def test_hostile_replies_run_only_in_the_sandbox(no_eval, tmp_path):
    marker = tmp_path / "pwned"
    replies = [
        # number_it eval()s the answer text: 7 only if it really ran (in the sandbox)
        ("The answer is __import__('os').getpid() * 0 + 7", "7", "integer"),
        (f"The answer is open('{marker}', 'w').write('x') * 0 + 7", "7", "integer"),
        ("The answer is __import__('os').kill(__import__('os').getppid(), 9) * 0 + 7", "7",
         "integer"),
        ("The answer is [x for x in iter(int, 1)][0]", "1", "integer"),  # memory runs out
        ("The answer is __import__('os').getpid() and sum(1 for _ in iter(int, 1))", "1",
         "integer"),  # never ends: guarded
    ]
    before = os.getpid()
    verdicts, _ = theoremqa.score_in_sandbox(
        [{"text": t, "answer": a, "answer_type": ty} for t, a, ty in replies], guard_s=1.0)
    assert verdicts[0]["correct"] is True  # evaluated, but elsewhere (eval is refused here)
    assert not marker.exists() and verdicts[1]["correct"] is False
    assert os.getpid() == before and len(verdicts) == 5
    assert verdicts[3]["correct"] is False
    assert (verdicts[4]["correct"], verdicts[4]["status"]) == (False, "timeout")


def test_a_reply_that_kills_its_program_costs_only_itself():
    items = _items([CASES[0], ("The answer is __import__('os')._exit(3)", "3", "integer",
                               None, None), CASES[2]])
    verdicts, _ = theoremqa.score_in_sandbox(items)
    assert [v["correct"] for v in verdicts] == [True, False, True]  # re-run one at a time
    assert verdicts[1]["status"].startswith("sandbox: ")
