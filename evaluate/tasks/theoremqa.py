"""TheoremQA, 5-shot, as OpenCompass ran it for the Qwen1.5 tables (EVALUATION.md "TheoremQA").

``TheoremQA_5shot_gen_6f0af8`` (OC@2954913d; PROTOCOLS_MORE.md B3), base rendering (A1): five
HUMAN/BOT rounds (the first HUMAN opens with ``"You are supposed to provide a solution to a given
problem.\\n\\n"``; each is ``"Problem:\\n" + q + "\\nSolution:"``), then the question's HUMAN
round, items joined with ``"\\n"``. The template is filled with the whole row (loader column
order, ``Answer`` -- the output column -- emptied). Greedy, 1024 new tokens, stop strings
``"Problem:"`` and ``"Problem"``.

Scoring: ``TheoremQA_postprocess_v3`` then ``TheoremQAEvaluatorV3``, quirks kept (a reply
without "The answer is" that contains "no" anywhere reads as ``False``). Both ``eval`` model text,
so they run in the sandbox (:mod:`evaluate.scoring.theoremqa`). Score = % correct of 800.

``theoremqa:opencompass-fixed``: the same prompt and comparison, but yes/true/no/false count only
as whole words (``"not"``, ``"number"``, ``"know"`` no longer read as ``False``).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response
from evaluate.scoring.theoremqa import rules_fingerprint, score_in_sandbox
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks.opencompass import Turn, base_output, fill_items, gen_row, render
from evaluate.tasks.theoremqa_prompts import SHOTS

DATA_FILE = "TheoremQA/theoremqa_test.json"
INSTRUCTION = "You are supposed to provide a solution to a given problem.\n\n"
QUESTION = "Problem:\n{Question}\nSolution:"
STOPS = ("Problem:", "Problem")
MAX_NEW_TOKENS = 1024
OUTPUT_COLUMN = "Answer"


def rounds() -> list[Turn]:
    """The config's round template: five shots, then the question's HUMAN turn."""
    items: list[Turn] = []
    for index, (question, solution) in enumerate(SHOTS):
        desc = INSTRUCTION if index == 0 else ""
        items += [Turn("HUMAN", f"{desc}Problem:\n{question}\nSolution:"), Turn("BOT", solution)]
    return items + [Turn("HUMAN", QUESTION)]


def prompt_of(row: dict[str, Any]) -> str:
    return render(fill_items(rounds(), gen_row(row, OUTPUT_COLUMN)))


def load(data: DataDir) -> list[Doc]:
    try:
        rows = json.loads(data.read_text(DATA_FILE))
    except json.JSONDecodeError as exc:
        raise MalformedDataError(f"{DATA_FILE}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise MalformedDataError(f"{DATA_FILE}: expected a JSON list of problems")
    docs = []
    for number, row in enumerate(rows, 1):
        require_fields(row, ("Question", "Answer", "Answer_type", "id"), f"{DATA_FILE}:{number}")
        row = {**row, "Answer": str(row["Answer"])}  # TheoremQADatasetV3 casts it to str
        docs.append(Doc(id=row["id"], target=row["Answer"], data=row,
                        meta={"answer_type": row["Answer_type"], "field": row.get("field")}))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=prompt_of(doc.data), stop=STOPS,
                            max_new_tokens=MAX_NEW_TOKENS)]


def score_replies(samples: list[ScoreInput], responses: list[list[Response]],
                  whole_words: bool = False) -> list[Scored]:
    items = [{"text": base_output(r[0]["text"], STOPS), "answer": str(s.target),
              "answer_type": s.meta["answer_type"]}
             for s, r in zip(samples, responses, strict=True)]
    verdicts, parser = score_in_sandbox(items, whole_words)
    return [Scored(extracted=v["pred"], score=float(v["correct"]),
                   extra={"status": v["status"], "parser": parser}) for v in verdicts]


def score(sample: ScoreInput, responses: list[Response]) -> Scored:
    return score_replies([sample], [responses])[0]


def score_fixed(sample: ScoreInput, responses: list[Response]) -> Scored:
    return score_replies([sample], [responses], whole_words=True)[0]


def score_many_fixed(samples: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    return score_replies(samples, responses, whole_words=True)


def run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json ``task_extra``: the LaTeX parser used and each scoring status's count."""
    extras = [s.get("extra", {}) for s in samples]
    return {"latex_parser": sorted({str(e.get("parser")) for e in extras}),
            "status_counts": dict(Counter(str(e.get("status")) for e in extras))}


OPENCOMPASS = register(Task(
    name="theoremqa:opencompass",
    description="TheoremQA 5-shot, OpenCompass's prompt and answer rules (quirks kept)",
    provenance="open-compass/opencompass@2954913d configs/datasets/TheoremQA/"
               "TheoremQA_5shot_gen_6f0af8.py, TheoremQA_postprocess_v3, TheoremQAEvaluatorV3; "
               'PROTOCOLS_MORE.md B3; EVALUATION.md "TheoremQA"',
    shots=len(SHOTS),
    data_files=(DATA_FILE,),
    load=load,
    build=build,
    score=score,
    score_many=score_replies,
    aggregation=Aggregation(metric="score"),
    params={"stops": STOPS, "max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy",
            "instruction": INSTRUCTION, "question": QUESTION, "shots": SHOTS,
            "float_tolerance": 0.04, "extract_time_limit_s": 1,
            "answer_rules_sha256": rules_fingerprint()},
    metric_note="greedy; answer rules eval model text in the sandbox; SymPy's LaTeX parser "
                "stands in for latex2sympy2 when that is absent",
    results_extra=run_facts,
))

register(dataclasses.replace(
    OPENCOMPASS,
    name="theoremqa:opencompass-fixed",
    description="TheoremQA 5-shot, OpenCompass's prompt; yes/true/no/false read as whole words",
    provenance=OPENCOMPASS.provenance + "; fix: whole-word yes/true/no/false",
    score=score_fixed,
    score_many=score_many_fixed,
    params={**OPENCOMPASS.params, "whole_words": True},
))
