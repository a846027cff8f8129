"""MMLU 5-shot: Qwen's protocol (``mmlu``) and OpenCompass's (``mmlu:opencompass``).

``mmlu`` (QwenLM/Qwen ``eval/evaluate_mmlu.py``; EVALUATION.md "MMLU"): header
``"The following are multiple choice questions (with answers) about " + subject + ".\\n\\n"``
(underscores to spaces), the first 5 rows of ``dev/<subject>_dev.csv`` as shots
(``"Question: q\\nA. a\\nB. b\\nC. c\\nD. d\\nAnswer: X\\n\\n"``), the query ending in
``"\\nAnswer:"``; next-token probabilities of ``" A"``..``" D"``; an over-long prompt keeps its last
2047 tokens. Pandas NA quirk kept: a choice reading ``None``/``NA``/... shows as ``nan``.
Headline: micro average over the 14,042 test questions; also Qwen's four categories and every
subject.

``mmlu:opencompass`` (OpenCompass ``configs/datasets/mmlu/mmlu_ppl_ac766d.py``): header with two
spaces after "about", shots ``"q\\nA. a\\nB. b\\nC. c\\nD. d\\nAnswer: X\\n"`` joined by
FixKRetriever's ``ice_separator`` ``"\\n"`` and closed by its ``ice_eos_token`` ``"\\n"``,
query ending ``"Answer: X"`` for each X; lowest average NLL wins; headline = macro average over
57 subjects.
CSV read with ``csv`` (no NA quirk).
"""

from __future__ import annotations

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.scoring.choice import (
    lowest_ppl_choice,
    next_token_choice,
    next_token_request,
    ppl_requests,
)
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks.multiple_choice import (
    SPACED_LETTERS,
    qwen_example,
    qwen_shots,
    read_csv_pandas,
    read_csv_plain,
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
ICE_SEPARATOR = "\n"  # FixKRetriever defaults (not overridden by mmlu_ppl_ac766d)
ICE_EOS_TOKEN = "\n"


def oc_example(cells: list[str]) -> str:
    q, a, b, c, d = cells[:5]
    return f"{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}"


def oc_context(subject: str, dev: list[list[str]], cells: list[str]) -> str:
    """The candidate prompt up to (not including) the final ``" X"``: it ends ``"Answer:"``."""
    hint = ("The following are multiple choice questions (with answers) about  "
            + subject.replace("_", " ") + ".\n\n")
    ice = ICE_SEPARATOR.join(oc_example(r) + f"\nAnswer: {r[5]}\n" for r in dev[:SHOTS])
    return hint + ice + ICE_EOS_TOKEN + oc_example(cells) + "\nAnswer:"


def load_opencompass(data: DataDir) -> list[Doc]:
    docs = []
    for subject in SUBJECTS:
        dev = read_csv_plain(data.path(f"mmlu/dev/{subject}_dev.csv"), header=False)
        test_name = f"mmlu/test/{subject}_test.csv"
        for number, cells in enumerate(read_csv_plain(data.path(test_name), header=False), 1):
            require_answer(cells[5] if len(cells) == 6 else "", f"{test_name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=cells[5],
                            meta={"subject": subject},
                            data={"prompt": oc_context(subject, dev, cells)}))
    return docs


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

OPENCOMPASS = register(Task(
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
    params={"letters": SPACED_LETTERS, "ice_separator": ICE_SEPARATOR,
            "ice_eos_token": ICE_EOS_TOKEN, "ppl": "sum NLL / all tokens, argmin",
            "csv": "csv module"},
    metric_note="macro over 57 subjects",
    subjects=SUBJECTS,
))
