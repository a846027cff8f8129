"""MBPP (Austin et al. 2021), 3-shot, pass@1 with greedy decoding.

``mbpp`` -- the original 3-shot format as lm-evaluation-harness ``mbpp`` runs it (LM@1a56f61a;
PROTOCOLS_MORE §E; Qwen's tech report Table 2 says MBPP 3-shot, no script was published):

- Data: ``mbpp/mbpp.jsonl``; shots = task ids 2, 3, 4; test = task ids 11-510 (500 problems).
- One problem: ``"You are an expert Python programmer, and here is your task: {text} Your code
  should pass these tests:\\n\\n{t0}\\n{t1}\\n{t2}\\n[BEGIN]\\n"``; a shot adds its code (with the
  release's ``\\r\\n`` line ends) + ``"\\n[DONE]"``; shots and query joined with ``"\\n\\n"``.
- Greedy, stop ``[DONE]``, 512 new tokens (Qwen's generation limit; lm-eval's default would be
  256: uncertain). Code = lm-eval's ``extract_code_blocks`` of the reply.
- Program = code + ``"\\n"`` + the three tests joined with ``"\\n"`` (``test_setup_code`` and the
  challenge tests are unused), run in the sandbox with a 3 s limit (HF ``code_eval``'s default).

``mbpp:opencompass`` -- ``sanitized_mbpp_gen_742f0c`` (OC@2954913d; PROTOCOLS_MORE B5, X2):
the 257 sanitized test problems (rows 7-263 of ``sanitized-mbpp.jsonl``), the fixed 3-shot
template X2 (no ``[BEGIN]`` after the query), 512 new tokens, no stop; OpenCompass's extraction
cascade; program = code + ``"\\n"`` + the tests (``test_imports`` unused), 10 s per program
(OpenCompass: a 9 s alarm inside a 10 s process timeout). score = 100 * pass / 257.

``mbpp:opencompass-2023`` -- ``mbpp_gen_1e1056`` (OC@2c915218), the config OpenCompass used to
reproduce Qwen-7B in Sept 2023 (31.20 against the reported 31.6; PROTOCOLS_MORE §E): test ids
11-510, the shots as HUMAN/BOT rounds rendered for a base model
(``[BEGIN]\\n '<code>' \\n[DONE] \\n\\n ``), the query ending ``{test_list}  \\n`` +
``"\\n[BEGIN]\\n"``; 512 new tokens, no stop, the prompt left-truncated to 1,536 tokens; the 2023
extraction; program = code + ``"\\n"`` + all the tests, 2 s. OpenCompass ran the programs with
``exec`` in its own process, one after another (imports could leak between problems); here each
runs alone in the sandbox.

Each sample records the sandbox status (``passed``, ``failed`` = an AssertionError, ``error``,
``timeout``, ...); ``results.json`` counts them under ``task_extra``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.mbpp_code import (
    lm_eval_code,
    opencompass_2023_code,
    opencompass_mbpp_code,
)
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks.humaneval import run_facts
from evaluate.tasks.mbpp_prompts import OC2023_TEMPLATE, OC_SANITIZED_TEMPLATE

DATA_FILE = "mbpp/mbpp.jsonl"
SANITIZED_FILE = "mbpp/sanitized-mbpp.jsonl"
SHOT_IDS = (2, 3, 4)
TEST_IDS = range(11, 511)
SANITIZED_TEST_ROWS = range(7, 264)
MAX_NEW_TOKENS = 512
STOPS = ("[DONE]", "<|endoftext|>")
OC_STOPS = ("<|endoftext|>", "<|im_end|>")  # decoded with skip_special_tokens
TIMEOUT_S = 3.0
OC_TIMEOUT_S = 10.0
OC2023_TIMEOUT_S = 2.0
OC2023_CONTEXT_TOKENS = 2048 - MAX_NEW_TOKENS  # the model config's max_seq_len minus max_out_len
QUERY = ("You are an expert Python programmer, and here is your task: {text} Your code should "
         "pass these tests:\n\n{tests}\n[BEGIN]\n")


def _query(row: dict[str, Any]) -> str:
    return QUERY.replace("{text}", row["text"]).replace("{tests}", "\n".join(row["test_list"][:3]))


def load(data: DataDir) -> list[Doc]:
    rows = {}
    for number, row in enumerate(data.read_jsonl(DATA_FILE), 1):
        require_fields(row, ("task_id", "text", "code", "test_list"), f"{DATA_FILE}:{number}")
        rows[row["task_id"]] = row
    missing = [i for i in (*SHOT_IDS, *TEST_IDS) if i not in rows]
    if missing:
        raise MalformedDataError(f"{DATA_FILE}: no task_id {missing[0]} (shots 2-4, test 11-510)")
    shots = "\n\n".join(_query(rows[i]) + rows[i]["code"] + "\n[DONE]" for i in SHOT_IDS)
    return [Doc(id=str(i), target=rows[i]["code"],
                reference={"tests": "\n".join(rows[i]["test_list"][:3])},
                data={"prompt": shots + "\n\n" + _query(rows[i]), "code": rows[i]["code"],
                      "oc2023": _oc2023_prompt(rows[i]),
                      "all_tests": "\n".join(rows[i]["test_list"])})
            for i in TEST_IDS]


def _oc2023_prompt(row: dict[str, Any]) -> str:
    tests = "\n".join(row["test_list"])
    return OC2023_TEMPLATE.replace("{text}", row["text"]).replace("{test_list}", tests)


def load_oc2023(data: DataDir) -> list[Doc]:
    """``mbpp_gen_1e1056``: all of each problem's tests (``test_list``) are checked."""
    return [Doc(id=d.id, target=d.target, reference={"tests": d.data["all_tests"]},
                data={"prompt": d.data["oc2023"], "code": d.data["code"]})
            for d in load(data)]


