"""OpenCompass's chat configs for MATH, MBPP and BBH (PROTOCOLS_MORE C12, C14, C10; engine A2).

Rendering and stop words as :mod:`evaluate.tasks.opencompass_chat` (no system message, an extra
``"\\n"`` on every user turn built from a round, the checkpoint's other generation settings
active); the reply is cut at ``<|im_end|>``/``<|endoftext|>`` only, then scored exactly as the
base-model OpenCompass task.

- ``math:opencompass-chat`` (C12, ``math_0shot_gen_393424``): one user turn ``problem +
  "\\nPlease reason step by step, and put your final answer within \\boxed{}."``; 1,024 new
  tokens; ``math_postprocess_v2`` and ``MATHEvaluator(version='v2')`` as ``math:opencompass``.
- ``mbpp:opencompass-chat`` (C14, ``sanitized_mbpp_mdblock_gen_a447ff``): the 3 shots of X2b as
  user/assistant turns (``%%`` kept literally, no newline before the closing fence), then the
  problem's user turn; 512 new tokens; extraction and execution as ``mbpp:opencompass``.
- ``bbh:opencompass-chat`` (C10, ``bbh_gen_5b92b0``): ``bbh:opencompass``'s prompt as one user
  turn; 512 new tokens, no ``"Q:"`` stop; scored as ``bbh:opencompass``.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.requests import Response
from evaluate.scoring.math_opencompass import equiv_v2, postprocess_v2
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks import bbh, math, mbpp
from evaluate.tasks.humaneval import run_facts
from evaluate.tasks.opencompass_chat import ENGINE, STOPS, chat_provenance, chat_request, reply

MATH_OUT_LEN = 1024
OUT_LEN = 512  # mbpp and bbh
MATH_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
MBPP_TURN = ("You are an expert Python programmer, and here is your task:\n{text}\nYour code "
             "should pass these tests:\n\n{test_list}\n")
MBPP_SHOTS = (  # X2b, the shot problems of sanitized_mbpp_mdblock_gen_a447ff
    ("Write a function to find the similar elements from the given two tuple lists.",
     "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
     "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\n"
     "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
     "```python\ndef similar_elements(test_tup1, test_tup2):\n"
     "    res = tuple(set(test_tup1) & set(test_tup2))\n    return (res)```"),
    ("Write a python function to identify non-prime numbers.",
     "assert is_not_prime(2) == False\nassert is_not_prime(10) == True\n"
     "assert is_not_prime(35) == True",
     "```python\nimport math\ndef is_not_prime(n):\n    result = False\n"
     "    for i in range(2,int(math.sqrt(n)) + 1):\n        if n %% i == 0:\n"
     "            result = True\n    return result```"),
    ("Write a function to find the largest integers from a given list of numbers using heap "
     "queue algorithm.",
     "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65]\n"
     "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]\n"
     "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
     "```python\nimport heapq as hq\ndef heap_queue_largest(nums,n):\n"
     "    largest_nums = hq.nlargest(n, nums)\n    return largest_nums```"),
)


def mbpp_turn(text: str, tests: str) -> str:
    return MBPP_TURN.replace("{text}", text).replace("{test_list}", tests)


# ---- MATH, math_0shot_gen_393424 ----------------------------------------------------------------
def load_math(data: DataDir) -> list[Doc]:
    docs = math.load(data, protocol="oc2024")
    for doc in docs:
        doc.data = {"turns": (doc.data["problem"] + MATH_SUFFIX,)}
    return docs


def score_math(doc: ScoreInput, responses: list[Response]) -> Scored:
    text = reply(responses)
    predicted = postprocess_v2(text)
    return Scored(extracted=predicted, score=float(equiv_v2(predicted, doc.target)),
                  extra={"reply": text})


# ---- MBPP, sanitized_mbpp_mdblock_gen_a447ff ----------------------------------------------------
def load_mbpp(data: DataDir) -> list[Doc]:
    """The 257 test problems of ``mbpp:opencompass`` (same tests), as chat turns."""
    texts = {str(row["task_id"]): row["prompt"] for row in data.read_jsonl(mbpp.SANITIZED_FILE)}
    shots = [t for text, tests, code in MBPP_SHOTS for t in (mbpp_turn(text, tests), code)]
    docs = mbpp.load_sanitized(data)
    for doc in docs:
        doc.data = {"turns": (*shots, mbpp_turn(texts[doc.id], doc.reference["tests"])),
                    "code": doc.data["code"]}
    return docs


def score_many_mbpp(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    replies = [reply(r) for r in responses]
    codes = [mbpp.opencompass_mbpp_code(text) for text in replies]
    return [dataclasses.replace(scored, extra={**scored.extra, "reply": text})
            for scored, text in zip(mbpp.check(docs, codes, mbpp.OC_TIMEOUT_S), replies,
                                    strict=True)]


def score_mbpp(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_many_mbpp([doc], [responses])[0]


# ---- BBH, bbh_gen_5b92b0 ------------------------------------------------------------------------
def load_bbh(data: DataDir) -> list[Doc]:
    docs = bbh.load(data, header=bbh.OC_HEADER)
    for doc in docs:
        doc.data = {"turns": (doc.data["prompt"],)}
    return docs


register(Task(
    name="math:opencompass-chat",
    description="MATH 0-shot chat, 'reason step by step ... \\boxed{}', v2 post-processing and "
                "equivalence (OpenCompass math_0shot_gen_393424)",
    provenance=chat_provenance("math/math_0shot_gen_393424"),
    shots=0,
    data_files=(math.DATA_FILE,),
    load=load_math,
    build=partial(chat_request, max_new_tokens=MATH_OUT_LEN),
    score=score_math,
    aggregation=math.AGGREGATION,
    params={**ENGINE, "max_out_len": MATH_OUT_LEN, "suffix": MATH_SUFFIX,
            "postprocess": "math_postprocess_v2", "evaluator": "MATHEvaluator v2"},
    metric_note="greedy; accuracy per type and level under category:*",
    chat=True,
))

register(Task(
    name="mbpp:opencompass-chat",
    description="Sanitized MBPP 3-shot chat turns (257 test problems), OpenCompass "
                "sanitized_mbpp_mdblock_gen_a447ff",
    provenance=chat_provenance("mbpp/sanitized_mbpp_mdblock_gen_a447ff") + ", X2b",
    shots=3,
    data_files=(mbpp.SANITIZED_FILE,),
    load=load_mbpp,
    build=partial(chat_request, max_new_tokens=OUT_LEN),
    score=score_mbpp,
    score_many=score_many_mbpp,
    aggregation=Aggregation(metric="pass@1"),
    params={**ENGINE, "max_out_len": OUT_LEN, "turn": MBPP_TURN, "shots": MBPP_SHOTS,
            "test_rows": "7-263", "timeout_s": mbpp.OC_TIMEOUT_S, "program": "code+\\n+tests"},
    metric_note="greedy, 1 sample",
    results_extra=run_facts,
    chat=True,
))

register(Task(
    name="bbh:opencompass-chat",
    description="BIG-Bench Hard 3-shot CoT as one chat turn, no 'Q:' stop (OpenCompass "
                "bbh_gen_5b92b0); mean of the 27 task accuracies",
    provenance=chat_provenance("bbh/bbh_gen_5b92b0"),
    shots=3,
    data_files=bbh.DATA_FILES,
    load=load_bbh,
    build=partial(chat_request, max_new_tokens=OUT_LEN),
    score=partial(bbh.score_opencompass, stops=STOPS),
    aggregation=bbh.AGGREGATION,
    params={**ENGINE, "max_out_len": OUT_LEN, "header": bbh.OC_HEADER, "query": bbh.QUERY,
            "mc_tasks": bbh.MC_TASKS},
    metric_note="greedy; per task under task:*",
    chat=True,
))
