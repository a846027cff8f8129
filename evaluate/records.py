"""Run records: the files of a run folder, how they are named, written and read back.

A run of task ``T`` on model ``M`` lives in ``OUTPUT/<slug M>/<slug T>/`` (:func:`run_dir_for`):

- ``run.json``: the run's key (task, protocol hash, model fingerprint, limit, seed); a folder whose
  key differs is started afresh.
- ``plan.jsonl``: one :class:`PlanRecord` a line, written before the model runs::

      {"id": ..., "target": ..., "meta": {...}, "requests": [{"hash": ..., "kind": ..., ...}],
       "reference": ...}

  ``target`` is the gold answer, ``meta`` the facts scoring and aggregation group by,
  ``requests`` each request with its hash and exact prompt text (:mod:`evaluate.requests`), and
  ``reference`` (present only when a task has one) the scoring material that is not an answer,
  e.g. HumanEval's test harness. Together these are everything a rescore has.
- ``responses.jsonl``: ``{"hash": ..., "response": {...}}`` a line, appended as each request is
  answered; a torn last line (a killed run) is ignored and cut off before appending.
- ``samples.jsonl``: one :class:`SampleRecord` a line (prompt, requests, raw responses, target,
  extracted answer, score, weight, meta, optional extra).
- ``results.json``: metrics, protocol and provenance.

JSON files are replaced atomically (written beside, then renamed), so a kill leaves the old file
or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from evaluate.errors import EvaluateError

PLAN, RESPONSES, SAMPLES, RESULTS, RUN = (
    "plan.jsonl", "responses.jsonl", "samples.jsonl", "results.json", "run.json",
)


T = TypeVar("T")


class MalformedRecordError(EvaluateError):
    """A run-folder file that cannot be read (names the file and line)."""


# ---- naming ----------------------------------------------------------------------------------
def slug(text: str) -> str:
    """A file-system-safe name for a model or task."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_") or "model"


def run_dir_for(output: Path, model_label: str, task_name: str) -> Path:
    """The folder of one (model, task) run under ``output``."""
    return Path(output) / slug(model_label) / slug(task_name)