def load_sanitized(data: DataDir) -> list[Doc]:
    rows = data.read_jsonl(SANITIZED_FILE)
    if len(rows) < SANITIZED_TEST_ROWS.stop:
        raise MalformedDataError(f"{SANITIZED_FILE}: {len(rows)} rows, expected 427")
    docs = []
    for index in SANITIZED_TEST_ROWS:
        row = rows[index]
        require_fields(row, ("task_id", "prompt", "code", "test_list"), f"{SANITIZED_FILE}:{index}")
        tests = "\n".join(row["test_list"])
        prompt = OC_SANITIZED_TEMPLATE.replace("{text}", row["prompt"])
        docs.append(Doc(id=str(row["task_id"]), target=row["code"], reference={"tests": tests},
                        data={"prompt": prompt.replace("{test_list}", tests),
                              "code": row["code"]}))
    return docs


def build(doc: Doc, stops: tuple[str, ...] = STOPS) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=stops,
                            max_new_tokens=MAX_NEW_TOKENS)]


def check(docs: list[ScoreInput], codes: list[str], timeout_s: float,
          workers: int | None = None) -> list[Scored]:
    """Run ``code + "\\n" + tests`` for every sample in the sandbox, in parallel (``workers``
    programs at a time; default one per core)."""
    from evaluate.sandbox import Limits, run_programs

    programs = [code + "\n" + doc.reference["tests"]
                for doc, code in zip(docs, codes, strict=True)]
    results = run_programs(programs, Limits(timeout_s=timeout_s), workers=workers,
                           progress=len(programs) > 1)
    return [Scored(extracted=code, score=float(result.passed),
                   extra={"status": result.status, "detail": result.detail})
            for code, result in zip(codes, results, strict=True)]


