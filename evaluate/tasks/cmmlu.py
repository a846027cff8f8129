"""CMMLU 5-shot, Qwen's protocol (``cmmlu``; QwenLM/Qwen ``eval/evaluate_cmmlu.py``).

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
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks.multiple_choice import (
    LETTERS,
    qwen_request,
    qwen_score,
    read_csv_pandas,
    require_answer,
    require_columns,
)

SHOTS = 5
FIELDS = ("Question", "A", "B", "C", "D", "Answer")

SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "agronomy": ("other",), "anatomy": ("biology",),
    "ancient_chinese": ("linguistics", "china specific"), "arts": ("arts",),
    "astronomy": ("physics",), "business_ethics": ("business",),
    "chinese_civil_service_exam": ("politics", "china specific"),
    "chinese_driving_rule": ("other", "china specific"),
    "chinese_food_culture": ("culture", "china specific"),
    "chinese_foreign_policy": ("politics", "china specific"),
    "chinese_history": ("history", "china specific"),
    "chinese_literature": ("literature", "china specific"),
    "chinese_teacher_qualification": ("education", "china specific"),
    "college_actuarial_science": ("math",), "college_education": ("education",),
    "college_engineering_hydrology": ("engineering",), "college_law": ("law",),
    "college_mathematics": ("math",), "college_medical_statistics": ("statistics",),
    "clinical_knowledge": ("other",), "college_medicine": ("other",),
    "computer_science": ("computer science",), "computer_security": ("other",),
    "conceptual_physics": ("physics",),
    "construction_project_management": ("other", "china specific"),
    "economics": ("economics",), "education": ("education",),
    "elementary_chinese": ("linguistics", "china specific"),
    "elementary_commonsense": ("other", "china specific"),
    "elementary_information_and_technology": ("other",),
    "electrical_engineering": ("engineering",), "elementary_mathematics": ("math",),
    "ethnology": ("culture", "china specific"), "food_science": ("other",),
    "genetics": ("biology",), "global_facts": ("global",),
    "high_school_biology": ("biology",), "high_school_chemistry": ("chemistry",),
    "high_school_geography": ("geography",), "high_school_mathematics": ("math",),
    "high_school_physics": ("physics",),
    "high_school_politics": ("politics", "china specific"),
    "human_sexuality": ("other",), "international_law": ("law",),
    "journalism": ("sociology",), "jurisprudence": ("law",),
    "legal_and_moral_basis": ("other",), "logical": ("philosophy",),
    "machine_learning": ("computer science",), "management": ("business",),
    "marketing": ("business",), "marxist_theory": ("philosophy",),
    "modern_chinese": ("linguistics", "china specific"), "nutrition": ("other",),
    "philosophy": ("philosophy",), "professional_accounting": ("business",),
    "professional_law": ("law",), "professional_medicine": ("other",),
    "professional_psychology": ("psychology",), "public_relations": ("politics",),
    "security_study": ("politics",), "sociology": ("culture",),
    "sports_science": ("other",),
    "traditional_chinese_medicine": ("other", "china specific"),
    "virology": ("biology",), "world_history": ("history",), "world_religions": ("global",),
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "STEM": ("physics", "chemistry", "biology", "computer science", "math", "engineering",
             "statistics"),
    "Humanities": ("history", "philosophy", "law", "arts", "literature", "global"),
    "Social Science": ("linguistics", "business", "politics", "culture", "economics",
                       "geography", "psychology", "education", "sociology"),
    "Other": ("other",),
    "China specific": ("china specific",),
}
CATEGORIES: dict[str, tuple[str, ...]] = {
    name: tuple(s for s, subs in SUBCATEGORIES.items() if set(subs) & set(groups))
    for name, groups in _GROUPS.items()
}


def qwen_example(row: dict[str, str]) -> str:
    example = "问题：" + row["Question"]
    for letter in LETTERS:
        example += f"\n{letter}. {row[letter]}"
    return example


def qwen_shots(dev: list[dict[str, str]]) -> str:
    return "".join(qwen_example(r) + "\n答案：" + r["Answer"] + "\n\n" for r in dev[:SHOTS])


def load(data: DataDir) -> list[Doc]:
    """Every test question, subjects in the script's order, rows in file order."""
    docs = []
    for subject in SUBCATEGORIES:
        dev_name = f"cmmlu/dev/{subject}.csv"
        dev = read_csv_pandas(data.path(dev_name))
        for row in dev[:SHOTS]:
            require_columns(row, FIELDS, dev_name)
        shots = qwen_shots(dev)
        name = f"cmmlu/test/{subject}.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name)), 1):
            require_columns(row, FIELDS, name)
            require_answer(row["Answer"], f"{name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row["Answer"],
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row) + "\n答案："}))
    return docs


def build(doc: Doc) -> list:
    return qwen_request(doc.data["prompt"], LETTERS, None)


TASK = register(Task(
    name="cmmlu",
    description="CMMLU 5-shot, next-token letter probabilities (Qwen's protocol)",
    provenance="QwenLM/Qwen eval/evaluate_cmmlu.py",
    shots=SHOTS,
    data_files=("cmmlu/dev/*.csv", "cmmlu/test/*.csv"),
    load=load,
    build=build,
    score=qwen_score,
    aggregation=Aggregation(average="macro", by="subject", categories=CATEGORIES,
                            per_group=True),
    params={"letters": LETTERS, "csv": "pandas defaults (NA quirk)", "shots": "dev rows 0-4",
            "truncation": None},
    metric_note="macro over 67 subjects; STEM/Humanities/Social Science/Other/China specific",
))