# ---- plain files -----------------------------------------------------------------------------
def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    _replace(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a MalformedRecordError naming the file otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MalformedRecordError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedRecordError(f"{path} does not hold a JSON object")
    return data


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write one JSON object a line, atomically."""
    _replace(path, "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n"
                           for row in rows))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``path``, one a line; a torn last line (no newline) is skipped.

    Any other line that is not a JSON object raises a MalformedRecordError naming file and line.
    """
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if not line.endswith("\n"):  # a write cut off by a kill
                    return
                raise MalformedRecordError(f"{path}:{number}: not a JSON line") from None
            if not isinstance(row, dict):
                raise MalformedRecordError(f"{path}:{number}: not a JSON object")
            yield row


def truncate_torn_tail(path: Path) -> None:
    """Drop a last line without its newline (a write cut off by a kill) before appending."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---- plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanRecord:
    """One sample's line of ``plan.jsonl``: what the model is asked and what scoring may use."""

    id: str
    target: Any
    meta: dict[str, Any]
    requests: list[dict[str, Any]]  # each {"hash": ..., **request_to_dict(request)}
    reference: Any = None

    def to_dict(self) -> dict[str, Any]:
        row = {"id": self.id, "target": self.target, "meta": self.meta,
               "requests": self.requests}
        if self.reference is not None:
            row["reference"] = self.reference
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> PlanRecord:
        return cls(id=row["id"], target=row.get("target"), meta=dict(row.get("meta") or {}),
                   requests=list(row.get("requests") or []), reference=row.get("reference"))


def write_plan(run_dir: Path, records: Sequence[PlanRecord]) -> None:
    write_jsonl(run_dir / PLAN, (r.to_dict() for r in records))


REDACTED_FIELDS = ("context", "text", "chat", "context_ids")  # what spells a request's prompt


def redact_text(value: Any) -> str:
    """What a private task stores instead of a prompt: ``"sha256:<hex>"`` of its text (of its
    JSON for a conversation or token ids)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                            ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def redact_requests(requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Request specs with their prompt replaced by :func:`redact_text` (the request hash is
    kept, so the responses still match them)."""
    return [{k: redact_text(v) if k in REDACTED_FIELDS and v is not None else v
             for k, v in spec.items()} for spec in requests]


def read_plan(run_dir: Path) -> list[PlanRecord]:
    return _read_typed(run_dir / PLAN, PlanRecord.from_dict, "plan records (id, requests, ...)")


# ---- responses -------------------------------------------------------------------------------
def read_responses(path: Path) -> dict[str, dict[str, Any]]:
    """Responses by request hash; a torn or malformed line from a killed run is skipped."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
                done[entry["hash"]] = entry["response"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


class ResponseLog:
    """``responses.jsonl`` opened for appending (its torn tail cut first)::

        with ResponseLog(path) as log:
            log.add(key, response)
            log.flush()
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> ResponseLog:
        truncate_torn_tail(self.path)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        return self

    def add(self, key: str, response: dict[str, Any]) -> None:
        self._handle.write(json.dumps({"hash": key, "response": response}, ensure_ascii=False)
                           + "\n")

    def flush(self) -> None:
        self._handle.flush()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._handle.close()


def append_response_files(target: Path, sources: Sequence[Path]) -> None:
    """Append the responses of ``sources`` to ``target`` in order, each hash once; fsync.

    Torn last lines are dropped; a response already in ``target`` is not repeated.
    """
    seen = set(read_responses(target))
    truncate_torn_tail(target)
    with open(target, "a", encoding="utf-8") as sink:
        for path in sources:
            truncate_torn_tail(path)
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    key = json.loads(line)["hash"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
                if key not in seen:
                    seen.add(key)
                    sink.write(line + "\n")
        sink.flush()
        os.fsync(sink.fileno())


# ---- samples ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleRecord:
    """One line of ``samples.jsonl``: a scored sample, with everything that produced the score."""

    id: str
    prompt: str | None
    requests: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    target: Any
    extracted: Any
    score: float
    weight: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        row = {"id": self.id, "prompt": self.prompt, "requests": self.requests,
               "responses": self.responses, "target": self.target, "extracted": self.extracted,
               "score": self.score, "weight": self.weight, "meta": self.meta}
        if self.extra:
            row["extra"] = self.extra
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SampleRecord:
        return cls(id=row["id"], prompt=row.get("prompt"), requests=list(row.get("requests", [])),
                   responses=list(row.get("responses", [])), target=row.get("target"),
                   extracted=row.get("extracted"), score=float(row["score"]),
                   weight=float(row.get("weight", 1.0)), meta=dict(row.get("meta") or {}),
                   extra=dict(row.get("extra") or {}))


def write_samples(run_dir: Path, samples: Sequence[SampleRecord]) -> None:
    write_jsonl(run_dir / SAMPLES, (s.to_dict() for s in samples))


def read_samples(run_dir: Path) -> list[SampleRecord]:
    return _read_typed(run_dir / SAMPLES, SampleRecord.from_dict,
                       "sample records (id, score, ...)")


def _read_typed(path: Path, from_dict: Callable[[dict[str, Any]], T], what: str) -> list[T]:
    try:
        return [from_dict(row) for row in read_jsonl(path)]
    except (KeyError, TypeError, ValueError):
        raise MalformedRecordError(f"{path}: not {what}") from None


def read_sample_scores(run_dir: Path) -> dict[str, float] | None:
    """``{id: score}`` from ``samples.jsonl`` (None when the folder has none)."""
    path = run_dir / SAMPLES
    if not path.is_file():
        return None
    scores = {}
    for number, row in enumerate(read_jsonl(path), 1):
        try:
            scores[str(row["id"])] = float(row["score"])
        except (KeyError, TypeError, ValueError):
            raise MalformedRecordError(
                f"{path}:{number}: not a sample record (id, score)") from None
    return scores


# ---- results ---------------------------------------------------------------------------------
def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    write_json(run_dir / RESULTS, results)


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Results dicts from ``results.json`` files, run folders, or folders searched recursively.

    Each dict gets ``run_dir`` set to the folder it was read from (so ``samples.jsonl`` beside it
    can be found even when the run was moved).
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif (path / RESULTS).is_file():
            files.append(path / RESULTS)
        elif path.is_dir():
            found = sorted(path.rglob(RESULTS))
            if not found:
                raise EvaluateError(f"{path} holds no {RESULTS}")
            files.extend(found)
        else:
            raise EvaluateError(f"{path} does not exist")
    results = []
    for file in files:
        try:
            result = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise EvaluateError(f"{file} is not valid JSON: {exc}") from None
        if not isinstance(result, dict) or "task" not in result or "metrics" not in result:
            raise EvaluateError(f"{file} is not a results.json (no task or metrics)")
        result["run_dir"] = str(file.parent)
        results.append(result)
    return results
