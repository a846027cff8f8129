"""The left pad each request had in the published engine's batches (``Task.request_batching``).

OpenCompass scored perplexity prompts in batches of 8 consecutive rows per label, left-padded to
the longest row, with no position ids (PROTOCOLS_MORE.md A1). A row's value then depends on its
batch only through the number of pad tokens before it, so each request carries that number
(``SequenceNLLRequest.left_pad``) and stays self-contained: cached, resumed and answered in any
batch without changing what it computes. This module finds the numbers: the batches are formed
over the task's *whole* doc list (a ``--limit`` subset keeps its rows' real peers), one per
label, and measured with the backend's tokenizer. A backend that cannot compute such a row
(no ``left_padded_rows``: a completions server) gets the requests unpadded, each prompt alone,
and the results file says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.requests import Request, SequenceNLLRequest
from evaluate.task import Doc, LeftPaddedBatches


def batches(docs: Sequence[Doc], batching: LeftPaddedBatches) -> list[list[int]]:
    """Doc indices of every batch: consecutive docs, cut at ``size`` and where ``by`` changes."""
    out: list[list[int]] = []
    current: list[int] = []
    group: Any = object()
    for index, doc in enumerate(docs):
        key = doc.meta.get(batching.by) if batching.by is not None else None
        if current and (len(current) == batching.size or key != group):
            out.append(current)
            current = []
        group = key
        current.append(index)
    if current:
        out.append(current)
    return out


def applies(backend: Any) -> bool:
    """Does ``backend`` compute left-padded rows exactly (``left_padded_rows``)?"""
    return bool(getattr(backend, "left_padded_rows", False))


def pad_requests(
    batching: LeftPaddedBatches, docs: Sequence[Doc], chosen: Sequence[int],
    built: Sequence[Sequence[Request]], build: Callable[[Doc], Sequence[Request]],
    encode_batch: Callable[[list[str]], list[list[int]]],
) -> list[list[Request]]:
    """``built`` (the requests of ``docs[chosen[k]]``) with each batched row's ``left_pad`` set.

    A batch's other docs are built too (``build``), only to measure their rows.
    """
    requests: dict[int, Sequence[Request]] = dict(zip(chosen, built, strict=True))
    of = {index: batch for batch in batches(docs, batching) for index in batch}
    needed = {tuple(of[index]) for index in chosen}
    for batch in needed:
        for index in batch:
            if index not in requests:
                requests[index] = build(docs[index])
    texts: dict[str, None] = {}
    for batch in needed:
        for index in batch:
            for request in _rows(requests[index], batching, docs[index].id):
                texts[str(request.text)] = None
    unique = list(texts)
    length = {text: len(ids) for text, ids in zip(unique, encode_batch(unique), strict=True)}
    pads: dict[tuple[int, int], int] = {}
    for batch in needed:
        for label in range(batching.rows):
            sizes = [length[str(_rows(requests[i], batching, "")[label].text)] for i in batch]
            for index, size in zip(batch, sizes, strict=True):
                pads[index, label] = max(sizes) - size
    out = []
    for index in chosen:
        row = list(requests[index])
        for label, request in enumerate(_rows(row, batching, docs[index].id)):
            row[label] = dataclasses.replace(request, left_pad=pads[index, label])
        out.append(row)
    return out


def _rows(requests: Sequence[Request], batching: LeftPaddedBatches,
          where: str) -> list[SequenceNLLRequest]:
    rows = list(requests[: batching.rows])
    if len(rows) < batching.rows or not all(
            isinstance(r, SequenceNLLRequest) and r.text is not None and r.left_pad is None
            for r in rows):
        raise EvaluateError(f"doc {where}: the first {batching.rows} requests must be unpadded "
                            "text sequence-NLL requests to be batched")
    return rows  # type: ignore[return-value]


def describe(batching: LeftPaddedBatches, backend: Any) -> dict[str, Any]:
    """What ``results.json`` records: the engine's batching, and what this backend computed."""
    applied = applies(backend)
    return {
        **dataclasses.asdict(batching),
        "computed": "left-padded batch rows (each request's left_pad)" if applied else
                    f"each prompt alone: the {getattr(backend, 'name', 'unknown')} backend "
                    "cannot compute left-padded rows (batch-independent values)",
        "applied": applied,
        "pad_id": getattr(backend, "pad_id", None),
    }
