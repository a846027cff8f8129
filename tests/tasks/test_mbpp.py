"""MBPP: exact prompts, both code extractions, the canonical solutions in the sandbox, and end to
end on the tiny model."""

from __future__ import annotations

import hashlib

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.reported import lookup_in
from evaluate.requests import cut_at_stops
from evaluate.runner import RunOptions, run_task
from evaluate.scoring.mbpp_code import (
    lm_eval_code,
    opencompass_2023_code,
    opencompass_mbpp_code,
)
from evaluate.tasks import mbpp
from evaluate.tasks.mbpp_prompts import OC2023_TEMPLATE, OC_SANITIZED_TEMPLATE


def test_lm_eval_prompt(data_dir):
    docs = get_task("mbpp").load(DataDir(data_dir))
    assert [d.id for d in docs] == [str(i) for i in range(11, 511)]
    prompt = docs[0].data["prompt"]
    assert prompt.startswith("You are an expert Python programmer, and here is your task: Write a "
                             "function to find the similar elements from the given two tuple "
                             "lists. Your code should pass these tests:\n\nassert similar_")
    assert "(13, 14)\n[BEGIN]\ndef similar_elements(test_tup1, test_tup2):\r\n  res =" in prompt
    assert "  return (res) \n[DONE]\n\nYou are an expert" in prompt  # shot code as released
    assert prompt.count("[DONE]") == 3 and prompt.endswith("\n[BEGIN]\n")
    assert docs[0].reference["tests"].count("assert") == 3
    (request,) = get_task("mbpp").build(docs[0])
    assert request.stop[0] == "[DONE]" and request.max_new_tokens == 512


def test_opencompass_prompt(data_dir):
    sha = hashlib.sha256(OC_SANITIZED_TEMPLATE.encode()).hexdigest()
    assert (len(OC_SANITIZED_TEMPLATE), sha[:8]) == (1596, "cd32cf35")  # PROTOCOLS_MORE X2
    docs = get_task("mbpp:opencompass").load(DataDir(data_dir))
    assert len(docs) == 257 and docs[0].id == "11"
    assert docs[0].data["prompt"].endswith(docs[0].reference["tests"])  # no [BEGIN] after it
    assert "{text}" not in docs[0].data["prompt"]


def test_opencompass_2023_prompt(data_dir):
    # the eight items of mbpp_gen_1e1056 (OC@2c915218) joined with "\n", computed from the config
    sha = hashlib.sha256(OC2023_TEMPLATE.encode()).hexdigest()
    assert sha == "d860a1a2e85a5b12b7ed2c02e28e5080c2f995bba54327688521b168f8472278"
    task = get_task("mbpp:opencompass-2023")
    doc = task.load(DataDir(data_dir))[0]
    assert doc.data["prompt"].endswith('\n\n assert remove_Occ("hello","l") == "heo"\nassert '
                                       'remove_Occ("abcda","a") == "bcd"\nassert remove_Occ'
                                       '("PHP","P") == "H"  \n\n[BEGIN]\n')
    (request,) = task.build(doc)
    assert (request.max_context_tokens, request.max_new_tokens) == (1536, 512)


@pytest.mark.parametrize("reply, code", [
    (" 'def f():\n    return 1' \n[DONE] \n\n more", "def f():\n    return 1"),
    ("def f(): return 1\n[DONE]", "def f(): return 1"),
    ("[BEGIN]\n 'x = 1'", "x = 1"),
    ("x = 'a'", "x = 'a"),  # one trailing quote goes, even a string's own
])
def test_opencompass_2023_code(reply, code):
    assert opencompass_2023_code(reply) == code


@pytest.mark.parametrize("reply, code", [
    ("def f():\n    return 1\n", "def f():\n    return 1"),
    ("```python\ndef f():\n    return 1\n```\ntext", "def f():\n    return 1"),
    ("```\nx = 1", "x = 1"),  # an opening fence never closed
    ("x = 1\n```\nmore", "x = 1"),  # odd count: what precedes the last fence
    ("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```", "x = 1"),  # even: the first block
])
def test_lm_eval_code(reply, code):
    assert lm_eval_code(reply) == code


