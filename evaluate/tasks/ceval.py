"""C-Eval 5-shot: Qwen's protocol (``ceval``, ``ceval:test``) and OpenCompass's.

``ceval`` (QwenLM/Qwen ``eval/evaluate_ceval.py``; PROTOCOLS.md "C-Eval"): no header; shots are
rows 0-4 of ``dev/<subject>_dev.csv`` as
``"问题：q\\nA. a\\nB. b\\nC. c\\nD. d\\n答案：X\\n\\n"``;
the query ends ``"\\n答案："``; next-token probabilities of ``"A"``..``"D"`` (no leading
space); no truncation; scored on ``val`` (1,346 questions). CSVs read with pandas defaults (the
NA quirk applies in principle; no C-Eval cell triggers it). Headline: macro average of the 52
subject accuracies; also STEM / Social Science / Humanities / Other and Hard (8 subjects), each the
mean of its subjects' accuracies, as ``cal_ceval`` prints them.

``ceval:test``: the same prompts on the ``test`` split, whose answers are not public. Scores are
NaN; :func:`write_submission` turns the run's ``samples.jsonl`` into C-Eval's submission file
(``{subject: {id: letter}}``): ``python -m evaluate.tasks.ceval RUN_DIR``.

``ceval:opencompass`` (OpenCompass ``ceval_ppl_93e5ce`` at OC@2954913d, = today's
``ceval_internal_ppl_93e5ce``; rendered by :mod:`evaluate.tasks.opencompass`): the ice template is
keyed by label, each a round: HUMAN
``"以下是中国关于{subject in Chinese}考试的单项选择题，请选出其中的正确答案。\\n"``
+ ``"{q}\\nA. {a}\\n..\\nD. {d}\\n答案: "``, then BOT (the letter). For a base model (no meta
template) the items are joined with ``"\\n"`` and the retriever's separator and end token are
items of their own: ``...答案: \\nA\\n\\n\\n以下是...`` between shots, five newlines before the
question, and the candidate ends ``答案: \\nX``. Fields are filled one after another, so a LaTeX
group spelling a field (``\\bar{A}``) is replaced by that field (3 val questions). Lowest average
NLL wins; macro average over subjects. Scored on val: the reference table's ``ceval-test`` row
used OpenCompass's internal copy of the test answers, which is not public.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.task import Aggregation, Doc, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks.multiple_choice import (
    LETTERS,
    ppl_requests,
    ppl_score,
    qwen_request,
    qwen_score,
    read_csv_pandas,
    require_answer,
    require_columns,
)

SHOTS = 5
FIELDS = ("id", "question", "A", "B", "C", "D")

# subject -> (English name, Chinese name, category): Qwen's TASK_NAME_MAPPING (= C-Eval's
# subject_mapping.json, = OpenCompass's ceval_subject_mapping).
SUBJECTS: dict[str, tuple[str, str, str]] = {
    "computer_network": ("Computer Network", "计算机网络", "STEM"),
    "operating_system": ("Operating System", "操作系统", "STEM"),
    "computer_architecture": ("Computer Architecture", "计算机组成", "STEM"),
    "college_programming": ("College Programming", "大学编程", "STEM"),
    "college_physics": ("College Physics", "大学物理", "STEM"),
    "college_chemistry": ("College Chemistry", "大学化学", "STEM"),
    "advanced_mathematics": ("Advanced Mathematics", "高等数学", "STEM"),
    "probability_and_statistics": ("Probability and Statistics", "概率统计", "STEM"),
    "discrete_mathematics": ("Discrete Mathematics", "离散数学", "STEM"),
    "electrical_engineer": ("Electrical Engineer", "注册电气工程师", "STEM"),
    "metrology_engineer": ("Metrology Engineer", "注册计量师", "STEM"),
    "high_school_mathematics": ("High School Mathematics", "高中数学", "STEM"),
    "high_school_physics": ("High School Physics", "高中物理", "STEM"),
    "high_school_chemistry": ("High School Chemistry", "高中化学", "STEM"),
    "high_school_biology": ("High School Biology", "高中生物", "STEM"),
    "middle_school_mathematics": ("Middle School Mathematics", "初中数学", "STEM"),
    "middle_school_biology": ("Middle School Biology", "初中生物", "STEM"),
    "middle_school_physics": ("Middle School Physics", "初中物理", "STEM"),
    "middle_school_chemistry": ("Middle School Chemistry", "初中化学", "STEM"),
    "veterinary_medicine": ("Veterinary Medicine", "兽医学", "STEM"),
    "college_economics": ("College Economics", "大学经济学", "Social Science"),
    "business_administration": ("Business Administration", "工商管理", "Social Science"),
    "marxism": ("Marxism", "马克思主义基本原理", "Social Science"),
    "mao_zedong_thought": (
        "Mao Zedong Thought", "毛泽东思想和中国特色社会主义理论体系概论", "Social Science"),
    "education_science": ("Education Science", "教育学", "Social Science"),
    "teacher_qualification": ("Teacher Qualification", "教师资格", "Social Science"),
    "high_school_politics": ("High School Politics", "高中政治", "Social Science"),
    "high_school_geography": ("High School Geography", "高中地理", "Social Science"),
    "middle_school_politics": ("Middle School Politics", "初中政治", "Social Science"),
    "middle_school_geography": ("Middle School Geography", "初中地理", "Social Science"),
    "modern_chinese_history": ("Modern Chinese History", "近代史纲要", "Humanities"),
    "ideological_and_moral_cultivation": (
        "Ideological and Moral Cultivation", "思想道德修养与法律基础", "Humanities"),
    "logic": ("Logic", "逻辑学", "Humanities"),
    "law": ("Law", "法学", "Humanities"),
    "chinese_language_and_literature": (
        "Chinese Language and Literature", "中国语言文学", "Humanities"),
    "art_studies": ("Art Studies", "艺术学", "Humanities"),
    "professional_tour_guide": ("Professional Tour Guide", "导游资格", "Humanities"),
    "legal_professional": ("Legal Professional", "法律职业资格", "Humanities"),
    "high_school_chinese": ("High School Chinese", "高中语文", "Humanities"),
    "high_school_history": ("High School History", "高中历史", "Humanities"),
    "middle_school_history": ("Middle School History", "初中历史", "Humanities"),
    "civil_servant": ("Civil Servant", "公务员", "Other"),
    "sports_science": ("Sports Science", "体育学", "Other"),
    "plant_protection": ("Plant Protection", "植物保护", "Other"),
    "basic_medicine": ("Basic Medicine", "基础医学", "Other"),
    "clinical_medicine": ("Clinical Medicine", "临床医学", "Other"),
    "urban_and_rural_planner": ("Urban and Rural Planner", "注册城乡规划师", "Other"),
    "accountant": ("Accountant", "注册会计师", "Other"),
    "fire_engineer": ("Fire Engineer", "注册消防工程师", "Other"),
    "environmental_impact_assessment_engineer": (
        "Environmental Impact Assessment Engineer", "环境影响评价工程师", "Other"),
    "tax_accountant": ("Tax Accountant", "税务师", "Other"),
    "physician": ("Physician", "医师资格", "Other"),
}
HARD = ("advanced_mathematics", "discrete_mathematics", "probability_and_statistics",
        "college_physics", "college_chemistry", "high_school_mathematics", "high_school_physics",
        "high_school_chemistry")
CATEGORIES: dict[str, tuple[str, ...]] = {
    **{name: tuple(s for s, (_, _, c) in SUBJECTS.items() if c == name)
       for name in ("STEM", "Social Science", "Humanities", "Other")},
    "Hard": HARD,
}


# ---- Qwen ------------------------------------------------------------------------------------
def qwen_example(row: dict[str, str]) -> str:
    example = "问题：" + row["question"]
    for letter in LETTERS:
        example += f"\n{letter}. {row[letter]}"
    return example


def qwen_shots(dev: list[dict[str, str]]) -> str:
    return "".join(qwen_example(r) + "\n答案：" + r["answer"] + "\n\n" for r in dev[:SHOTS])


def load_qwen_split(data: DataDir, split: str) -> list[Doc]:
    """Questions of ``split`` (val or test), subjects in the scripts' order, rows in file order."""
    docs = []
    for subject in SUBJECTS:
        dev_name = f"ceval/dev/{subject}_dev.csv"
        dev = read_csv_pandas(data.path(dev_name))
        for row in dev[:SHOTS]:
            require_columns(row, (*FIELDS, "answer"), dev_name)
        shots = qwen_shots(dev)
        name = f"ceval/{split}/{subject}_{split}.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name)), 1):
            require_columns(row, FIELDS, name)
            target = None
            if split != "test":
                require_answer(row.get("answer", ""), f"{name}:{number}")
                target = row["answer"]
            docs.append(Doc(id=f"{subject}/{row['id']}", target=target,
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row) + "\n答案："}))
    return docs


