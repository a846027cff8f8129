"""Scoring completions made elsewhere, exactly as a run scores its own (``score-completions``).

Input rows are ``{"id": ..., "completion": ...}`` with the task's own sample ids (the ``id`` of
``plan.jsonl`` / ``samples.jsonl``). The task's plan is built from the data as a run builds it;
each completion becomes the response ``{"text": completion}`` to that sample's generation
request, and the task's scorer (``Task.score_all``) scores it. A sample with several generation
requests (n sampled completions) takes that many lines, in order. Only the samples named in the
file are scored; the metrics are the task's own aggregation over them.

Nothing here names a task; a task's own ``score_completions`` hook (HumanEval's ``task_id`` rows,
several per problem) is the CLI's other path.
"""

from __future__ import annotations

from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import EvaluateError, MalformedDataError
from evaluate.records import PlanRecord, SampleRecord
from evaluate.requests import Response
from evaluate.task import ScoreInput, Task


def group_completions(rows: list[dict[str, Any]], where: str) -> dict[str, list[str]]:
    """Completions per id, in file order; a row without ``id``/``completion`` is one clear error."""
    grouped: dict[str, list[str]] = {}
    for number, row in enumerate(rows, 1):
        require_fields(row, ("id", "completion"), f"{where}:{number}")
        if not isinstance(row["completion"], str):
            raise MalformedDataError(f"{where}:{number}: completion is not a string")
        grouped.setdefault(str(row["id"]), []).append(row["completion"])
    return grouped


def score_completion_rows(task: Task, rows: list[dict[str, Any]], data: DataDir,
                          where: str = "completions") -> list[SampleRecord]:
    """Per-sample records for the ids in ``rows``, in the task's sample order."""
    from evaluate.runner import RunOptions, plan

    grouped = group_completions(rows, where)
    records = {r.id: r for r in plan(task, data, RunOptions(progress=False))}
    unknown = [i for i in grouped if i not in records]
    if unknown:
        raise MalformedDataError(f"{where}: {len(unknown)} id(s) are not samples of "
                                 f"{task.name}, e.g. {unknown[0]!r}")
    chosen = [r for r in records.values() if r.id in grouped]
    answers: list[list[Response]] = []
    for record in chosen:
        kinds = {spec.get("kind") for spec in record.requests}
        if kinds != {"generate"}:
            raise EvaluateError(f"{task.name} is not a generation task: its samples ask for "
                                f"{', '.join(sorted(str(k) for k in kinds))}")
        given = grouped[record.id]
        if len(given) != len(record.requests):
            raise MalformedDataError(
                f"{where}: id {record.id!r} has {len(given)} completion(s); {task.name} "
                f"generates {len(record.requests)} per sample")
        answers.append([{"text": text} for text in given])
    inputs = [ScoreInput(id=r.id, target=r.target, meta=r.meta, reference=r.reference)
              for r in chosen]
    scored = task.score_all(inputs, answers)
    return [_sample(record, answer, result)
            for record, answer, result in zip(chosen, answers, scored, strict=True)]


def _sample(record: PlanRecord, answer: list[Response], result: Any) -> SampleRecord:
    first = record.requests[0] if record.requests else {}
    return SampleRecord(
        id=record.id, prompt=first.get("context"), requests=record.requests, responses=answer,
        target=record.target, extracted=result.extracted, score=result.score,
        weight=result.weight, meta=record.meta, extra=dict(result.extra))
