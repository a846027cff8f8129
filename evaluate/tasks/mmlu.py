"""MMLU 5-shot: Qwen's protocol (``mmlu``) and OpenCompass's (``mmlu:opencompass``).

``mmlu`` (QwenLM/Qwen ``eval/evaluate_mmlu.py``; EVALUATION.md "MMLU"): header
``"The following are multiple choice questions (with answers) about " + subject + ".\\n\\n"``
(underscores to spaces), the first 5 rows of ``dev/<subject>_dev.csv`` as shots
(``"Question: q\\nA. a\\nB. b\\nC. c\\nD. d\\nAnswer: X\\n\\n"``), the query ending in
``"\\nAnswer:"``; next-token probabilities of ``" A"``..``" D"``; an over-long prompt keeps its last
2047 tokens. Pandas NA quirk kept: a choice reading ``None``/``NA``/... shows as ``nan``.
Headline: micro average over the 14,042 test questions; also Qwen's four categories and every
subject.

``mmlu:opencompass`` (OpenCompass ``configs/datasets/mmlu/mmlu_ppl_ac766d.py``, rendered by
:mod:`evaluate.tasks.opencompass`): header with two spaces after "about", shots
``"q\\nA. a\\nB. b\\nC. c\\nD. d\\nAnswer: X\\n"`` joined by FixKRetriever's ``"\\n"`` and
closed by another ``"\\n"`` (a blank line between shots), query ending ``"Answer: X"`` for each X;
lowest average NLL wins; headline = macro average over 57 subjects. CSVs read as OpenCompass's
loader reads them (``csv`` in text mode: no NA quirk, a ``\\r\\n`` inside a quoted field reads as
``\\n``, which changes every college_mathematics prompt).
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
)
from evaluate.tasks.subjects import MMLU_CATEGORIES as CATEGORIES
from evaluate.tasks.subjects import MMLU_SUBJECTS as SUBJECTS

COLUMNS = ("question", "A", "B", "C", "D", "answer")
SHOTS = 5
MAX_CONTEXT_TOKENS = 2047  # max_seq_len 2048: input_ids[:, len - 2048 + 1:]


# ---- Qwen ------------------------------------------------------------------------------------
def qwen_header(subject: str) -> str:
    return ("The following are multiple choice questions (with answers) about "
            + " ".join(subject.split("_")).strip() + ".\n\n")


def load_qwen(data: DataDir) -> list[Doc]:
    """Every test question, subjects in sorted order, rows in file order (pandas defaults)."""
    docs = []
    for subject in SUBJECTS:
        dev = read_csv_pandas(data.path(f"mmlu/dev/{subject}_dev.csv"), COLUMNS)
        shots = qwen_header(subject) + qwen_shots(dev, SHOTS, "question", "Question: ", "answer",
                                                  "\nAnswer: ")
        test_name = f"mmlu/test/{subject}_test.csv"
        for number, row in enumerate(read_csv_pandas(data.path(test_name), COLUMNS), 1):
            require_answer(row["answer"], f"{test_name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row["answer"],
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row, "question", "Question: ")
                                  + "\nAnswer:"}))
    return docs


def build_qwen(doc: Doc) -> list:
    return next_token_request(doc.data["prompt"], SPACED_LETTERS, MAX_CONTEXT_TOKENS)


# ---- OpenCompass -------------------------------------------------------------------------------
OC_COLUMNS = ("input", "A", "B", "C", "D", "target")  # MMLUDataset's row, in its order
OC_QUESTION = "{input}\nA. {A}\nB. {B}\nC. {C}\nD. {D}"
OC_ICE = {x: f"{OC_QUESTION}\nAnswer: {x}\n" for x in LETTERS}
OC_PROMPT = {x: f"</E>{OC_QUESTION}\nAnswer: {x}" for x in LETTERS}  # after the hint


def oc_hint(subject: str) -> str:
    return ("The following are multiple choice questions (with answers) about  "
            + subject.replace("_", " ") + ".\n\n")


def oc_rows(path: Path) -> list[dict[str, str]]:
    rows = oc.read_csv(path)
    for number, cells in enumerate(rows, 1):
        if len(cells) != 6:
            raise MalformedDataError(f"{path}:{number}: {len(cells)} cells, expected 6")
    return [dict(zip(OC_COLUMNS, cells, strict=True)) for cells in rows]


def load_opencompass(data: DataDir) -> list[Doc]:
    """Every test question; the context of its four candidate prompts (mmlu_ppl_ac766d)."""
    return ppl.subject_ppl_docs(
        data, SUBJECTS, lambda s: (f"mmlu/dev/{s}_dev.csv", f"mmlu/test/{s}_test.csv"), oc_rows,
        OC_ICE, lambda s: {x: oc_hint(s) + OC_PROMPT[x] for x in LETTERS}, "target", SHOTS,
        SPACED_LETTERS)


def build_opencompass(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], SPACED_LETTERS)


QWEN = register(Task(
    name="mmlu",
    description="MMLU 5-shot, next-token letter probabilities (Qwen's protocol)",
    provenance='QwenLM/Qwen eval/evaluate_mmlu.py; EVALUATION.md "MMLU"',
    shots=SHOTS,
    data_files=("mmlu/dev/*_dev.csv", "mmlu/test/*_test.csv"),
    load=load_qwen,
    build=build_qwen,
    score=next_token_choice,
    aggregation=Aggregation(average="micro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": SPACED_LETTERS, "max_context_tokens": MAX_CONTEXT_TOKENS,
            "csv": "pandas defaults (NA quirk)", "shots": "dev rows 0-4"},
    metric_note="micro over questions; categories; per subject",
    subjects=SUBJECTS,
))

OC_UNBATCHED = Task(
    name="mmlu:opencompass",
    description="MMLU 5-shot, lowest-perplexity choice (OpenCompass mmlu_ppl_ac766d)",
    provenance='OpenCompass configs/datasets/mmlu/mmlu_ppl_ac766d.py, PPLInferencer; '
               'EVALUATION.md "MMLU"',
    shots=SHOTS,
    data_files=("mmlu/dev/*_dev.csv", "mmlu/test/*_test.csv"),
    load=load_opencompass,
    build=build_opencompass,
    score=lowest_ppl_choice,
    aggregation=Aggregation(average="macro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": SPACED_LETTERS, "ice_template": OC_ICE, "prompt_template": OC_PROMPT,
            "ice_separator": "\n", "ice_eos_token": "\n", "ppl": "sum NLL / all tokens, argmin",
            "csv": "csv module, text mode"},
    metric_note="macro over 57 subjects",
    subjects=SUBJECTS,
)
# OpenCompass's left-padded batches of 8 per label, per subject (the default), and each prompt
# alone (EVALUATION.md "OpenCompass perplexity batches").
OPENCOMPASS = register(ppl.batched(OC_UNBATCHED, SPACED_LETTERS, by="subject"))
register(ppl.unbatched(OC_UNBATCHED))