def test_real_reply_passes(data_dir):
    """A reply of the embedded Qwen2.5-Coder-0.5B-Instruct to MBPP task 14 (seeded subset run),
    as the backend returned it; the program passes, in the sandbox."""
    reply = "def find_Volume(a,b,c):\r\n  volume = (a*b*c)/2\r\n  return volume\n[DONE]<|im_end|>"
    doc = next(d for d in get_task("mbpp").load(DataDir(data_dir)) if d.id == "14")
    scored = get_task("mbpp").score(doc, [{"text": reply}])
    assert scored.extracted == "def find_Volume(a,b,c):\r\n  volume = (a*b*c)/2\r\n  return volume"
    assert (scored.score, scored.extra["status"]) == (1.0, "passed")


@pytest.mark.parametrize("reply, code", [
    ("[BEGIN]\n 'def f():\n    return 1'\n[DONE]", "def f():\n    return 1"),
    (" 'def f():\n    return 1'\n[DONE]\n\nYou are", "def f():\n    return 1"),
    ("```python\nx = 1\n```", "x = 1"),
    ("x = 1 DONE trailing", "x = 1"),  # cut at the first DONE
    ("def a\\_b(): pass", "def a_b(): pass"),
])
def test_opencompass_code(reply, code):
    assert opencompass_mbpp_code(reply) == code


def test_canonical_solutions_pass(data_dir):
    """All 500 canonical solutions, in the sandbox, as the protocol runs them. Two exceptions:
    task 367's tests need its ``test_setup_code``, which the protocol does not run; task 123
    (amicable numbers below 9,999) is near the 3 s limit and times out on a loaded machine.
    Programs and limits are the task's own; more run at once than there are cores, since most
    of a sandbox run is waiting."""
    docs = get_task("mbpp").load(DataDir(data_dir))
    codes = [lm_eval_code(cut_at_stops(d.data["code"] + "\n[DONE]", mbpp.STOPS)) for d in docs]
    scored = mbpp.check(docs, codes, mbpp.TIMEOUT_S, workers=8)
    failed = {d.id: s.extra["status"] for d, s in zip(docs, scored, strict=True) if not s.score}
    assert failed.get("367") == "error"
    # a loaded machine may push a slow program (123 and the like) past 3 s; nothing else fails
    assert all(status == "timeout" for task_id, status in failed.items() if task_id != "367")
    assert len(failed) <= 4


def test_sanitized_canonical_solutions_pass(data_dir):
    """The 257 sanitized solutions; the ten that use ``math`` without importing it fail because
    the protocol ignores ``test_imports``."""
    docs = get_task("mbpp:opencompass").load(DataDir(data_dir))
    codes = [opencompass_mbpp_code("[BEGIN]\n '" + d.data["code"] + "'\n[DONE]") for d in docs]
    scored = mbpp.check(docs, codes, mbpp.OC_TIMEOUT_S, workers=8)
    failed = [s.extra for s in scored if not s.score]
    assert sum("name 'math' is not defined" in f["detail"] for f in failed) == 10
    # a loaded machine may push a slow program past its limit; nothing else may fail
    assert all(f["status"] == "timeout" for f in failed
               if "name 'math' is not defined" not in f["detail"])
    assert len(failed) <= 12


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(mbpp, "MAX_NEW_TOKENS", 6)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("mbpp", "mbpp:opencompass", "mbpp:opencompass-2023"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=2, progress=False))
        assert results["complete"] and results["samples"] == 2
        assert results["metrics"]["pass@1"]["value"] == 0.0  # random tokens never pass
        assert sum(results["task_extra"]["status_counts"].values()) == 2


def test_reported_rows():
    assert lookup_in("qwen_base", "Qwen/Qwen-7B", "mbpp") == 31.6
    assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", "mbpp:opencompass") is not None
