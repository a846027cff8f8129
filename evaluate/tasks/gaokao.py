# ruff: noqa: E501  (the prompts are long Chinese string literals, kept one piece per line)
"""GAOKAO-Bench objective questions, 0-shot generation as OpenCompass ran them on base models
(``GaokaoBench_no_subjective_gen_d21e37``; PROTOCOLS_MORE.md B8 and X6; EVALUATION.md
"GaokaoBench").

Prompt (a plain string template) = the subset's prefix + ``question``; greedy, at most 1024 new
tokens, no stop strings. Per subset the answer is read from the output by its question type
(``GaokaoBenchEvaluator``: single_choice, multi_question_choice, multi_choice, five_out_of_seven),
a prediction list of the wrong length becomes ``["Z"] * len(answer)``, and each sub-answer earns a
point (multi_choice: 2 if equal, 1 if every predicted letter is in the answer, out of 2). A
sample's score is points / maximum, weighted by its maximum, so a subset's mean is OpenCompass's
subset score. GaokaoBench = the weighted average of the 14 MCQ subsets (``groups/GaokaoBench.py``
weights). The four fill-in-the-blank subsets score 0 in OpenCompass and are not in the average,
so they are not run.
"""

from __future__ import annotations

import json
import re

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks import opencompass as oc

MAX_NEW_TOKENS = 1024
SINGLE = ("请你做一道{X}选择题\n请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出"
          "正确的答案，并写在【答案】和<eoa>之间。\n例如：【答案】: A <eoa>\n完整的题目回答的格式如下：\n"
          "【解析】 ... <eoe>\n【答案】 ... <eoa>\n请你严格按照上述格式作答。\n题目如下：")
_EXAMPLE = "例如：（1）【答案】 A <eoa>\n（2）【答案】 B <eoa>\n请你严格按照上述格式作答。\n"
_EACH = "请你一步一步思考。每一题你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n"


def single(subject: str) -> str:
    return SINGLE.replace("{X}", subject)


# keyword -> (question type, prefix prompt, weight in the GaokaoBench average), config order
SUBSETS: dict[str, tuple[str, str, int]] = {
    "2010-2022_Math_II_MCQs": ("single_choice", single("数学"), 1090),
    "2010-2022_Math_I_MCQs": ("single_choice", single("数学"), 1070),
    "2010-2022_History_MCQs": ("single_choice", single("历史"), 1148),
    "2010-2022_Biology_MCQs": ("single_choice", single("生物"), 900),
    "2010-2022_Political_Science_MCQs": ("single_choice", single("政治"), 1280),
    "2010-2022_Physics_MCQs": ("multi_choice", (
        "请你做一道物理选择题。\n请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出所有"
        "符合题意的答案，并写在【答案】和<eoa>之间。\n例如：【答案】 AB <eoa>\n完整的题目回答的格式如下：\n"
        "【解析】 ... <eoe>\n【答案】... <eoa>\n请你严格按照上述格式作答。\n"), 384),
    "2010-2022_Chemistry_MCQs": ("single_choice", single("化学"), 744),
    "2010-2013_English_MCQs": ("single_choice", single("英语"), 105),
    "2010-2022_Chinese_Modern_Lit": ("multi_question_choice",
                                     "请你做一道语文阅读理解题，其中包含三个小题。\n" + _EACH + _EXAMPLE, 261),
    "2010-2022_English_Fill_in_Blanks": ("multi_question_choice",
                                         "请你做一道英语完形填空题,其中包含二十个小题。\n" + _EACH + _EXAMPLE,
                                         900),
    "2012-2022_English_Cloze_Test": ("five_out_of_seven", (
        "请回答下面的问题，将符合题意的五个选项的字母写在【答案】和<eoa>之间，例如“【答案】 A B C D E <eoa>\n"
        "请严格按照上述格式作答。\n"), 260),
    "2010-2022_Geography_MCQs": ("multi_question_choice",
                                 "请你做一道地理选择题，其中包含两到三个小题。\n" + _EACH + _EXAMPLE, 380),
    "2010-2022_English_Reading_Comp": ("multi_question_choice",
                                       "请你做一道英语阅读理解题，其中包含三到五个小题。\n" + _EACH + _EXAMPLE,
                                       940),
    "2010-2022_Chinese_Lang_and_Usage_MCQs": ("multi_question_choice", (
        "请你做一道语文选择题\n请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的"
        "答案，并写在【答案】和<eoa>之间。\n例如：【答案】: A <eoa>\n完整的题目回答的格式如下：\n（1）【解析】 ... "
        "<eoe>\n【答案】 ... <eoa>\n（2）【解析】 ... <eoe>\n【答案】 ... <eoa>\n请你严格按照上述格式作答。"
        "如果不止一道题，请分别作答\n题目如下："), 240),
}


