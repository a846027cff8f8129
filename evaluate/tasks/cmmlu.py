"""CMMLU 5-shot, Qwen's protocol (``cmmlu``; QwenLM/Qwen ``eval/evaluate_cmmlu.py``;
EVALUATION.md "CMMLU").

Same shape as C-Eval: no header; shots are rows 0-4 of ``dev/<subject>.csv`` as
``"问题：q\\nA. a\\nB. b\\nC. c\\nD. d\\n答案：X\\n\\n"``; the query ends ``"\\n答案："``;
next-token probabilities of ``"A"``..``"D"`` (no leading space: the script reads
``tokenizer("A")``); no truncation; scored on ``test/<subject>.csv`` (11,582 questions, 67
subjects). CSVs read with pandas defaults (NA quirk kept: a choice
reading ``None``/``NA``/... shows as ``nan``).

Aggregation, as the script's ``cal_cmmlu`` prints it: the headline is the mean of the 67 subject
accuracies (macro); each category (STEM, Humanities, Social Science, Other, China specific) is the
mean over its subjects, a subject counting in every category one of its sub-categories belongs to
(CMMLU's own ``subcategories``/``categories`` maps, copied into the script).
"""

from __future__ import annotations

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.scoring.choice import LETTERS, next_token_choice, next_token_request
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks.multiple_choice import (
    qwen_example,
    qwen_shots,
    read_csv_pandas,
    require_answer,
    require_columns,
)
from evaluate.tasks.subjects import CMMLU_CATEGORIES as CATEGORIES
from evaluate.tasks.subjects import CMMLU_SUBCATEGORIES as SUBCATEGORIES

SHOTS = 5
FIELDS = ("Question", "A", "B", "C", "D", "Answer")


def load(data: DataDir) -> list[Doc]:
    """Every test question, subjects in the script's order, rows in file order."""
    docs = []
    for subject in SUBCATEGORIES:
        dev_name = f"cmmlu/dev/{subject}.csv"
        dev = read_csv_pandas(data.path(dev_name))
        for row in dev[:SHOTS]:
            require_columns(row, FIELDS, dev_name)
        shots = qwen_shots(dev, SHOTS, "Question", "问题：", "Answer", "\n答案：")
        name = f"cmmlu/test/{subject}.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name)), 1):
            require_columns(row, FIELDS, name)
            require_answer(row["Answer"], f"{name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row["Answer"],
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row, "Question", "问题：")
                                  + "\n答案："}))
    return docs


def build(doc: Doc) -> list:
    return next_token_request(doc.data["prompt"], LETTERS, None)


TASK = register(Task(
    name="cmmlu",
    description="CMMLU 5-shot, next-token letter probabilities (Qwen's protocol)",
    provenance='QwenLM/Qwen eval/evaluate_cmmlu.py; EVALUATION.md "CMMLU"',
    shots=SHOTS,
    data_files=("cmmlu/dev/*.csv", "cmmlu/test/*.csv"),
    load=load,
    build=build,
    score=next_token_choice,
    aggregation=Aggregation(average="macro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": LETTERS, "csv": "pandas defaults (NA quirk)", "shots": "dev rows 0-4",
            "truncation": None},
    metric_note="macro over 67 subjects; STEM/Humanities/Social Science/Other/China specific",
    subjects=tuple(SUBCATEGORIES),
))
