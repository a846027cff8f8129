"""IFEval with OpenCompass's chat config ``IFEval_gen_3321a3`` (a chat task).

Prompt: the row's ``prompt`` as one user turn. The config's template is a ``round`` with one
HUMAN item, so OpenCompass's chat engine appends an empty SYSTEM entry mapped to the user role and
merges it with ``"\\n"``: the user text is ``prompt + "\\n"`` (PROTOCOLS_MORE A2, C16). No system
message, so the checkpoint's template inserts its default. Greedy, at most 1,025 new tokens.

Scoring: Google's instruction checkers as packaged by ``if-verifiable`` (its ``ifeval`` registry;
the harness carries no copy). Per instruction, ``None`` kwargs are dropped and checkers that take
the prompt get it. Strict: the raw reply passes (an empty reply fails); loose: any of Google's
eight variants passes (first/last line removed, ``*`` removed). The headline is
Prompt-level-strict-accuracy (all of a row's instructions pass strictly); instruction-level strict
and both loose metrics are under ``task_extra``. ``langdetect`` is seeded (``DetectorFactory.seed
= 0``) so a rerun gives the same score (OpenCompass does not seed it); NLTK's punkt data is read
from the data directory's ``nltk_data/`` and never downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluate.chat import END_OF_TURN, conversation
from evaluate.data import DataDir, require_fields
from evaluate.errors import MissingDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task

FILE = "ifeval/input_data.jsonl"
NLTK_DIR = "nltk_data"
PUNKT = f"{NLTK_DIR}/tokenizers/punkt_tab/english"
MAX_NEW_TOKENS = 1025
FIELDS = ("key", "prompt", "instruction_id_list", "kwargs")


def _checkers(data: DataDir | None = None) -> Mapping[str, Any]:
    """The instruction registry, with NLTK pointed at the data dir and langdetect seeded."""
    import langdetect
    import nltk

    root = (data or DataDir()).root
    if not (root / PUNKT).is_dir():
        raise MissingDataError(f"IFEval needs NLTK's punkt data at {root / PUNKT}")
    nltk_dir = str(root / NLTK_DIR)
    if nltk_dir not in nltk.data.path:
        nltk.data.path.insert(0, nltk_dir)
    langdetect.DetectorFactory.seed = 0
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    return INSTRUCTION_DICT


def load(data: DataDir) -> list[Doc]:
    docs = []
    for number, row in enumerate(data.read_jsonl(FILE), 1):
        require_fields(row, FIELDS, f"{FILE}:{number}")
        _checkers(data)
        reference = {"prompt": row["prompt"], "instruction_id_list": row["instruction_id_list"],
                     "kwargs": row["kwargs"]}
        docs.append(Doc(id=str(row["key"]), target=None, data=row["prompt"],
                        reference=reference))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest("", chat=conversation(doc.data + "\n"), stop=END_OF_TURN,
                            max_new_tokens=MAX_NEW_TOKENS)]


def loose_variants(response: str) -> list[str]:
    """Google's loose-mode inputs: the reply, without ``*``, without its first/last line."""
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(),
           "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", "")] + cut + [c.replace("*", "") for c in cut]


def follows(response: str, prompt: str, ids: Sequence[str],
            kwargs: Sequence[Mapping[str, Any]]) -> tuple[list[bool], list[bool]]:
    """Per instruction: (strict passes, loose passes)."""
    registry = _checkers()
    strict, loose = [], []
    for instruction_id, given in zip(ids, kwargs, strict=True):
        checker = registry[instruction_id](instruction_id)
        checker.build_description(**{k: v for k, v in given.items() if v is not None})
        args = checker.get_instruction_args()
        if args and "prompt" in args:
            checker.build_description(prompt=prompt)
        strict.append(bool(response.strip() and checker.check_following(response)))
        loose.append(any(r.strip() and checker.check_following(r)
                         for r in loose_variants(response)))
    return strict, loose


def score(sample: ScoreInput, responses: list[Response]) -> Scored:
    reply = cut_at_stops(responses[0]["text"], END_OF_TURN)
    ref = sample.reference
    strict, loose = follows(reply, ref["prompt"], ref["instruction_id_list"], ref["kwargs"])
    return Scored(extracted=reply, score=float(all(strict)),
                  extra={"strict": strict, "loose": loose,
                         "instruction_id_list": list(ref["instruction_id_list"])})


def run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenCompass's other three IFEval metrics, in percent."""
    strict = [s["extra"]["strict"] for s in samples]
    loose = [s["extra"]["loose"] for s in samples]
    if not samples:
        return {}

    def prompt_level(rows: list[list[bool]]) -> float:
        return 100.0 * sum(all(r) for r in rows) / len(rows)

    def instruction_level(rows: list[list[bool]]) -> float:
        return 100.0 * sum(map(sum, rows)) / sum(map(len, rows))

    return {"Inst-level-strict-accuracy": instruction_level(strict),
            "Prompt-level-loose-accuracy": prompt_level(loose),
            "Inst-level-loose-accuracy": instruction_level(loose)}


register(Task(
    name="ifeval:opencompass-chat",
    description="IFEval 0-shot, chat template, OpenCompass IFEval_gen_3321a3; "
                "Prompt-level-strict-accuracy (instruction-level and loose under task_extra)",
    provenance="OpenCompass@2954913d configs/datasets/IFEval/IFEval_gen_3321a3.py; "
               "google-research instruction_following_eval checkers (if-verifiable 0.1.2)",
    shots=0,
    data_files=(FILE, f"{PUNKT}/*"),
    load=load,
    build=build,
    score=score,
    aggregation=Aggregation(metric="Prompt-level-strict-accuracy"),
    params={"user": "{prompt}\n", "system": None, "max_new_tokens": MAX_NEW_TOKENS,
            "decoding": "greedy", "checkers": "if-verifiable 0.1.2 (ifeval)",
            "langdetect_seed": 0},
    metric_note="greedy; prompt-level strict",
    results_extra=run_facts,
    chat=True,
))
