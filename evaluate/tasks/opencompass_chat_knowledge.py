"""OpenCompass's chat configs for GaokaoBench, TriviaQA and NQ-open (PROTOCOLS_MORE C4-C6; A2).

Rendering and decoding as :mod:`evaluate.tasks.opencompass_chat` (no system message, an extra
``"\\n"`` on every user turn built from a round, the checkpoint's other generation settings
active, the reply cut at ``<|im_end|>`` / ``<|endoftext|>`` and the dataset's own stops). The rows
come from the base tasks' loaders (:mod:`.gaokao`, :mod:`.open_qa`); scoring is theirs.

- ``gaokao:opencompass-chat`` (C4, ``GaokaoBench_no_subjective_gen_4c31db``): one user turn,
  the subset's prefix + ``question`` (+ ``"\\n"``); 1024 new tokens; answers read per question
  type and weighted as ``gaokao:opencompass``.
- ``triviaqa:opencompass-chat`` (C5, ``triviaqa_wiki_1shot_gen_eaf81e``): user ``"Q: {q0}"``,
  assistant ``"A: {a0}.\\n"``, user ``"Q: {question}"``; the final ``"A:"`` BOT slot is dropped.
  50 new tokens, stops ``"Q:"`` and ``"\\n"``; TriviaQA's alias-substring scoring.
- ``nq:opencompass-chat`` (C6, ``nq_open_1shot_gen_01cf41``): the same with ``"?"`` after both
  questions; NQ's scoring (only the ``"answer is"`` split).
"""

from __future__ import annotations

import functools
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.task import Doc, Scored, ScoreInput, Task
from evaluate.tasks import gaokao, open_qa
from evaluate.tasks import opencompass as oc
from evaluate.tasks.opencompass_chat import (
    ENGINE,
    MAX_OUT_LEN,
    STOPS,
    chat_provenance,
    chat_request,
    reply,
    round_conversation,
)

QA_STOPS = (*STOPS, *open_qa.STOPS)  # the checkpoint's eos strings, then the dataset's
QA_BOT = "A: {answer}.\n"


# ---- GaokaoBench, GaokaoBench_no_subjective_gen_4c31db -----------------------------------------
def load_gaokao(data: DataDir) -> list[Doc]:
    """``gaokao:opencompass``'s questions; its prompt (prefix + question) becomes the user turn."""
    docs = gaokao.load(data)
    for doc in docs:
        doc.data = {"turns": (doc.data["prompt"],)}
    return docs


def score_gaokao(sample: ScoreInput, responses: list[Response]) -> Scored:
    text = reply(responses)
    kind = sample.meta["type"]
    predicted = gaokao.predictions(text, kind, len(sample.target))
    earned, maximum = gaokao.points(predicted, list(sample.target), kind)
    return Scored(extracted=predicted, score=earned / maximum, weight=maximum,
                  extra={"reply": text, "points": earned})


# ---- TriviaQA and NQ-open, *_1shot_gen_eaf81e / 01cf41 -----------------------------------------
def load_qa(data: DataDir, folder: str, name: str, default: dict[str, Any], first_answer: bool,
            human: str) -> list[Doc]:
    """The base task's shot (train row 0, or its stated default) and validation rows as turns."""
    shot = open_qa.shot_row(data, f"{folder}/{name}-train.jsonl", default, first_answer)
    shots = (oc.fill(human, shot), oc.fill(QA_BOT, shot))
    docs = []
    test = f"{folder}/{name}-validation.jsonl"
    for number, row in enumerate(data.read_jsonl(test)):
        require_fields(row, ("question", "answer"), f"{test}:{number + 1}")
        if not isinstance(row["answer"], list):
            raise MalformedDataError(f"{test}:{number + 1}: answer is not a list")
        fields = oc.gen_row({"question": row["question"], "answer": row["answer"]}, "answer")
        docs.append(Doc(id=str(number), target=row["answer"],
                        data={"turns": (*shots, oc.fill(human, fields))}))
    return docs


def build_qa(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context="", chat=round_conversation(doc.data["turns"]),
                            stop=QA_STOPS, max_new_tokens=open_qa.MAX_NEW_TOKENS,
                            repetition_penalty=None)]


def score_qa(sample: ScoreInput, responses: list[Response], splits: tuple[str, ...]) -> Scored:
    text = cut_at_stops(responses[0]["text"], QA_STOPS)
    predicted = open_qa.prediction(text, splits)
    aliases = [oc.general_postprocess(a).lower() for a in sample.target]
    return Scored(extracted=predicted, score=float(any(a in predicted for a in aliases)),
                  extra={"reply": text})


def _task(name: str, config: str, **fields: Any) -> Task:
    return register(Task(name=name, provenance=chat_provenance(config),
                         chat=True, **fields))


GAOKAO = _task(
    "gaokao:opencompass-chat", "GaokaoBench/GaokaoBench_no_subjective_gen_4c31db",
    description="GAOKAO-Bench objective questions (14 MCQ subsets), 0-shot chat turn "
                "(OpenCompass GaokaoBench_no_subjective_gen_4c31db)",
    shots=0, data_files=gaokao.TASK.data_files, load=load_gaokao, build=chat_request,
    score=score_gaokao, aggregation=gaokao.TASK.aggregation,
    params={**ENGINE, "max_out_len": MAX_OUT_LEN, "subsets": gaokao.SUBSETS,
            "user": "prefix + question + \\n"},
    metric_note="weighted average of 14 subset scores", subjects=gaokao.TASK.subjects)

TRIVIAQA = _task(
    "triviaqa:opencompass-chat", "triviaqa/triviaqa_wiki_1shot_gen_eaf81e",
    description="TriviaQA (wikipedia, no context) 1-shot chat turns (OpenCompass "
                "triviaqa_wiki_1shot_gen_eaf81e)",
    shots=1, data_files=open_qa.TRIVIAQA.data_files,
    load=functools.partial(load_qa, folder="triviaqa", name="triviaqa",
                           default=open_qa.TRIVIAQA_SHOT, first_answer=False,
                           human="Q: {question}"),
    build=build_qa, score=functools.partial(score_qa, splits=open_qa.TRIVIAQA_SPLITS),
    params={**ENGINE, "stops": QA_STOPS, "max_out_len": open_qa.MAX_NEW_TOKENS,
            "user": "Q: {question}", "assistant": QA_BOT, "shot": open_qa.TRIVIAQA_SHOT},
    metric_note="% of questions with a gold alias inside the normalised prediction")

NQ = _task(
    "nq:opencompass-chat", "nq/nq_open_1shot_gen_01cf41",
    description="NQ-open 1-shot chat turns (OpenCompass nq_open_1shot_gen_01cf41)",
    shots=1, data_files=open_qa.NQ.data_files,
    load=functools.partial(load_qa, folder="nq-open", name="nq-open", default=open_qa.NQ_SHOT,
                           first_answer=True, human="Q: {question}?"),
    build=build_qa, score=functools.partial(score_qa, splits=open_qa.NQ_SPLITS),
    params={**ENGINE, "stops": QA_STOPS, "max_out_len": open_qa.MAX_NEW_TOKENS,
            "user": "Q: {question}?", "assistant": QA_BOT, "shot": open_qa.NQ_SHOT},
    metric_note="% of questions with a gold answer inside the normalised prediction")
