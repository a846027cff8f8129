"""The published numbers (``evaluate/published/``, package data), looked up by model and task.

Score tables put "reported" beside "reproduced" whenever the evaluated model is one of the
reported ones. A model matches by the last part of its path or hub id, case-insensitively
(``Qwen/Qwen-7B`` and ``/models/qwen-7b`` both match the ``Qwen-7B`` row); OpenCompass's column
suffixes (``-hf``, ``-turbomind``) are ignored, and so is a parenthetical note in a model-card row
(``Qwen-7B (original Aug 2023)`` matches ``qwen-7b``).

Each reported table maps task names to its own columns or rows (:data:`TABLES`). :func:`lookup`
searches the tables in a fixed order; :func:`lookup_in` searches one named table, which is what a
sweep config that reproduces that table asks for.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable
from pathlib import Path

from evaluate.errors import EvaluateError

REPORTED_DIR = Path(__file__).resolve().parent / "published"  # package data

# task name -> (csv file, column or dataset row) in the reported tables
QWEN_TABLE = {"mmlu": "mmlu", "ceval": "ceval", "gsm8k": "gsm8k", "humaneval": "humaneval",
              "cmmlu": "cmmlu", "math": "math", "mbpp": "mbpp", "bbh": "bbh"}
OPENCOMPASS_ROWS = {"mmlu:opencompass": "mmlu", "ceval:opencompass": "ceval-test",
                    "cmmlu:opencompass": "cmmlu", "gsm8k:opencompass": "gsm8k",
                    "humaneval:opencompass": "humaneval", "math:opencompass": "math",
                    "mbpp:opencompass": "mbpp", "bbh:opencompass": "bbh",
                    "ifeval:opencompass-chat": "IFEval"}
# Qwen's chat table (technical report Table 5): the few-shot columns are the base-model protocols
# run on the chat checkpoints. The 0-shot columns used chat-template prompts (no task here).
CHAT_COLUMNS = {"mmlu": "mmlu_5shot", "ceval": "ceval_5shot", "gsm8k": "gsm8k_8shot"}
# The model cards: (benchmark, split) per task. C-Eval's test split has no public answers.
CARD_ROWS = {"mmlu": ("mmlu", "test"), "ceval": ("ceval", "val"), "gsm8k": ("gsm8k", "test"),
             "humaneval": ("humaneval", "test")}
OPENCOMPASS_TABLES = ("opencompass_qwen_base.csv", "opencompass_qwen1.5_base.csv",
                      "opencompass_qwen1.5_chat.csv")


def model_key(model: str) -> str:
    """``Qwen/Qwen-7B`` -> ``qwen-7b``; ``Qwen-7B (original Aug 2023)`` -> ``qwen-7b``."""
    name = re.sub(r"\s*\(.*\)\s*$", "", model.rstrip("/").split("/")[-1])
    return name.lower().removesuffix(".gguf")


@functools.cache
def _rows(name: str) -> list[dict[str, str]]:
    path = REPORTED_DIR / name
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _qwen_base(model: str, task: str) -> float | None:
    column = QWEN_TABLE.get(task)
    for row in _rows("qwen_base.csv"):
        if column and row["model"].lower() == model_key(model) and row.get(column):
            return float(row[column])
    return None


def _opencompass(table: str) -> Callable[[str, str], float | None]:
    def find(model: str, task: str) -> float | None:
        for row in _rows(table):
            if row["dataset"] != OPENCOMPASS_ROWS.get(task):
                continue
            for column, value in row.items():
                name = column.lower().removesuffix("-turbomind").removesuffix("-hf")
                if column != "dataset" and name == model_key(model) and value:
                    return float(value)
        return None

    return find


def _chat(model: str, task: str) -> float | None:
    column = CHAT_COLUMNS.get(task)
    for row in _rows("qwen_chat.csv"):
        if column and row["model"].lower() == model_key(model) and row.get(column):
            return float(row[column])
    return None


def _cards(model: str, task: str) -> float | None:
    wanted = CARD_ROWS.get(task)
    for row in _rows("qwen_model_cards.csv"):
        if wanted and model_key(row["model"]) == model_key(model) and (
                row["benchmark"], row["split"]) == wanted:
            return float(row["score"])
    return None


# table file -> (model, task) -> value; the order is the search order of :func:`lookup`
TABLES: dict[str, Callable[[str, str], float | None]] = {
    "qwen_base.csv": _qwen_base,
    **{name: _opencompass(name) for name in OPENCOMPASS_TABLES},
    "qwen_chat.csv": _chat,
    "qwen_model_cards.csv": _cards,
}
SOURCES = {"qwen_base.csv": "Qwen GitHub README performance table",
           "qwen_chat.csv": "Qwen technical report Table 5 (few-shot columns)",
           "qwen_model_cards.csv": "Qwen model cards",
           **{name: f"OpenCompass reference table ({name})" for name in OPENCOMPASS_TABLES}}


def table_name(name: str) -> str:
    """``qwen_base`` or ``qwen_base.csv`` -> ``qwen_base.csv``; a clear error for other names."""
    full = name if name.endswith(".csv") else name + ".csv"
    if full not in TABLES:
        raise EvaluateError(f"unknown reported table {name!r}: use one of "
                            f"{', '.join(t.removesuffix('.csv') for t in TABLES)}")
    return full


def lookup_in(table: str, model: str, task: str) -> float | None:
    """The value reported for ``model`` on ``task`` in one table, or None."""
    return TABLES[table_name(table)](model, task)


def lookup(model: str, task: str) -> tuple[float, str] | None:
    """(reported value, source) for ``model`` on ``task``, or None when not reported."""
    for table, find in TABLES.items():
        value = find(model, task)
        if value is not None:
            return value, SOURCES[table]
    return None


def table_models(table: str) -> list[str]:
    """The models a reported table names, in its order (model keys)."""
    table = table_name(table)
    rows = _rows(table)
    if table in OPENCOMPASS_TABLES:
        return [c.lower().removesuffix("-turbomind").removesuffix("-hf")
                for c in (rows[0] if rows else {}) if c != "dataset"]
    return list(dict.fromkeys(model_key(r["model"]) for r in rows))


def table_tasks(table: str) -> list[str]:
    """The task names that have a value somewhere in a reported table."""
    table = table_name(table)
    candidates = {**QWEN_TABLE, **OPENCOMPASS_ROWS, **CHAT_COLUMNS, **CARD_ROWS}
    return [task for task in candidates
            if any(TABLES[table](model, task) is not None for model in table_models(table))]
