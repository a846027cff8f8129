"""TriviaQA and NQ-open, 1-shot generation as OpenCompass ran them on base models
(``triviaqa_wiki_1shot_gen_20a989``, ``nq_open_1shot_gen_20a989``; PROTOCOLS_MORE.md B9/B10;
EVALUATION.md "TriviaQA and NQ-open").

Prompt (rendered by :mod:`evaluate.tasks.opencompass`: a string ice template, one shot, separator
and end ``"\\n"``): ``"Q: {q0}\\nA: {a0}.\\n" + "\\n" + "Q: {question}\\nA: "``; greedy, at most 50
new tokens, stops ``"Q:"`` and ``"\\n"``. The shot is row 0 of the train file, which is not in the
data folder: when ``<dir>/<name>-train.jsonl`` exists its first row is used, else the row named
below (NQ: the data NOTICE gives it; TriviaQA: an assumption, see EVALUATION.md).

Scoring: the prediction's first line, lower-cased, is cut after the last ``"answer is"`` (TriviaQA
also after the last ``"a:"`` and ``"answer:"``), stripped and passed through
``general_postprocess``; correct when any gold alias, normalised the same way and lower-cased, is a
substring of it.
"""

from __future__ import annotations

import functools
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response
from evaluate.task import Doc, Scored, ScoreInput, Task
from evaluate.tasks import opencompass as oc

MAX_NEW_TOKENS = 50
STOPS = ("Q:", "\n")
ICE = "Q: {question}\nA: {answer}.\n"
PROMPT = "</E>Q: {question}\nA: "
# Row 0 of the train files when they are not given (EVALUATION.md says how certain each is).
NQ_SHOT = {"question": "where did they film hot tub time machine",
           "answer": ["Fernie Alpine Resort"]}
TRIVIAQA_SHOT = {"question": "Which American-born Sinclair won the Nobel Prize for Literature "
                             "in 1930?", "answer": "Sinclair Lewis"}


def shot_row(data: DataDir, train: str, default: dict[str, Any], first_answer: bool
             ) -> dict[str, Any]:
    """The first train row (``answer[0]`` for NQ; TriviaQA's answer as stored)."""
    if (data.root / train).is_file():
        row = data.read_jsonl(train)[0]
        require_fields(row, ("question", "answer"), f"{train}:1")
    else:
        row = dict(default)
    if first_answer:
        row["answer"] = row["answer"][0]
    return {"question": row["question"], "answer": row["answer"]}


def load(data: DataDir, folder: str, name: str, default: dict[str, Any],
         first_answer: bool) -> list[Doc]:
    shot = shot_row(data, f"{folder}/{name}-train.jsonl", default, first_answer)
    ice = oc.string_ice(ICE, [shot], "answer")
    docs = []
    test = f"{folder}/{name}-validation.jsonl"
    for number, row in enumerate(data.read_jsonl(test)):
        require_fields(row, ("question", "answer"), f"{test}:{number + 1}")
        if not isinstance(row["answer"], list):
            raise MalformedDataError(f"{test}:{number + 1}: answer is not a list")
        fields = oc.gen_row({"question": row["question"], "answer": row["answer"]}, "answer")
        docs.append(Doc(id=str(number), target=row["answer"],
                        data={"prompt": oc.string_prompt(PROMPT, ice, fields)}))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=STOPS,
                            max_new_tokens=MAX_NEW_TOKENS)]


def prediction(text: str, splits: tuple[str, ...]) -> str:
    """The evaluator's answer: first line, lower-cased, after the last of each marker."""
    text = text.strip().split("\n")[0].lower()
    for marker in splits:
        text = text.split(marker)[-1]
    return oc.general_postprocess(text.strip())


def score(sample: ScoreInput, responses: list[Response], splits: tuple[str, ...]) -> Scored:
    completion = oc.base_output(responses[0]["text"], STOPS)
    predicted = prediction(completion, splits)
    aliases = [oc.general_postprocess(a).lower() for a in sample.target]
    return Scored(extracted=predicted, score=float(any(a in predicted for a in aliases)),
                  extra={"completion": completion})


TRIVIAQA_SPLITS = ("answer is", "a:", "answer:")
NQ_SPLITS = ("answer is",)

TRIVIAQA = register(Task(
    name="triviaqa:opencompass",
    description="TriviaQA (wikipedia, no context) 1-shot generation (OpenCompass "
                "triviaqa_wiki_1shot_gen_20a989)",
    provenance='OpenCompass configs/datasets/triviaqa/triviaqa_wiki_1shot_gen_20a989.py, '
               'TriviaQAEvaluator; EVALUATION.md "TriviaQA and NQ-open"',
    shots=1,
    data_files=("triviaqa/triviaqa-validation.jsonl",),
    load=functools.partial(load, folder="triviaqa", name="triviaqa", default=TRIVIAQA_SHOT,
                           first_answer=False),
    build=build,
    score=functools.partial(score, splits=TRIVIAQA_SPLITS),
    params={"ice": ICE, "prompt": PROMPT, "stop": STOPS, "max_new_tokens": MAX_NEW_TOKENS,
            "shot": TRIVIAQA_SHOT},
    metric_note="% of questions with a gold alias inside the normalised prediction",
))

NQ = register(Task(
    name="nq:opencompass",
    description="NQ-open 1-shot generation (OpenCompass nq_open_1shot_gen_20a989)",
    provenance='OpenCompass configs/datasets/nq/nq_open_1shot_gen_20a989.py, NQEvaluator; '
               'EVALUATION.md "TriviaQA and NQ-open"',
    shots=1,
    data_files=("nq-open/nq-open-validation.jsonl",),
    load=functools.partial(load, folder="nq-open", name="nq-open", default=NQ_SHOT,
                           first_answer=True),
    build=build,
    score=functools.partial(score, splits=NQ_SPLITS),
    params={"ice": ICE, "prompt": PROMPT, "stop": STOPS, "max_new_tokens": MAX_NEW_TOKENS,
            "shot": NQ_SHOT},
    metric_note="% of questions with a gold answer inside the normalised prediction",
))
