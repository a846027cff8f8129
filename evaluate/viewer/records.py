"""Read the records runs write (``results.json``, ``samples.jsonl``): the viewer's only reader.

A thin layer over the run folder layout of :mod:`evaluate.records`. Samples are paged from the
file, never all held by a page: an index of line offsets is built once per file (and rebuilt
when the file changes), verdicts and ids only when a filter or a comparison needs them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.records import SAMPLES, load_results

SEARCHED = ("id", "prompt", "requests", "responses", "target", "extracted", "meta", "extra")


def find_runs(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Every run's results under ``paths`` (files, run folders, or folders searched)."""
    return load_results(paths)


def load_run(path: str | Path) -> dict[str, Any]:
    """One run's results from its folder or its ``results.json``."""
    return load_results([path])[0]


def verdict(sample: dict[str, Any]) -> str:
    """``correct`` / ``wrong`` / ``partial`` for scores in [0, 1], ``scored`` otherwise."""
    score = sample.get("score")
    if not isinstance(score, (int, float)):
        return "unscored"
    if score == 1:
        return "correct"
    if score == 0:
        return "wrong"
    return "partial" if 0 < score < 1 else "scored"


@dataclass
class _Index:
    stamp: tuple[int, int]  # (mtime, size) of the file it was built from
    offsets: list[int]  # byte offset of every sample's line
    scored: tuple[list[str], list[Any], list[str]] | None = None  # ids, scores, verdicts
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards building `scored`


_INDEXES: dict[Path, _Index] = {}
_LOCK = threading.Lock()


def has_samples(run_dir: str | Path) -> bool:
    return (Path(run_dir) / SAMPLES).is_file()


def _samples_file(run_dir: str | Path) -> Path:
    path = Path(run_dir) / SAMPLES
    if not path.is_file():
        raise EvaluateError(f"{run_dir} has no {SAMPLES}")
    return path


def _index(run_dir: str | Path, verdicts: bool = False) -> _Index:
    """Line offsets (fast: no parsing); with ``verdicts``, every sample's id, score, verdict.

    Pages without a filter never wait for the verdicts, which parse the whole file once.
    """
    path = _samples_file(run_dir).resolve()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        index = _INDEXES.get(path)
        if index is None or index.stamp != stamp:
            offsets, position = [], 0
            with open(path, "rb") as handle:
                for line in handle:
                    if line.strip():
                        offsets.append(position)
                    position += len(line)
            index = _INDEXES[path] = _Index(stamp, offsets)
    if verdicts:
        with index.lock:
            if index.scored is None:
                ids, scores, marks = [], [], []
                for sample in _read_at(path, index.offsets):
                    ids.append(str(sample.get("id")))
                    scores.append(sample.get("score"))
                    marks.append(verdict(sample))
                index.scored = (ids, scores, marks)
    return index


def warm(run_dir: str | Path) -> None:
    """Build a run's verdict index in the background (before a filter asks for it)."""
    index = _index(run_dir)
    if index.scored is None and not index.lock.locked():
        threading.Thread(target=_index, args=(run_dir, True), daemon=True).start()


def _read_at(path: Path, offsets: Sequence[int]) -> Iterator[dict[str, Any]]:
    """The samples starting at ``offsets``, one at a time."""
    with open(path, "rb") as handle:
        for offset in offsets:
            handle.seek(offset)
            line = handle.readline()
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise EvaluateError(f"{path}: a line at byte {offset} is not JSON") from None


def _matches(path: Path, offset: int, needle: str) -> bool:
    """Whether a sample's text (not its JSON keys) contains ``needle`` (lower case)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.readline()
    plain = needle.isascii() and needle.isprintable() and not ('"' in needle or "\\" in needle)
    if plain and needle.encode() not in raw.lower():  # JSON keeps such text verbatim: skip fast
        return False
    sample = json.loads(raw)
    return any(needle in text.lower() for key in SEARCHED for text in _strings(sample.get(key)))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


def iter_samples(run_dir: str | Path, offset: int = 0, limit: int = 50,
                 verdict_filter: str | None = None, search: str | None = None,
                 ) -> tuple[int, list[dict[str, Any]]]:
    """(number of samples matching, up to ``limit`` of them from ``offset``), each with its
    ``index`` (line number in ``samples.jsonl``) and ``verdict``."""
    path = _samples_file(run_dir).resolve()
    index = _index(run_dir, verdicts=bool(verdict_filter))
    chosen: list[int] = list(range(len(index.offsets)))
    if verdict_filter:
        assert index.scored is not None
        chosen = [i for i in chosen if index.scored[2][i] == verdict_filter]
    if search:
        needle = search.lower()
        chosen = [i for i in chosen if _matches(path, index.offsets[i], needle)]
    page = list(chosen[offset: offset + limit])
    rows = list(_read_at(path, [index.offsets[i] for i in page]))
    for i, row in zip(page, rows, strict=True):
        row["index"], row["verdict"] = i, verdict(row)
    return len(chosen), rows


def read_sample(run_dir: str | Path, number: int) -> dict[str, Any]:
    """Sample ``number`` (its line among the samples) in full, with its verdict."""
    index = _index(run_dir)
    if not 0 <= number < len(index.offsets):
        raise EvaluateError(f"{run_dir}: no sample {number} (it has {len(index.offsets)})")
    row = next(_read_at(_samples_file(run_dir), [index.offsets[number]]))
    row["index"], row["verdict"] = number, verdict(row)
    return row


def sample_scores(run_dir: str | Path) -> list[tuple[str, Any, str]]:
    """(id, score, verdict) of every sample, in file order."""
    scored = _index(run_dir, verdicts=True).scored
    assert scored is not None
    return list(zip(*scored, strict=True))
