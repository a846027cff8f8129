"""Rows of a left-padded batch as OpenCompass's ``get_ppl`` computes them (PROTOCOLS_MORE.md A1).

The batch is ``pad * p_i + row_i`` for every row, attention mask 0 on the pads, and one plain
forward pass with **no position ids** (so a row's real tokens sit at positions p_i.. and the
pads are not skipped). Every label that is not the pad token counts: with ``p_i > 0`` the row's
first token is predicted from the last pad position, whose state comes from a query that may
attend to nothing (what the model returns there is the attention implementation's business;
EVALUATION.md "OpenCompass perplexity batches"). :func:`row_nlls` gives each row's label NLLs
from its first real label on; :func:`ppl_values` turns a batch into ``get_ppl``'s values (sum /
non-pad tokens). Used by the Transformers backend for ``SequenceNLLRequest.left_pad`` and by
``benchmarks/oc_padding.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

HEAD_CHUNK = 1024  # positions per LM-head chunk


def left_pad(rows: Sequence[Sequence[int]], pad: int, width: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``: every row right-aligned to ``width`` (default: the longest row), pads
    and mask 0 on the left."""
    width = max(len(r) for r in rows) if width is None else width
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids, mask


def forward_logits(model: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The model's own forward (input ids and attention mask only) as a logits function."""
    return lambda ids, mask: model(input_ids=ids, attention_mask=mask, use_cache=False).logits


@torch.inference_mode()
def row_nlls(
    states: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    rows: Sequence[Sequence[int]], pad: int,
    head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str = "cpu", width: int | None = None,
) -> list[tuple[int, list[float], int]]:
    """Per row: ``(p, nlls, nonpad)`` for the batch of ``rows`` left-padded to ``width``.

    ``states(ids, mask)`` runs the batch (logits, or hidden states that ``head`` projects, in
    chunks of positions); ``nlls`` are the NLLs of the labels at positions ``max(p-1, 0)`` on
    (0.0 where the label is the pad token, which ``get_ppl`` ignores); ``nonpad`` counts the
    row's tokens that are not the pad token (``get_ppl``'s divisor).
    """
    ids, mask = left_pad(rows, pad, width)
    ids, mask = ids.to(device), mask.to(device)
    out = states(ids, mask)
    width = ids.shape[1]
    parts = []
    for start in range(0, width - 1, HEAD_CHUNK):
        stop = min(width - 1, start + HEAD_CHUNK)
        chunk = out[:, start:stop]
        logits = (head(chunk) if head is not None else chunk).float()
        labels = ids[:, start + 1: stop + 1].to(logits.device)
        parts.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                     ignore_index=pad, reduction="none"
                                     ).view(labels.shape).double().cpu())
    loss = torch.cat(parts, dim=1) if parts else torch.zeros((len(rows), 0), dtype=torch.double)
    results = []
    for i, row in enumerate(rows):
        p = width - len(row)
        nonpad = sum(1 for token in row if token != pad)
        results.append((p, loss[i, max(p - 1, 0):].tolist(), nonpad))
    return results


def ppl_values(model: Any, rows: Sequence[Sequence[int]], pad: int) -> list[float]:
    """``get_ppl`` of one left-padded batch: each row's summed label NLL / its non-pad tokens."""
    device = next(model.parameters()).device
    return [sum(nlls) / nonpad
            for _, nlls, nonpad in row_nlls(forward_logits(model), rows, pad, device=device)]
