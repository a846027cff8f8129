"""LCBench (LeetCode contests 274-378, en and cn) as OpenCompass runs it (EVALUATION.md "LCBench").

**Uncertain** (PROTOCOLS_MORE.md B6, F2): ``lcbench_gen_5ff288`` and its evaluator were published
(OC@a3151082, 2024-07-31; ``LCBench.py`` of OC@704853e5) two months after the Qwen1.5 table,
whose numbers came from an internal version; the data is the public CodeBench copy, not byte-
checked against OpenCompass's bundle.

Prompt (base rendering, A1): the config's round template -- three LeetCode shots as HUMAN/BOT
turns, the question's HUMAN turn ``"... here is your task: {text} Your code should pass these
tests:\\n\\n {test_list}  \\n"`` (cn: the Chinese wording), and the BOT turn ``"[BEGIN]\\n"``,
kept because it is fixed text -- items joined with ``"\\n"`` and filled with the row
(``test_list`` joined with ``"\\n"``, as ``LCDataset`` does). Rows 0-4 are unused; rows 5- are
the test set of each language (576 + 576). Greedy, 512 new tokens, no stop strings.

Scoring: ``LCEvaluator._process_answer`` (:func:`~evaluate.scoring.opencompass_code.lcbench_answer`,
no ``eval``), program = code + ``"\\n"`` + the joined tests, run in the sandbox with a 3 s limit.
``LCPassKEvaluator`` groups by ``Contest id``: pass@1 per contest id, then the mean; the row is
the mean of ``lcbench_en`` and ``lcbench_cn``. Here each sample weighs
``1 / (rows of its contest id) / (contest ids of its language)`` (counted over the whole data),
so the weighted mean is exactly that row (en has 575 contest ids, cn 576); ``task_extra`` gives
each language's own grouped mean, recomputed from the samples scored.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response
from evaluate.scoring.code import program_verdicts
from evaluate.scoring.opencompass_code import lcbench_answer
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks.lcbench_prompts import CN, EN
from evaluate.tasks.opencompass import Turn, base_output, fill_items, gen_row, render

FILES = {"en": "LCBench2023/LCBench2023.jsonl", "cn": "LCBench2023/LCBench2023_cn.jsonl"}
ROUNDS = {"en": EN, "cn": CN}
FIRST_TEST_ROW = 5
OUTPUT_COLUMN = "test_column"
MAX_NEW_TOKENS = 512
TIMEOUT_S = 3.0


def prompt_of(row: dict[str, Any], lang: str) -> str:
    """The config's rounds filled with the row (generation mode) and rendered for a base model."""
    items = [Turn(role, prompt) for role, prompt in ROUNDS[lang]]
    return render(fill_items(items, gen_row(row, OUTPUT_COLUMN)))


def loader_row(row: dict[str, Any]) -> dict[str, Any]:
    """``LCDataset``'s ``processing_test``: the tests joined, the columns it adds."""
    tests = "\n".join(row["test_list"])
    return {**row, "test_case": row["test_list"], "test_list": tests,
            "test_column": {"test_list_2": tests, "task_id": row["Contest id"]}}


def load(data: DataDir) -> list[Doc]:
    docs = _docs(data)
    rows = Counter(d.meta["contest"] for d in docs)
    groups = Counter(contest.split("/", 1)[0] for contest in rows)
    for doc in docs:
        doc.meta["weight"] = 1 / rows[doc.meta["contest"]] / groups[doc.meta["lang"]]
    return docs


def _docs(data: DataDir) -> list[Doc]:
    docs = []
    for lang, path in FILES.items():
        for number, raw in enumerate(data.read_jsonl(path), 1):
            if number <= FIRST_TEST_ROW:
                continue
            require_fields(raw, ("Contest id", "text", "test_list"), f"{path}:{number}")
            row = loader_row(raw)
            docs.append(Doc(
                id=f"{lang}/{number - 1}", target=row.get("canonical_solution"),
                data={"row": row, "lang": lang}, reference={"tests": row["test_list"]},
                meta={"lang": lang, "contest": f"{lang}/{row['Contest id']}",
                      "difficulty": row.get("Difficulty")}))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=prompt_of(doc.data["row"], doc.data["lang"]), stop=(),
                            max_new_tokens=MAX_NEW_TOKENS)]


def program(code: str, tests: str) -> str:
    return code + "\n" + tests


def score_programs(samples: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    codes = [lcbench_answer(base_output(r[0]["text"], ())) for r in responses]
    programs = [program(code, s.reference["tests"])
                for code, s in zip(codes, samples, strict=True)]
    verdicts = program_verdicts(codes, programs, TIMEOUT_S)
    return [dataclasses.replace(v, weight=s.meta["weight"])
            for v, s in zip(verdicts, samples, strict=True)]


def score(sample: ScoreInput, responses: list[Response]) -> Scored:
    return score_programs([sample], [responses])[0]


def run_facts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Each language's pass@1 grouped by contest id (OpenCompass's ``lcbench_en`` / ``_cn``),
    their mean (the table's row) and the sandbox status counts."""
    per_contest: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        meta = sample.get("meta", {})
        per_contest[meta.get("lang", "?")][meta.get("contest", "?")].append(sample["score"])
    languages = {lang: 100 * sum(sum(v) / len(v) for v in groups.values()) / len(groups)
                 for lang, groups in sorted(per_contest.items())}
    statuses = Counter(str(s.get("extra", {}).get("status")) for s in samples)
    return {"pass@1_by_language": languages,
            "row_mean_of_languages": sum(languages.values()) / len(languages),
            "status_counts": dict(sorted(statuses.items()))}


register(Task(
    name="lcbench:opencompass",
    description="LCBench (en + cn) 3-shot pass@1 grouped by contest, OpenCompass's "
                "lcbench_gen_5ff288 (UNCERTAIN: published after the table)",
    provenance="open-compass/opencompass@a3151082 configs/datasets/LCBench/lcbench_gen_5ff288.py,"
               " LCEvaluator/LCPassKEvaluator of OC@704853e5; PROTOCOLS_MORE.md B6 (uncertain); "
               'EVALUATION.md "LCBench"',
    shots=3,
    data_files=tuple(FILES.values()),
    load=load,
    build=build,
    score=score,
    score_many=score_programs,
    aggregation=Aggregation(metric="pass@1"),  # weighted: see the module docstring
    params={"rounds_en": EN, "rounds_cn": CN, "max_new_tokens": MAX_NEW_TOKENS, "stops": (),
            "timeout_s": TIMEOUT_S, "decoding": "greedy", "first_test_row": FIRST_TEST_ROW,
            "program": "code+\\n+tests"},
    metric_note="uncertain protocol (config published after the table); greedy; pass@1 per "
                "contest id, then the mean",
    results_extra=run_facts,
))
