"""MATH: exact prompts, references, gold answers as completions, per-type/level aggregation,
SymPy outcome counts, and end to end on the tiny model."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.reported import lookup_in
from evaluate.runner import RunOptions, run_task
from evaluate.scoring.math_equiv import boxed_answer
from evaluate.tasks import math as math_task
from evaluate.tasks.math_prompts import MINERVA4, MINERVA_LM, OC2023_SHOTS

NAMES = ("math", "math:minerva", "math:opencompass")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def solutions(data_dir) -> dict[str, str]:
    path = Path(data_dir) / "math" / "test.jsonl"
    return {row["id"]: row["solution"]
            for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _final_line(answer: str) -> str:
    return f"reasoning\nFinal Answer: The final answer is ${answer}$. I hope it is correct."


def test_prompts_are_exact():
    # OpenCompass math_gen_265cce rendered for a base model (computed from the config at
    # OC@2c915218); PROTOCOLS_MORE X1; lm-eval minerva_math PROMPT at LM@0348ed97.
    oc2023 = OC2023_SHOTS + "\nProblem:\n{problem}\nSolution:\n"
    assert _sha(oc2023) == "6de7dba13ae07773781f062b49e1610ae75188a0a39020cb8b69aad32bc3bc82"
    assert "$\\frac{{\\sqrt{{x-2}}}}{{\\sqrt{{5-x}}}}$.}}" in oc2023  # doubled braces kept
    assert (len(MINERVA4), _sha(MINERVA4)[:8]) == (1784, "73e99c77")
    assert "30n&=480\\\n" in MINERVA4  # the single-backslash quirk
    assert _sha(MINERVA_LM) == "00e83b645e0473fc5787e78afe3e452786f8f260cf7623f3aa9f93a792989806"


def test_requests(data_dir):
    docs = {name: get_task(name).load(DataDir(data_dir))[0] for name in NAMES}
    problem = docs["math"].data["problem"]
    (oc2023,) = get_task("math").build(docs["math"])
    assert oc2023.context.endswith(f"\n\nProblem:\n{problem}\nSolution:\n")
    assert (oc2023.max_new_tokens, oc2023.max_context_tokens) == (512, 1536)
    (minerva,) = get_task("math:minerva").build(docs["math:minerva"])
    assert minerva.context == MINERVA_LM + f"\n\nProblem:\n{problem}\n\nSolution:"
    assert (minerva.stop, minerva.max_new_tokens) == (("Problem:",), 256)
    (oc2024,) = get_task("math:opencompass").build(docs["math:opencompass"])
    assert oc2024.context == MINERVA4 + f"\n\nProblem:\n{problem}\nSolution:"
    assert "Problem" in oc2024.stop and oc2024.max_new_tokens == 1024
    assert docs["math"].meta == {"type": "Algebra", "level": "Level 3",
                                 "cell": "Algebra / Level 3"}


def test_gold_opencompass_v2_scores_100(data_dir, solutions):
    task = get_task("math:opencompass")
    docs = task.load(DataDir(data_dir))
    assert len(docs) == 5000
    for doc in docs:
        reply = f"so the answer is $\\boxed{{{boxed_answer(solutions[doc.id])}}}$."
        assert task.score(doc, [{"text": reply}]).score == 1.0, doc.id


# Why a gold answer written on the "Final Answer" line can fail `math` (OpenCompass 2023 v1
# post-processing with Hendrycks's equivalence): each is a quirk of that protocol.
V1_QUIRKS = {
    "decimal": lambda a: "." in a,  # the reply is split on "."
    "rac": lambda a: re.search(r"\\[dtc]frac", a) is not None,  # \dfrac -> \df\frac
    "infty": lambda a: "infty" in a,  # "ft" is a removed word: \infty -> \iny
    "commas": lambda a: "," in a,  # digit lists lose commas; "{,}" / ",\!" removed
    "text": lambda a: "\\text" in a or "\\mbox" in a,  # units and \text{} stripped on one side
    "shorthand": lambda a: re.search(r"\\frac ?\d\{|\\sqrt |\\overline|a \+|\\tan", a) is not None,
}


def test_gold_v1_fails_only_by_protocol_quirks(data_dir, solutions):
    task = get_task("math")
    failures = []
    for doc in task.load(DataDir(data_dir)):
        answer = boxed_answer(solutions[doc.id])
        if task.score(doc, [{"text": _final_line(answer)}]).score != 1.0:
            failures.append(answer)
    assert 0 < len(failures) < 400  # 386 of 5,000 when measured
    unexplained = [a for a in failures if not any(rule(a) for rule in V1_QUIRKS.values())]
    assert unexplained == []


def test_gold_minerva_fails_only_where_sympy_cannot_parse(data_dir, solutions):
    task = get_task("math:minerva")
    docs = task.load(DataDir(data_dir))
    sample = random.Random(0).sample(docs, 150)
    outcomes = []
    for doc in sample:
        scored = task.score(doc, [{"text": _final_line(boxed_answer(solutions[doc.id]))}])
        outcomes.append(scored.extra["equivalence"])
        assert scored.score == 1.0 or scored.extra["equivalence"] == "unparsable", doc.id
    assert outcomes.count("equal") > 130


def test_results_count_outcomes_and_report_type_and_level(tiny_model, qwen2_tokenizer, data_dir,
                                                          tmp_path, monkeypatch):
    for name in math_task.PROMPTS:
        template, stops, _, keep = math_task.PROMPTS[name]
        monkeypatch.setitem(math_task.PROMPTS, name, (template, stops, 6, keep))
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    extra = {}
    for name in NAMES:
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=3, progress=False))
        assert results["complete"] and results["samples"] == 3
        metrics = results["metrics"]
        assert 0.0 <= metrics["accuracy"]["value"] <= 100.0
        assert any(k.startswith("category:Level ") for k in metrics)
        assert sum(metrics[f"category:{t}"]["n"] for t in math_task.TYPES
                   if f"category:{t}" in metrics) == 3
        extra[name] = results.get("task_extra")
    equivalence = extra["math:minerva"]["equivalence"]
    assert sum(equivalence.values()) == 3 and set(equivalence) <= {
        "equal", "different", "unparsable", "timeout", "error"}


def test_reported_rows():
    assert lookup_in("qwen_base", "Qwen/Qwen-7B", "math") == 11.6
    assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", "math:opencompass") is not None