def load_qwen(data: DataDir) -> list[Doc]:
    return load_qwen_split(data, "val")


def load_qwen_test(data: DataDir) -> list[Doc]:
    return load_qwen_split(data, "test")


def build_qwen(doc: Doc) -> list:
    return qwen_request(doc.data["prompt"], LETTERS, None)


def write_submission(run_dir: Path) -> Path:
    """C-Eval's submission file ``{subject: {id: letter}}`` from a ``ceval:test`` run folder."""
    answers: dict[str, dict[str, str]] = {}
    with open(Path(run_dir) / "samples.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                sample = json.loads(line)
                subject, number = sample["id"].split("/", 1)
                answers.setdefault(subject, {})[number] = sample["extracted"]
    out = Path(run_dir) / "submission.json"
    out.write_text(json.dumps(answers, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


# ---- OpenCompass -------------------------------------------------------------------------------
OC_HUMAN = ("以下是中国关于{chinese}考试的单项选择题，请选出其中的正确答案。\n"
            "{{question}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案: ")


def oc_round(subject: str, letter: str) -> list[oc.Turn]:
    """The ice template's round for one label: the HUMAN question, the BOT letter."""
    human = OC_HUMAN.format(chinese=SUBJECTS[subject][1])
    return [oc.Turn("HUMAN", human), oc.Turn("BOT", letter)]


def oc_rows(path: Path) -> list[dict[str, str]]:
    """CEvalDataset's rows: the header's columns, then ``explanation`` and ``answer`` if absent."""
    rows = oc.read_csv(path)
    header = rows[0] if rows else []
    out = []
    for cells in rows[1:]:
        row = dict(zip(header, cells, strict=False))
        row.setdefault("explanation", "")
        row.setdefault("answer", "")
        out.append(row)
    return out


def load_opencompass(data: DataDir) -> list[Doc]:
    """Every val question; the context of its four candidate prompts (ceval_ppl_93e5ce)."""
    docs = []
    for subject in SUBJECTS:
        rounds = {x: oc_round(subject, x) for x in LETTERS}
        dev = oc_rows(data.path(f"ceval/dev/{subject}_dev.csv"))[:SHOTS]
        ice = oc.round_ice(rounds, dev, "answer")
        name = f"ceval/val/{subject}_val.csv"
        for number, row in enumerate(oc_rows(data.path(name)), 1):
            require_columns(row, FIELDS, f"{name}:{number}")
            require_answer(row["answer"], f"{name}:{number}")
            prompts = [oc.round_prompt([oc.ICE_TOKEN, *rounds[x]], ice, row) for x in LETTERS]
            docs.append(Doc(id=f"{subject}/{row['id']}", target=row["answer"],
                            meta={"subject": subject},
                            data={"prompt": oc.shared_context(prompts, LETTERS)}))
    return docs


def build_opencompass(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], LETTERS)


AGGREGATION = Aggregation(average="macro", by="subject", categories=CATEGORIES, per_group=True)
DATA_FILES = ("ceval/dev/*_dev.csv", "ceval/val/*_val.csv")

QWEN = register(Task(
    name="ceval",
    description="C-Eval 5-shot on val, next-token letter probabilities (Qwen's protocol)",
    provenance="QwenLM/Qwen eval/evaluate_ceval.py (PROTOCOLS.md)",
    shots=SHOTS,
    data_files=DATA_FILES,
    load=load_qwen,
    build=build_qwen,
    score=qwen_score,
    aggregation=AGGREGATION,
    params={"letters": LETTERS, "split": "val", "csv": "pandas defaults (NA quirk)",
            "shots": "dev rows 0-4", "truncation": None},
    metric_note="macro over 52 subjects; STEM/Social Science/Humanities/Other/Hard",
))

TEST = register(Task(
    name="ceval:test",
    description="C-Eval 5-shot on test: predictions for submission only (answers not public)",
    provenance="QwenLM/Qwen eval/evaluate_ceval.py (PROTOCOLS.md), test split",
    shots=SHOTS,
    data_files=("ceval/dev/*_dev.csv", "ceval/test/*_test.csv"),
    load=load_qwen_test,
    build=build_qwen,
    score=qwen_score,
    aggregation=AGGREGATION,
    params={"letters": LETTERS, "split": "test", "csv": "pandas defaults (NA quirk)",
            "shots": "dev rows 0-4", "truncation": None},
    metric_note="cannot be scored here (NaN): submit submission.json to cevalbenchmark.com",
))

OPENCOMPASS = register(Task(
    name="ceval:opencompass",
    description=("C-Eval 5-shot on val, lowest-perplexity choice "
                 "(OpenCompass ceval_internal_ppl_93e5ce)"),
    provenance="OpenCompass configs/datasets/ceval/ceval_internal_ppl_93e5ce.py, PPLInferencer",
    shots=SHOTS,
    data_files=DATA_FILES,
    load=load_opencompass,
    build=build_opencompass,
    score=ppl_score,
    aggregation=AGGREGATION,
    params={"letters": LETTERS, "human": OC_HUMAN, "ice": "label-keyed rounds, FixK 0-4",
            "split": "val", "ppl": "sum NLL / all tokens, argmin", "csv": "csv module, text mode"},
    metric_note="macro over 52 subjects",
))


if __name__ == "__main__":  # python -m evaluate.tasks.ceval RUN_DIR
    if len(sys.argv) != 2:
        sys.exit("usage: python -m evaluate.tasks.ceval RUN_DIR  (a ceval:test run folder)")
    print(write_submission(Path(sys.argv[1])))
