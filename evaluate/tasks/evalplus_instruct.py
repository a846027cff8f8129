"""HumanEval+ and MBPP+ with Qwen2.5-Coder's published instruct protocol (a chat task).

Source: QwenLM/Qwen2.5-Coder ``qwencoder-eval/instruct/eval_plus`` (``test.sh``, ``generate.py``,
``model.py`` class ``ChatML``; commit d5ead97f), which writes this ChatML text by hand -- the
same text the Qwen2.5 chat template renders for these turns:

- system: "You are an intelligent programming assistant to produce Python algorithmic solutions"
- user: "Can you complete the following Python function?\n```python\n{prompt}\n```\n" with the
  problem's ``prompt.strip()`` (note the newline before ``<|im_end|>``);
- the assistant reply pre-filled with "```python\n".

0-shot, greedy, at most 2,048 new tokens. Stop strings: "\n```" and the script's ``EOS`` list
("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\n#"),
plus the template's end-of-turn markers. The reply is cut at the first stop, tabs become four
spaces, anything from a remaining "```" is dropped (as ``generate.py`` does), then EvalPlus's
``sanitize(reply, entry_point)`` (:mod:`evaluate.code_sanitize`) gives the program, checked by
EvalPlus's differential testing on the base tests and on base + plus tests
(:mod:`evaluate.evalplus`: sandbox, parallel, EvalPlus's per-input time limits). The headline
``pass@1`` is base + plus (EvalPlus's "plus" number); ``base pass@1`` is under ``task_extra``.

Data: ``evalplus/HumanEvalPlus-v0.1.10.jsonl.gz`` (164; the release the script ships) and
``evalplus/MbppPlus-v0.2.0.jsonl.gz`` (378; the script ships v0.1.0, 399 problems). The test
inputs are large (about 10 MB), so the plan records only task ids; scoring reads the problems
loaded at plan time or, for ``rescore`` in a new process, from the default data dir.
"""

from __future__ import annotations

import functools
from typing import Any

from evaluate.chat import END_OF_TURN, conversation
from evaluate.code_sanitize import sanitize
from evaluate.data import DataDir, require_fields
from evaluate.evalplus import check, mbpp_inputs
from evaluate.metrics import aggregate
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.task import Aggregation, Doc, Scored, Task

SYSTEM = "You are an intelligent programming assistant to produce Python algorithmic solutions"
USER = "Can you complete the following Python function?\n```python\n{prompt}\n```\n"
PREFILL = "```python\n"
STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(",
         "\n#", "\n```")
MAX_NEW_TOKENS = 2048
FILES = {"humaneval": "evalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
         "mbpp": "evalplus/MbppPlus-v0.2.0.jsonl.gz"}
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input",
          "atol")
_PROBLEMS: dict[str, dict[str, Any]] = {}  # task id -> row (inputs restored), filled by load


def load(dataset: str, data: DataDir) -> list[Doc]:
    docs = []
    for number, row in enumerate(data.read_jsonl(FILES[dataset]), 1):
        require_fields(row, FIELDS, f"{FILES[dataset]}:{number}")
        if dataset == "mbpp":
            row = {**row, "base_input": mbpp_inputs(row["task_id"], row["base_input"]),
                   "plus_input": mbpp_inputs(row["task_id"], row["plus_input"])}
        _PROBLEMS[row["task_id"]] = row
        docs.append(Doc(id=row["task_id"], target={"entry_point": row["entry_point"]},
                        data=row["prompt"]))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    chat = conversation(USER.format(prompt=doc.data.strip()), system=SYSTEM, prefill=PREFILL)
    return [GenerateRequest("", chat=chat, stop=STOPS, max_new_tokens=MAX_NEW_TOKENS)]


def program(reply: str, entry_point: str) -> str:
    """The program EvalPlus scores: the reply cut at the stops, tabs expanded, sanitized."""
    reply = cut_at_stops(reply, STOPS + END_OF_TURN).replace("\t", "    ").split("```")[0]
    return sanitize(reply, entry_point)


def _problem(dataset: str, task_id: str) -> dict[str, Any]:
    if task_id not in _PROBLEMS:
        load(dataset, DataDir())
    return _PROBLEMS[task_id]


def score_many(dataset: str, docs: list[Doc], responses: list[list[Response]]) -> list[Scored]:
    programs = [program(r[0]["text"], d.target["entry_point"])
                for d, r in zip(docs, responses, strict=True)]
    verdicts = check(dataset, [_problem(dataset, d.id) for d in docs], programs,
                     progress=len(docs) > 1)
    return [Scored(extracted=code, score=float(v["plus"]), extra=v)
            for code, v in zip(programs, verdicts, strict=True)]


def score(dataset: str, doc: Doc, responses: list[Response]) -> Scored:
    return score_many(dataset, [doc], [responses])[0]


def run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """``base pass@1`` (with its bootstrap error) and the sandbox verdict counts."""
    from collections import Counter

    base = [{**s, "score": float(s["extra"]["base"])} for s in samples]
    statuses = Counter(f"{k}:{s['extra'][k]}" for s in samples
                       for k in ("base_status", "plus_status"))
    return {"base pass@1": aggregate(base, Aggregation(metric="pass@1"))["pass@1"],
            "status_counts": dict(sorted(statuses.items()))}


for _dataset, _label in (("humaneval", "HumanEval+"), ("mbpp", "MBPP+")):
    register(Task(
        name=f"{_dataset}:evalplus-instruct",
        description=f"{_label} 0-shot, chat template, Qwen2.5-Coder instruct prompt; pass@1 on "
                    "base + plus tests (base pass@1 under task_extra)",
        provenance="QwenLM/Qwen2.5-Coder@d5ead97f qwencoder-eval/instruct/eval_plus "
                   "(test.sh, generate.py, model.py ChatML); evalplus 0.3.1 sanitize and checker",
        shots=0,
        data_files=(FILES[_dataset],),
        load=functools.partial(load, _dataset),
        build=build,
        score=functools.partial(score, _dataset),
        score_many=functools.partial(score_many, _dataset),
        aggregation=Aggregation(metric="pass@1"),
        params={"system": SYSTEM, "user": USER, "prefill": PREFILL, "stops": STOPS,
                "max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy",
                "sanitize": "evalplus 0.3.1", "time_limits": "max(1s, 4 x reference)"},
        metric_note="greedy; base + plus tests (EvalPlus)",
        results_extra=run_facts,
        chat=True,
    ))