def score_many(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    codes = [lm_eval_code(cut_at_stops(r[0]["text"], STOPS)) for r in responses]
    return check(docs, codes, TIMEOUT_S)


def score_many_opencompass(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    codes = [opencompass_mbpp_code(cut_at_stops(r[0]["text"], OC_STOPS)) for r in responses]
    return check(docs, codes, OC_TIMEOUT_S)


def score_many_oc2023(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    codes = [opencompass_2023_code(cut_at_stops(r[0]["text"], OC_STOPS)) for r in responses]
    return check(docs, codes, OC2023_TIMEOUT_S)


def build_oc2023(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=OC_STOPS,
                            max_new_tokens=MAX_NEW_TOKENS,
                            max_context_tokens=OC2023_CONTEXT_TOKENS)]


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_many([doc], [responses])[0]


def score_oc2023(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_many_oc2023([doc], [responses])[0]


def score_opencompass(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_many_opencompass([doc], [responses])[0]


register(Task(
    name="mbpp",
    description="MBPP 3-shot (shots 2-4, test 11-510), greedy, stop [DONE], pass@1",
    provenance="Austin et al. 2021 format; lm-evaluation-harness@1a56f61a "
               "lm_eval/tasks/mbpp (PROTOCOLS_MORE §E; uncertain: no Qwen script)",
    shots=3,
    data_files=(DATA_FILE,),
    load=load,
    build=build,
    score=score,
    score_many=score_many,
    aggregation=Aggregation(metric="pass@1"),
    params={"query": QUERY, "shot_ids": SHOT_IDS, "test_ids": "11-510", "stops": STOPS,
            "max_new_tokens": MAX_NEW_TOKENS, "timeout_s": TIMEOUT_S, "decoding": "greedy",
            "program": "code+\\n+tests[:3]"},
    metric_note="greedy, 1 sample",
    results_extra=run_facts,
))

register(Task(
    name="mbpp:opencompass",
    description="Sanitized MBPP 3-shot (257 test problems), OpenCompass sanitized_mbpp_gen_742f0c",
    provenance="OpenCompass@2954913d configs/datasets/mbpp/sanitized_mbpp_gen_742f0c.py, "
               "opencompass/datasets/mbpp.py (PROTOCOLS_MORE B5, X2)",
    shots=3,
    data_files=(SANITIZED_FILE,),
    load=load_sanitized,
    build=partial(build, stops=OC_STOPS),
    score=score_opencompass,
    score_many=score_many_opencompass,
    aggregation=Aggregation(metric="pass@1"),
    params={"template": OC_SANITIZED_TEMPLATE, "test_rows": "7-263", "stops": OC_STOPS,
            "max_new_tokens": MAX_NEW_TOKENS, "timeout_s": OC_TIMEOUT_S, "decoding": "greedy",
            "program": "code+\\n+tests"},
    metric_note="greedy, 1 sample",
    results_extra=run_facts,
))

register(Task(
    name="mbpp:opencompass-2023",
    description="MBPP 3-shot (test 11-510) as OpenCompass reproduced Qwen-7B in 2023 "
                "(mbpp_gen_1e1056)",
    provenance="OpenCompass@2c915218 configs/datasets/mbpp/mbpp_gen_1e1056.py, "
               "opencompass/datasets/mbpp.py (PROTOCOLS_MORE §E)",
    shots=3,
    data_files=(DATA_FILE,),
    load=load_oc2023,
    build=build_oc2023,
    score=score_oc2023,
    score_many=score_many_oc2023,
    aggregation=Aggregation(metric="pass@1"),
    params={"template": OC2023_TEMPLATE, "test_ids": "11-510", "stops": OC_STOPS,
            "max_new_tokens": MAX_NEW_TOKENS, "max_context_tokens": OC2023_CONTEXT_TOKENS,
            "timeout_s": OC2023_TIMEOUT_S, "decoding": "greedy", "program": "code+\\n+tests"},
    metric_note="greedy, 1 sample",
    results_extra=run_facts,
))
