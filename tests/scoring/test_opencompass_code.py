"""OpenCompass's code cleaners (HumanEval B4, LCBench B6): steps on real and edge-case replies,
and the quoted-string decoding that never runs model text."""

from __future__ import annotations

import builtins

import pytest

from evaluate.scoring.opencompass_code import (
    decode_string_literal,
    humaneval_postprocess_v2,
    lcbench_answer,
)

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


def test_quoted_reply_is_decoded_and_hostile_text_is_not_run(no_eval, tmp_path):
    assert decode_string_literal("'    return 1\\n'") == "    return 1\n"
    assert decode_string_literal("'a' 'b'") == "ab"  # implicit concatenation, as eval
    assert decode_string_literal("3") == "3" and decode_string_literal("[1]") == "[1]"
    marker = tmp_path / "pwned"
    hostile = f"__import__('os').system('touch {marker}')"
    for clean in (decode_string_literal, humaneval_postprocess_v2, lcbench_answer):
        clean(hostile)
        clean("(" * 10000)  # deep nesting: no crash
    assert decode_string_literal(hostile) == hostile
    assert not marker.exists()


def test_humaneval_postprocess_steps():
    # a real base-model reply: body, then more text at a lower indentation (cut)
    reply = "    return sorted(set(l))\n\n\ndef main():\n    print(unique([1]))\n"
    assert humaneval_postprocess_v2(reply) == "    return sorted(set(l))"
    # a fenced block with an info line; the repeated def line is dropped
    fenced = "Here:\n```python\ndef f(x):\n    y = x\n    return y\n```\nDone"
    assert humaneval_postprocess_v2(fenced) == "    y = x\n    return y"
    # imports before the def: everything up to the end of the first "def" line goes
    imports = "from collections import defaultdict\nx = 1\n    return x"
    # ("def" inside defaultdict), then every line gets four more spaces
    assert humaneval_postprocess_v2(imports) == "    x = 1\n        return x"
    # only the first line is re-indented (to four spaces); unindented text gets four spaces
    assert humaneval_postprocess_v2("  a = 1\n  return a") == "    a = 1"
    assert humaneval_postprocess_v2("a = 1\nreturn a") == "    a = 1\n    return a"
    # quotes and comments do not set the indentation; blank lines vanish
    assert humaneval_postprocess_v2("    # c\n\n    return 2\n") == "    # c\n    return 2"
    assert humaneval_postprocess_v2("'    return 3\\n'") == "    return 3"  # a quoted reply


def test_lcbench_answer_steps():
    shot_style = "[BEGIN]\n 'def f(a):\n        return a' \n[DONE] \n\n "
    assert lcbench_answer(shot_style) == "def f(a):\n        return a"
    # the base prompt ends with "[BEGIN]\n": a reply in the shots' form starts with the quote
    assert lcbench_answer(" 'def g():\n    return 1' \n[DONE]") == "def g():\n    return 1"
    # every backslash goes, also inside string literals (a quirk)
    assert lcbench_answer('def h():\n    return "a\\nb"') == 'def h():\n    return "anb"'
    # and one trailing quote, even when it closes a string (a quirk)
    assert lcbench_answer("def h():\n    return 'a'") == "def h():\n    return 'a"
    fenced = "```python\ndef k():\n    return 2\n```\nmore"
    assert lcbench_answer(fenced) == "def k():\n    return 2"
    assert lcbench_answer("x = 1 DONE y") == "x = 1"
