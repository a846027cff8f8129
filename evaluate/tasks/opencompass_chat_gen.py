"""OpenCompass's chat generation configs: GSM8K and HumanEval (PROTOCOLS_MORE C11, C13; engine A2).

Rendering and stop words as :mod:`evaluate.tasks.opencompass_chat` (no system message, an extra
``"\\n"`` on every user turn built from a round, the checkpoint's other generation settings
active).

- ``gsm8k:opencompass-chat`` (C11, ``gsm8k_gen_1d7fe4``): the 4 shots of ``gsm8k_gen_17d0dc`` as
  user/assistant turns, then ``"Question: {q}\\nLet's think step by step\\nAnswer:"``; 512 new
  tokens, no dataset stop; scored as ``gsm8k_gen_17d0dc`` (cut at ``"Question:"``, last
  ``-?\\d+\\.\\d+|-?\\d+``, ``abs(float(pred) - int(gold)) < 1e-6``).
- ``humaneval:opencompass-chat`` (C13, ``humaneval_gen_8e312c``): one user turn
  ``"Complete the following python code:\\n" + prompt``; 512 new tokens; the reply through the
  2024-03..06 ``humaneval_postprocess_v2`` (:func:`evaluate.scoring.opencompass.humaneval_v2`);
  ``prompt + completion + test + check(entry_point)`` in the sandbox, 3 s; pass@1.
"""

from __future__ import annotations

from functools import partial

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.requests import Response
from evaluate.scoring.opencompass import humaneval_v2
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks import gsm8k, humaneval
from evaluate.tasks.opencompass_chat import ENGINE, chat_provenance, chat_request, reply

MAX_OUT_LEN = 512  # both configs set max_out_len=512
HUMANEVAL_HEADER = "Complete the following python code:\n"


def load_gsm8k(data: DataDir) -> list[Doc]:
    docs = gsm8k.load(data, with_prompt=False)
    shots = [t for q, a in gsm8k.OC_SHOTS for t in (gsm8k.OC_TURN.format(question=q), a)]
    for doc in docs:
        doc.data = {"turns": (*shots, gsm8k.OC_TURN.format(question=doc.data["question"]))}
    return docs


def score_gsm8k(doc: ScoreInput, responses: list[Response]) -> Scored:
    text = reply(responses)
    predicted = gsm8k.opencompass_prediction(text)
    gold = gsm8k.opencompass_gold(doc.target)
    return Scored(extracted=predicted, score=float(gsm8k.opencompass_equal(predicted, gold)),
                  extra={"reply": text, "gold": gold})


def load_humaneval(data: DataDir) -> list[Doc]:
    """HumanEval's problems; ``target`` is the test harness (prompt, test, entry point)."""
    docs = humaneval.load(data)
    for doc in docs:
        doc.target = {key: doc.data[key] for key in ("prompt", "test", "entry_point")}
        doc.data = {"turns": (HUMANEVAL_HEADER + doc.target["prompt"],)}
    return docs


def score_humaneval(docs: list[ScoreInput], responses: list[list[Response]]) -> list[Scored]:
    from evaluate.sandbox import Limits, run_programs

    replies = [reply(r) for r in responses]
    completions = [humaneval_v2(text) for text in replies]
    programs = [humaneval.program(doc.target, completion)
                for doc, completion in zip(docs, completions, strict=True)]
    results = run_programs(programs, Limits(timeout_s=humaneval.TIMEOUT_S),
                           progress=len(programs) > 1)
    return [Scored(extracted=completion, score=float(result.passed),
                   extra={"reply": text, "status": result.status, "detail": result.detail})
            for completion, text, result in zip(completions, replies, results, strict=True)]


def score_humaneval_one(doc: ScoreInput, responses: list[Response]) -> Scored:
    return score_humaneval([doc], [responses])[0]


register(Task(
    name="gsm8k:opencompass-chat",
    description="GSM8K 4-shot chat turns (OpenCompass gsm8k_gen_1d7fe4)",
    provenance=chat_provenance("gsm8k/gsm8k_gen_1d7fe4"),
    shots=4,
    data_files=(gsm8k.DATA_FILE,),
    load=load_gsm8k,
    build=partial(chat_request, max_new_tokens=MAX_OUT_LEN),
    score=score_gsm8k,
    params={**ENGINE, "max_out_len": MAX_OUT_LEN, "shots": gsm8k.OC_SHOTS,
            "turn": gsm8k.OC_TURN, "prediction": gsm8k.OC_NUMBER_RE.pattern,
            "comparison": "pred == gold or abs(float(pred) - int(gold)) < 1e-6"},
    metric_note="greedy",
    chat=True,
))

register(Task(
    name="humaneval:opencompass-chat",
    description="HumanEval 0-shot chat, humaneval_postprocess_v2 of 2024-05 (OpenCompass "
                "humaneval_gen_8e312c)",
    provenance=chat_provenance("humaneval/humaneval_gen_8e312c"),
    shots=0,
    data_files=(humaneval.DATA_FILE,),
    load=load_humaneval,
    build=partial(chat_request, max_new_tokens=MAX_OUT_LEN),
    score=score_humaneval_one,
    score_many=score_humaneval,
    aggregation=Aggregation(metric="pass@1"),
    params={**ENGINE, "max_out_len": MAX_OUT_LEN, "header": HUMANEVAL_HEADER,
            "postprocess": "humaneval_postprocess_v2 (2024-03-04..2024-06-28)",
            "timeout_s": humaneval.TIMEOUT_S},
    metric_note="greedy, 1 sample",
    results_extra=humaneval.run_facts,
    chat=True,
))