def load(data: DataDir) -> list[Doc]:
    docs = []
    for keyword, (kind, prefix, _) in SUBSETS.items():
        name = f"GAOKAO-BENCH/data/Multiple-choice_Questions/{keyword}.json"
        try:
            examples = json.loads(data.read_text(name))["example"]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedDataError(f"{name}: not a GAOKAO-Bench file ({exc})") from None
        for number, row in enumerate(examples):
            require_fields(row, ("question", "answer"), f"{name}:{number}")
            if not isinstance(row["answer"], list) or not row["answer"]:
                raise MalformedDataError(f"{name}:{number}: answer is not a list of letters")
            prompt = oc.fill(prefix + "{question}", oc.gen_row(row, "answer"))
            docs.append(Doc(id=f"{keyword}/{number}", target=row["answer"],
                            meta={"subset": keyword, "type": kind}, data={"prompt": prompt}))
    return docs


def build(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], max_new_tokens=MAX_NEW_TOKENS)]


def predictions(text: str, kind: str, count: int) -> list[str]:
    """``do_predictions_postprocess``: the answer letters read from the output, by type."""
    if kind == "single_choice":
        found = re.findall(r"[A-D]", text[::-1])
        return found[:1]
    if kind == "multi_question_choice":
        marked = re.findall(r"【答案】\s*[:：]*\s*[A-Z]", text)
        if len(marked) == count:
            return [re.findall(r"[A-Z]", m)[0] for m in marked]
        return re.findall(r"[A-Z]", text)[:count]
    if kind == "multi_choice":
        content = re.sub(r"\s+", "", text)
        index = content.find("【答案】")
        letters = "".join(re.findall(r"[A-D]", content[index:] if index > 0 else content[-10:]))
        return [letters] if letters else []
    if kind == "five_out_of_seven":
        return re.findall(r"[A-G]", text)[:5]
    raise MalformedDataError(f"unknown GaokaoBench question type {kind!r}")


def points(predicted: list[str], answer: list[str], kind: str) -> tuple[int, int]:
    """(points earned, maximum) for one question."""
    if len(predicted) != len(answer):
        predicted = ["Z"] * len(answer)
    if kind == "multi_choice":
        earned = sum(2 if p == r else int(all(c in r for c in p))
                     for p, r in zip(predicted, answer, strict=True))
        return earned, 2 * len(answer)
    return sum(p == r for p, r in zip(predicted, answer, strict=True)), len(answer)


def score(sample: ScoreInput, responses: list[Response]) -> Scored:
    completion = oc.base_output(responses[0]["text"], ())
    kind = sample.meta["type"]
    predicted = predictions(completion, kind, len(sample.target))
    earned, maximum = points(predicted, list(sample.target), kind)
    return Scored(extracted=predicted, score=earned / maximum, weight=maximum,
                  extra={"completion": completion, "points": earned})


TASK = register(Task(
    name="gaokao:opencompass",
    description="GAOKAO-Bench objective questions (14 MCQ subsets), 0-shot generation "
                "(OpenCompass GaokaoBench_no_subjective_gen_d21e37)",
    provenance='OpenCompass configs/datasets/GaokaoBench/GaokaoBench_no_subjective_gen_d21e37.py, '
               'GaokaoBenchEvaluator, summarizers/groups/GaokaoBench.py; '
               'EVALUATION.md "GaokaoBench"',
    shots=0,
    data_files=("GAOKAO-BENCH/data/Multiple-choice_Questions/*.json",),
    load=load,
    build=build,
    score=score,
    aggregation=Aggregation(metric="score", average="macro", by="subset", per_group=True,
                            group_weights={k: w for k, (_, _, w) in SUBSETS.items()}),
    params={"subsets": SUBSETS, "max_new_tokens": MAX_NEW_TOKENS, "stop": []},
    metric_note="weighted average of 14 subset scores",
    subjects=tuple(SUBSETS),
))
