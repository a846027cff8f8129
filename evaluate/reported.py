"""The published numbers (``results/reported/``), looked up by model and task.

Score tables put "reported" beside "reproduced" whenever the evaluated model is one of the
reported ones. A model matches by the last part of its path or hub id, case-insensitively
(``Qwen/Qwen-7B`` and ``/models/qwen-7b`` both match the ``Qwen-7B`` row).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

REPORTED_DIR = Path(__file__).resolve().parents[1] / "results" / "reported"

# task name -> (csv file, column or dataset row) in the reported tables
QWEN_TABLE = {"mmlu": "mmlu", "ceval": "ceval", "gsm8k": "gsm8k", "humaneval": "humaneval",
              "cmmlu": "cmmlu", "math": "math", "mbpp": "mbpp", "bbh": "bbh"}
OPENCOMPASS_ROWS = {"mmlu:opencompass": "mmlu", "ceval:opencompass": "ceval-test",
                    "cmmlu:opencompass": "cmmlu", "gsm8k:opencompass": "gsm8k",
                    "humaneval:opencompass": "humaneval"}


def model_key(model: str) -> str:
    """``Qwen/Qwen-7B`` -> ``qwen-7b``."""
    return model.rstrip("/").split("/")[-1].lower().removesuffix(".gguf")


@functools.lru_cache(maxsize=1)
def _rows(name: str) -> list[dict[str, str]]:
    path = REPORTED_DIR / name
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def lookup(model: str, task: str) -> tuple[float, str] | None:
    """(reported value, source) for ``model`` on ``task``, or None when not reported."""
    key = model_key(model)
    if task in QWEN_TABLE:
        for row in _rows("qwen_base.csv"):
            if row["model"].lower() == key and row.get(QWEN_TABLE[task]):
                return float(row[QWEN_TABLE[task]]), row["source"]
    if task in OPENCOMPASS_ROWS:
        for table in ("opencompass_qwen_base.csv", "opencompass_qwen1.5_base.csv",
                      "opencompass_qwen1.5_chat.csv"):
            for row in _rows(table):
                if row["dataset"] != OPENCOMPASS_ROWS[task]:
                    continue
                for column, value in row.items():
                    name = column.lower().removesuffix("-turbomind").removesuffix("-hf")
                    if column != "dataset" and name == key and value:
                        return float(value), f"OpenCompass reference table ({table})"
    return None
