"""OpenCompass's chat configs for RACE, WinoGrande, HellaSwag and GPQA (PROTOCOLS_MORE C7-C9,
C15; A2). Each asks for a letter and reads it with ``first_option_postprocess`` (X5).

Rendering and decoding as :mod:`evaluate.tasks.opencompass_chat` (no system message, an extra
``"\\n"`` on every user turn built from a round, the checkpoint's other generation settings
active, the reply cut at ``<|im_end|>`` / ``<|endoftext|>``); none of these configs sets a
``max_out_len``, so the model config's 1024 applies. Rows come from the base tasks' loaders
(:mod:`.race`, :mod:`.winogrande`, :mod:`.hellaswag`, :mod:`.gpqa`), filled by plain replacement
in the loader's column order with the answer column emptied (generation mode).

- ``race:opencompass-chat`` / ``race-middle:opencompass-chat`` (C7, ``race_gen_69ee4f``): one
  user turn ``"Read the article, ...\\n\\nArticle:\\n{article}\\n\\nQ: {question}\\n\\nA. ...
  \\nD. ..."``.
- ``winogrande:opencompass-chat`` (C8, ``winogrande_5shot_gen_b36770``): train_xs rows 0, 2, 4,
  6, 8 as turns (user ``"Question: {sentence}\\nA. {option1}\\nB. {option2}\\nAnswer:"``,
  assistant the letter), then the dev question; options ``"AB"``.
- ``hellaswag:opencompass-chat`` (C9, ``hellaswag_10shot_gen_e42710``): 10 shots as turns, the
  instruction merged into the first user turn with ``"\\n"``; assistant ``label + "\\n"``.
- ``gpqa:opencompass-chat`` (C15, ``gpqa_gen_4baadb``): one user turn, options placed as
  ``gpqa:opencompass`` places them. ``private_text``: records keep no question text, and the
  sample records keep no reply (a reply may quote the options; ``responses.jsonl`` has it).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.requests import Response
from evaluate.scoring.opencompass import first_option
from evaluate.task import Doc, Scored, ScoreInput, Task
from evaluate.tasks import gpqa, hellaswag, race, winogrande
from evaluate.tasks import opencompass as oc
from evaluate.tasks.multiple_choice import require_answer
from evaluate.tasks.opencompass_chat import (
    ENGINE,
    MAX_OUT_LEN,
    chat_provenance,
    chat_request,
    reply,
)

RACE_USER = ("Read the article, and answer the question by replying A, B, C or D.\n\n"
             "Article:\n{article}\n\nQ: {question}\n\nA. {A}\nB. {B}\nC. {C}\nD. {D}")
WINOGRANDE_USER = "Question: {prompt}\nA. {only_option1}\nB. {only_option2}\nAnswer:"
GPQA_USER = ("What is the correct answer to this question: {question}\nChoices:\n(A){A}\n(B){B}"
             "\n(C){C}\n(D){D}\nFormat your response as follows: "
             '"The correct answer is (insert answer here)"')


def score_option(sample: ScoreInput, responses: list[Response], options: str,
                 keep_reply: bool = True) -> Scored:
    """``first_option_postprocess(reply, options)`` against the gold letter."""
    text = reply(responses)
    guess = first_option(text, options)
    extra: dict[str, Any] = {"reply": text} if keep_reply else {"reply_chars": len(text)}
    return Scored(extracted=guess, score=float(guess == sample.target), extra=extra)


# ---- RACE, race_gen_69ee4f ---------------------------------------------------------------------
def load_race(data: DataDir, level: str) -> list[Doc]:
    """``race:opencompass``'s rows and ids (``<article>/<question number>``)."""
    docs: list[Doc] = []
    seen: dict[str, int] = {}
    for row in race.rows(data, level):
        article = str(row["example_id"]).removesuffix(".txt")
        seen[article] = number = seen.get(article, -1) + 1
        require_answer(str(row["answer"]), f"race/RACE/test/{level}/{row['example_id']}")
        docs.append(Doc(id=f"{article}/{number}", target=row["answer"],
                        data={"turns": (oc.fill(RACE_USER, oc.gen_row(row, "answer")),)}))
    return docs


# ---- WinoGrande, winogrande_5shot_gen_b36770 ---------------------------------------------------
def load_winogrande(data: DataDir) -> list[Doc]:
    train = winogrande.rows(data, "winogrande/train_xs.jsonl")
    shots = [t for i in winogrande.SHOT_ROWS
             for t in (oc.fill(WINOGRANDE_USER, train[i]), train[i]["answer"])]
    docs = []
    for number, row in enumerate(winogrande.rows(data, "winogrande/dev.jsonl")):
        user = oc.fill(WINOGRANDE_USER, oc.gen_row(row, "answer"))
        docs.append(Doc(id=str(number), target=row["answer"], data={"turns": (*shots, user)}))
    return docs


