"""C-Eval 5-shot: Qwen's protocol (``ceval``, ``ceval:test``) and OpenCompass's.

``ceval`` (QwenLM/Qwen ``eval/evaluate_ceval.py``; EVALUATION.md "C-Eval"): no header; shots are
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

import dataclasses
import json
import sys
from pathlib import Path

from evaluate.data import DataDir
from evaluate.records import read_samples
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
    qwen_example,
    qwen_shots,
    read_csv_pandas,
    require_answer,
    require_columns,
)
from evaluate.tasks.subjects import CEVAL_CATEGORIES as CATEGORIES
from evaluate.tasks.subjects import CEVAL_SUBJECTS as SUBJECTS

SHOTS = 5
FIELDS = ("id", "question", "A", "B", "C", "D")


# ---- Qwen ------------------------------------------------------------------------------------
def load_qwen_split(data: DataDir, split: str) -> list[Doc]:
    """Questions of ``split`` (val or test), subjects in the scripts' order, rows in file order."""
    docs = []
    for subject in SUBJECTS:
        dev_name = f"ceval/dev/{subject}_dev.csv"
        dev = read_csv_pandas(data.path(dev_name))
        for row in dev[:SHOTS]:
            require_columns(row, (*FIELDS, "answer"), dev_name)
        shots = qwen_shots(dev, SHOTS, "question", "问题：", "answer", "\n答案：")
        name = f"ceval/{split}/{subject}_{split}.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name)), 1):
            require_columns(row, FIELDS, name)
            target = None
            if split != "test":
                require_answer(row.get("answer", ""), f"{name}:{number}")
                target = row["answer"]
            docs.append(Doc(id=f"{subject}/{row['id']}", target=target,
                            meta={"subject": subject},
                            data={"prompt": shots + qwen_example(row, "question", "问题：")
                                  + "\n答案："}))
    return docs


def load_qwen(data: DataDir) -> list[Doc]:
    return load_qwen_split(data, "val")


def load_qwen_test(data: DataDir) -> list[Doc]:
    return load_qwen_split(data, "test")


def build_qwen(doc: Doc) -> list:
    return next_token_request(doc.data["prompt"], LETTERS, None)


def write_submission(run_dir: Path) -> Path:
    """C-Eval's submission file ``{subject: {id: letter}}`` from a ``ceval:test`` run folder."""
    answers: dict[str, dict[str, str]] = {}
    for sample in read_samples(Path(run_dir)):
        subject, number = sample.id.split("/", 1)
        answers.setdefault(subject, {})[number] = sample.extracted
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
    provenance='QwenLM/Qwen eval/evaluate_ceval.py; EVALUATION.md "C-Eval"',
    shots=SHOTS,
    data_files=DATA_FILES,
    load=load_qwen,
    build=build_qwen,
    score=next_token_choice,
    aggregation=AGGREGATION,
    params={"letters": LETTERS, "split": "val", "csv": "pandas defaults (NA quirk)",
            "shots": "dev rows 0-4", "truncation": None},
    metric_note="macro over 52 subjects; STEM/Social Science/Humanities/Other/Hard",
    subjects=tuple(SUBJECTS),
))

TEST = register(dataclasses.replace(
    QWEN,
    name="ceval:test",
    description="C-Eval 5-shot on test: predictions for submission only (answers not public)",
    provenance='QwenLM/Qwen eval/evaluate_ceval.py, test split; EVALUATION.md "C-Eval"',
    data_files=("ceval/dev/*_dev.csv", "ceval/test/*_test.csv"),
    load=load_qwen_test,
    params={**QWEN.params, "split": "test"},
    metric_note="cannot be scored here (NaN): submit submission.json to cevalbenchmark.com",
))

OC_UNBATCHED = Task(
    name="ceval:opencompass",
    description=("C-Eval 5-shot on val, lowest-perplexity choice "
                 "(OpenCompass ceval_internal_ppl_93e5ce)"),
    provenance='OpenCompass configs/datasets/ceval/ceval_internal_ppl_93e5ce.py, PPLInferencer; '
               'EVALUATION.md "C-Eval"',
    shots=SHOTS,
    data_files=DATA_FILES,
    load=load_opencompass,
    build=build_opencompass,
    score=lowest_ppl_choice,
    aggregation=AGGREGATION,
    params={"letters": LETTERS, "human": OC_HUMAN, "ice": "label-keyed rounds, FixK 0-4",
            "split": "val", "ppl": "sum NLL / all tokens, argmin", "csv": "csv module, text mode"},
    metric_note="macro over 52 subjects",
    subjects=tuple(SUBJECTS),
)
# OpenCompass's left-padded batches of 8 per label, per subject (the default), and each prompt
# alone (EVALUATION.md "OpenCompass perplexity batches").
OPENCOMPASS = register(ppl.batched(OC_UNBATCHED, LETTERS, by="subject"))
register(ppl.unbatched(OC_UNBATCHED))


if __name__ == "__main__":  # python -m evaluate.tasks.ceval RUN_DIR
    if len(sys.argv) != 2:
        sys.exit("usage: python -m evaluate.tasks.ceval RUN_DIR  (a ceval:test run folder)")
    print(write_submission(Path(sys.argv[1])))
