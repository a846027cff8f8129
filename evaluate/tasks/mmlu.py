"""MMLU 5-shot: Qwen's protocol (``mmlu``) and OpenCompass's (``mmlu:opencompass``).

``mmlu`` (QwenLM/Qwen ``eval/evaluate_mmlu.py``; PROTOCOLS.md "MMLU"): header
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
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks.multiple_choice import (
    LETTERS,
    SPACED_LETTERS,
    ppl_requests,
    ppl_score,
    qwen_request,
    qwen_score,
    read_csv_pandas,
    require_answer,
)

COLUMNS = ("question", "A", "B", "C", "D", "answer")
SHOTS = 5
MAX_CONTEXT_TOKENS = 2047  # max_seq_len 2048: input_ids[:, len - 2048 + 1:]

# Qwen's eval/evaluate_mmlu.py TASK_NAME_MAPPING (the standard MMLU categories).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "STEM": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics",
        "computer_security", "conceptual_physics", "electrical_engineering",
        "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    ),
    "Humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions",
    ),
    "Social Sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy",
    ),
    "Other": (
        "business_ethics", "college_medicine", "human_aging", "management", "marketing",
        "medical_genetics", "miscellaneous", "nutrition", "professional_accounting",
        "professional_medicine", "virology", "global_facts", "clinical_knowledge",
    ),
}
SUBJECTS: tuple[str, ...] = tuple(sorted(s for group in CATEGORIES.values() for s in group))


# ---- Qwen ------------------------------------------------------------------------------------
def qwen_example(row: dict[str, str]) -> str:
    example = "Question: " + row["question"]
    for letter in ("A", "B", "C", "D"):
        example += f"\n{letter}. {row[letter]}"
    return example


def qwen_header(subject: str) -> str:
    return ("The following are multiple choice questions (with answers) about "
            + " ".join(subject.split("_")).strip() + ".\n\n")


def qwen_shots(subject: str, dev: list[dict[str, str]]) -> str:
    prompt = qwen_header(subject)
    for row in dev[:SHOTS]:
        prompt += qwen_example(row) + "\nAnswer: " + row["answer"] + "\n\n"
    return prompt


def load_qwen(data: DataDir) -> list[Doc]:
    """Every test question, subjects in sorted order, rows in file order (pandas defaults)."""
    docs = []
    for subject in SUBJECTS:
        dev = read_csv_pandas(data.path(f"mmlu/dev/{subject}_dev.csv"), COLUMNS)
        shots = qwen_shots(subject, dev)
        test_name = f"mmlu/test/{subject}_test.csv"
        for number, row in enumerate(read_csv_pandas(data.path(test_name), COLUMNS), 1):
            require_answer(row["answer"], f"{test_name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row["answer"],
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row) + "\nAnswer:"}))
    return docs


def build_qwen(doc: Doc) -> list:
    return qwen_request(doc.data["prompt"], SPACED_LETTERS, MAX_CONTEXT_TOKENS)


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
    docs = []
    for subject in SUBJECTS:
        ice = oc.string_ice(OC_ICE, oc_rows(data.path(f"mmlu/dev/{subject}_dev.csv"))[:SHOTS],
                            "target")
        test_name = f"mmlu/test/{subject}_test.csv"
        for number, row in enumerate(oc_rows(data.path(test_name)), 1):
            require_answer(row["target"], f"{test_name}:{number}")
            prompts = [oc.string_prompt(oc_hint(subject) + OC_PROMPT[x], ice, row) for x in LETTERS]
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row["target"],
                            meta={"subject": subject},
                            data={"prompt": oc.shared_context(prompts, SPACED_LETTERS)}))
    return docs


def build_opencompass(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], SPACED_LETTERS)


QWEN = register(Task(
    name="mmlu",
    description="MMLU 5-shot, next-token letter probabilities (Qwen's protocol)",
    provenance="QwenLM/Qwen eval/evaluate_mmlu.py (PROTOCOLS.md)",
    shots=SHOTS,
    data_files=("mmlu/dev/*_dev.csv", "mmlu/test/*_test.csv"),
    load=load_qwen,
    build=build_qwen,
    score=qwen_score,
    aggregation=Aggregation(average="micro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": SPACED_LETTERS, "max_context_tokens": MAX_CONTEXT_TOKENS,
            "csv": "pandas defaults (NA quirk)", "shots": "dev rows 0-4"},
    metric_note="micro over questions; categories; per subject",
))

OPENCOMPASS = register(Task(
    name="mmlu:opencompass",
    description="MMLU 5-shot, lowest-perplexity choice (OpenCompass mmlu_ppl_ac766d)",
    provenance="OpenCompass configs/datasets/mmlu/mmlu_ppl_ac766d.py, PPLInferencer",
    shots=SHOTS,
    data_files=("mmlu/dev/*_dev.csv", "mmlu/test/*_test.csv"),
    load=load_opencompass,
    build=build_opencompass,
    score=ppl_score,
    aggregation=Aggregation(average="macro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": SPACED_LETTERS, "ice_template": OC_ICE, "prompt_template": OC_PROMPT,
            "ice_separator": "\n", "ice_eos_token": "\n", "ppl": "sum NLL / all tokens, argmin",
            "csv": "csv module, text mode"},
    metric_note="macro over 57 subjects",
))
