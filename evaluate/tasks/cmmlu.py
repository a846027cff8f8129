"""CMMLU 5-shot: Qwen's protocol (``cmmlu``; QwenLM/Qwen ``eval/evaluate_cmmlu.py``) and
OpenCompass's (``cmmlu:opencompass``); EVALUATION.md "CMMLU".

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

``cmmlu:opencompass`` (OpenCompass ``cmmlu_ppl_041cbf``, the base CMMLU number; PROTOCOLS_MORE.md
B14; rendered by :mod:`evaluate.tasks.opencompass`): candidate X is
``"以下是关于{科目}的单项选择题，请直接给出正确答案的选项。\\n"`` + shots +
``"题目：q\\nA. a\\n..D. d\\n答案是: X"``,
each shot ``"题目：…\\n答案是: Y\\n"``, joined by ``"\\n"`` plus a final ``"\\n"``; dev rows 0-4;
CSVs read with ``csv`` in text mode (no NA quirk); lowest average NLL wins; headline = mean of the
67 subject accuracies (the same categories reported as for ``cmmlu``).
"""

from __future__ import annotations

from pathlib import Path

from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.scoring.choice import (
    LETTERS,
    lowest_ppl_choice,
    next_token_choice,
    next_token_request,
    ppl_requests,
)
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks import opencompass_ppl as ppl
from evaluate.tasks.multiple_choice import (
    SPACED_LETTERS,
    qwen_example,
    qwen_shots,
    read_csv_pandas,
    require_answer,
    require_columns,
)
from evaluate.tasks.subjects import CMMLU_CATEGORIES as CATEGORIES
from evaluate.tasks.subjects import CMMLU_CHINESE_NAMES as OC_SUBJECTS
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


# ---- OpenCompass cmmlu_ppl_041cbf (PROTOCOLS_MORE.md B14) ----------------------------------------
OC_COLUMNS = ("question", "A", "B", "C", "D", "answer")  # CMMLUDataset's row, in its order
OC_QUESTION = "题目：{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}"
OC_ICE = {x: f"{OC_QUESTION}\n答案是: {x}\n" for x in LETTERS}
OC_PROMPT = {x: f"\n</E>{OC_QUESTION}\n答案是: {x}" for x in LETTERS}  # after the hint


def oc_hint(subject: str) -> str:
    return f"以下是关于{OC_SUBJECTS[subject]}的单项选择题，请直接给出正确答案的选项。"


def oc_rows(path: Path) -> list[dict[str, str]]:
    """CMMLUDataset's rows: the header skipped, cells 1-6 (cell 0 is a row number)."""
    rows = oc.read_csv(path)[1:]
    for number, cells in enumerate(rows, 2):
        if len(cells) != 7:
            raise MalformedDataError(f"{path}:{number}: {len(cells)} cells, expected 7")
    return [dict(zip(OC_COLUMNS, cells[1:], strict=True)) for cells in rows]


def load_opencompass(data: DataDir) -> list[Doc]:
    """Every test question; the context of its four candidate prompts."""
    return ppl.subject_ppl_docs(
        data, OC_SUBJECTS, lambda s: (f"cmmlu/dev/{s}.csv", f"cmmlu/test/{s}.csv"), oc_rows,
        OC_ICE, lambda s: {x: oc_hint(s) + OC_PROMPT[x] for x in LETTERS}, "answer", SHOTS,
        SPACED_LETTERS)


def build_opencompass(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], SPACED_LETTERS)


OC_UNBATCHED = Task(
    name="cmmlu:opencompass",
    description="CMMLU 5-shot, lowest-perplexity choice (OpenCompass cmmlu_ppl_041cbf)",
    provenance="OpenCompass configs/datasets/cmmlu/cmmlu_ppl_041cbf.py, PPLInferencer",
    shots=SHOTS,
    data_files=("cmmlu/dev/*.csv", "cmmlu/test/*.csv"),
    load=load_opencompass,
    build=build_opencompass,
    score=lowest_ppl_choice,
    aggregation=Aggregation(average="macro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": SPACED_LETTERS, "ice_template": OC_ICE, "prompt_template": OC_PROMPT,
            "ice_separator": "\n", "ice_eos_token": "\n", "ppl": "sum NLL / all tokens, argmin",
            "csv": "csv module, text mode"},
    metric_note="macro over 67 subjects",
    subjects=tuple(OC_SUBJECTS),
)
# OpenCompass's left-padded batches of 8 per label, per subject (the default), and each prompt
# alone (EVALUATION.md "OpenCompass perplexity batches").
OPENCOMPASS = register(ppl.batched(OC_UNBATCHED, SPACED_LETTERS, by="subject"))
register(ppl.unbatched(OC_UNBATCHED))
