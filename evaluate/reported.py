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
                    "mbpp:opencompass": "mbpp", "bbh:opencompass": "bbh"}
# OpenCompass's chat configs (tasks/opencompass_chat*.py): rows of the chat table only
OPENCOMPASS_CHAT_ROWS = {"mmlu:opencompass-chat": "mmlu", "cmmlu:opencompass-chat": "cmmlu",
                         "ceval:opencompass-chat": "ceval-test",
                         "gsm8k:opencompass-chat": "gsm8k",
                         "humaneval:opencompass-chat": "humaneval",
                         "ifeval:opencompass-chat": "IFEval",
                         "math:opencompass-chat": "math", "mbpp:opencompass-chat": "mbpp",
                         "bbh:opencompass-chat": "bbh",
                         "gaokao:opencompass-chat": "GaokaoBench",
                         "triviaqa:opencompass-chat": "triviaqa", "nq:opencompass-chat": "nq",
                         "race:opencompass-chat": "race-high",
                         "winogrande:opencompass-chat": "winogrande",
                         "hellaswag:opencompass-chat": "hellaswag",
                         "gpqa:opencompass-chat": "GPQA_diamond"}
# Base-model protocols that fill only the base tables (the chat table's rows need chat prompts).
OPENCOMPASS_BASE_ROWS = {"gaokao:opencompass": "GaokaoBench", "triviaqa:opencompass": "triviaqa",
                         "nq:opencompass": "nq", "race:opencompass": "race-high",
                         "winogrande:opencompass": "winogrande",
                         "hellaswag:opencompass": "hellaswag", "gpqa:opencompass": "GPQA_diamond",
                         "theoremqa:opencompass": "TheoremQA", "lcbench:opencompass": "lcbench"}
# Rows of the OpenCompass tables that cannot be reproduced here, and why (said by the tables).
OPENCOMPASS_UNREPRODUCIBLE = {
    "ceval-test": "C-Eval's test answers are private; ceval:opencompass and "
                  "ceval:opencompass-chat score the val split",
}
# Qwen's chat table (technical report Table 5): the few-shot columns are the base-model protocols
# run on the chat checkpoints; the 0-shot columns are Qwen's chat scripts (tasks/qwen_chat.py).
CHAT_COLUMNS = {"mmlu": "mmlu_5shot", "ceval": "ceval_5shot", "gsm8k": "gsm8k_8shot",
                "mmlu:qwen-chat": "mmlu_0shot", "ceval:qwen-chat": "ceval_0shot",
                "gsm8k:qwen-chat": "gsm8k_0shot", "humaneval:qwen-chat": "humaneval_0shot"}
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


def _row_map(table: str) -> dict[str, str]:
    """task -> dataset row for one OpenCompass table."""
    return {**OPENCOMPASS_ROWS, **(OPENCOMPASS_BASE_ROWS if "_base" in table else {}),
            **(OPENCOMPASS_CHAT_ROWS if "chat" in table else {})}


def _opencompass(table: str) -> Callable[[str, str], float | None]:

    def find(model: str, task: str) -> float | None:
        for row in _rows(table):
            if row["dataset"] != _row_map(table).get(task):
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
           "qwen_chat.csv": "Qwen technical report Table 5",
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
    candidates = {**QWEN_TABLE, **OPENCOMPASS_ROWS, **OPENCOMPASS_BASE_ROWS,
                  **OPENCOMPASS_CHAT_ROWS, **CHAT_COLUMNS, **CARD_ROWS}
    return [task for task in candidates
            if any(TABLES[table](model, task) is not None for model in table_models(table))]


def missing_rows(table: str, tasks: list[str]) -> list[str]:
    """Rows of an OpenCompass table that none of ``tasks`` fills (``"bbh (no run)"``), and those
    that cannot be reproduced here even when a task stands in for them, with the reason."""
    table = table_name(table)
    if table not in OPENCOMPASS_TABLES:
        return []
    filled = {_row_map(table).get(t.split("/")[0]) for t in tasks}
    reasons = {row: OPENCOMPASS_UNREPRODUCIBLE.get(row, "no run")
               for row in (r["dataset"] for r in _rows(table))
               if row not in filled or row in OPENCOMPASS_UNREPRODUCIBLE}
    return [f"{row} ({why})" for row, why in reasons.items()]