# ---- HellaSwag, hellaswag_10shot_gen_e42710 ----------------------------------------------------
def load_hellaswag(data: DataDir) -> list[Doc]:
    train = hellaswag.rows(data, "hellaswag/hellaswag_train_sampled25.jsonl")[:hellaswag.SHOTS]
    shots = [t for r in train for t in (oc.fill(hellaswag.QUESTION, r), r["label"] + "\n")]
    shots[0] = hellaswag.HINT + "\n" + "\n" + shots[0]  # the begin item, merged with "\n"
    docs = []
    for number, row in enumerate(hellaswag.rows(data, "hellaswag/hellaswag.jsonl")):
        user = oc.fill(hellaswag.QUESTION, oc.gen_row(row, "label"))
        docs.append(Doc(id=str(number), target=row["label"], data={"turns": (*shots, user)}))
    return docs


# ---- GPQA diamond, gpqa_gen_4baadb -------------------------------------------------------------
def load_gpqa(data: DataDir) -> list[Doc]:
    return [Doc(id=str(number), target=row["answer"],
                data={"turns": (oc.fill(GPQA_USER, oc.gen_row(row, "answer")),)})
            for number, row in enumerate(gpqa.rows(data))]


def _task(name: str, config: str, options: str, **fields: Any) -> Task:
    params = {**ENGINE, "max_out_len": MAX_OUT_LEN, "postprocess": f"first_option {options}",
              **fields.pop("params")}
    return register(Task(name=name, provenance=chat_provenance(config),
                         build=chat_request, chat=True, params=params, **fields))


RACE = _task(
    "race:opencompass-chat", "race/race_gen_69ee4f", "ABCD",
    description="RACE-high test, 0-shot chat turn, first_option_postprocess (OpenCompass "
                "race_gen_69ee4f)",
    shots=0, data_files=race.HIGH.data_files, load=functools.partial(load_race, level="high"),
    score=functools.partial(score_option, options="ABCD"), params={"user": RACE_USER},
    metric_note="accuracy over 3,498 questions")
RACE_MIDDLE = register(dataclasses.replace(
    RACE, name="race-middle:opencompass-chat",
    description="RACE-middle test, 0-shot chat turn, first_option_postprocess (OpenCompass "
                "race_gen_69ee4f)",
    data_files=race.MIDDLE.data_files, load=functools.partial(load_race, level="middle"),
    metric_note="accuracy over 1,436 questions"))
WINOGRANDE = _task(
    "winogrande:opencompass-chat", "winogrande/winogrande_5shot_gen_b36770", "AB",
    description="WinoGrande dev, 5-shot chat turns, first_option_postprocess (OpenCompass "
                "winogrande_5shot_gen_b36770)",
    shots=len(winogrande.SHOT_ROWS), data_files=winogrande.TASK.data_files,
    load=load_winogrande, score=functools.partial(score_option, options="AB"),
    params={"user": WINOGRANDE_USER, "assistant": "{answer}", "shots": winogrande.SHOT_ROWS},
    metric_note="accuracy over 1,267")
HELLASWAG = _task(
    "hellaswag:opencompass-chat", "hellaswag/hellaswag_10shot_gen_e42710", "ABCD",
    description="HellaSwag validation, 10-shot chat turns, first_option_postprocess "
                "(OpenCompass hellaswag_10shot_gen_e42710)",
    shots=hellaswag.SHOTS, data_files=hellaswag.TASK.data_files, load=load_hellaswag,
    score=functools.partial(score_option, options="ABCD"),
    params={"begin": hellaswag.HINT + "\n", "user": hellaswag.QUESTION,
            "assistant": "{label}\n", "shots": "train_sampled25 rows 0-9"},
    metric_note="accuracy over 10,042")
GPQA = _task(
    "gpqa:opencompass-chat", "gpqa/gpqa_gen_4baadb", "ABCD",
    description="GPQA diamond, 0-shot chat turn, first_option_postprocess (OpenCompass "
                "gpqa_gen_4baadb)",
    shots=0, data_files=gpqa.TASK.data_files, load=load_gpqa,
    score=functools.partial(score_option, options="ABCD", keep_reply=False),
    params={"user": GPQA_USER, "patterns": gpqa.PATTERNS}, metric_note="accuracy over 198",
    private_text=True)
