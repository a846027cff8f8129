"""Shared code of the four-choice exams (MMLU, C-Eval, CMMLU): reading, prompts, scoring.

Two scoring protocols:

- **Qwen's** (``QwenLM/Qwen`` ``eval/evaluate_{mmlu,ceval,cmmlu}.py``): one forward pass per
  question; the next-token probabilities of the four letter tokens at the last position; softmax
  over those four; argmax (first on ties). The scripts take a full-vocabulary softmax first and
  then a second softmax over the four *probabilities*; we keep that (it only matters on exact
  ties, e.g. two letters whose probabilities underflow to 0, where the first letter wins).
  The CSVs are read with pandas defaults, so a cell reading ``None``, ``NA``, ``N/A``, ``null``
  (and pandas' other NA strings) is NaN and renders as ``nan`` in the prompt: the *pandas NA
  quirk*, reproduced here by reading with pandas too (pandas 3 keeps NaN for a missing string,
  and ``f"{nan}"`` is ``"nan"``, exactly as under pandas 1.x/2.x).
- **OpenCompass's PPL inferencer** (``mmlu_ppl_ac766d``, ``ceval_internal_ppl_93e5ce``): each of
  the four candidate prompts is scored by its average negative log-likelihood,
  ``sum(NLL of tokens 2..n) / n`` over the *whole* prompt (n counts every token, the first
  included, which is never predicted: OpenCompass's ``get_ppl`` divides by the number of
  non-pad tokens), and the lowest wins (``np.argmin``, first on ties). The four prompts differ
  only in their last token (the answer letter), so one next-token request gives the four
  letters' log-probabilities and one sequence-NLL request gives the shared context's NLL:
  two passes over the context instead of four. OpenCompass reads the CSVs with ``csv``, so
  there is no NA quirk there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluate.errors import MalformedDataError
from evaluate.requests import LoglikelihoodRequest, Response, SequenceNLLRequest
from evaluate.task import Scored, ScoreInput

LETTERS = ("A", "B", "C", "D")
SPACED_LETTERS = (" A", " B", " C", " D")


def read_csv_pandas(path: Path, names: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Rows of a CSV read with pandas defaults, each cell rendered as the original f-strings do.

    ``names`` given: the file has no header (MMLU). Missing cells (pandas' NA strings) render as
    ``nan``; numbers as pandas parsed them (``f"{value}"``).
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, names=list(names) if names else None)
    except (ValueError, pd.errors.ParserError) as exc:
        raise MalformedDataError(f"{path}: cannot be read as CSV ({exc})") from None
    columns = [str(c) for c in frame.columns]
    return [
        {column: f"{value}" for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def read_csv_plain(path: Path, header: bool) -> list[list[str]]:
    """Rows of a CSV read with Python's ``csv`` module (OpenCompass's loaders): no NA parsing."""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[1:] if header else rows


def require_columns(row: dict[str, str], columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise MalformedDataError(f"{where}: missing column(s) {', '.join(missing)}")


def require_answer(answer: str, where: str) -> None:
    if answer not in LETTERS:
        raise MalformedDataError(f"{where}: answer {answer!r} is not one of A, B, C, D")


# ---- Qwen: next-token letters ----------------------------------------------------------------
def qwen_request(prompt: str, letters: tuple[str, ...], max_context_tokens: int | None) -> list:
    return [LoglikelihoodRequest(context=prompt, candidates=letters, next_token=True,
                                 max_context_tokens=max_context_tokens)]


def qwen_pick(logprobs: Sequence[float]) -> tuple[int, list[float]]:
    """(argmax, softmax over the four probabilities), as the scripts compute it in float32."""
    probs = np.exp(np.asarray(logprobs, dtype=np.float64)).astype(np.float32)
    shifted = np.exp(probs - probs.max())
    soft = shifted / shifted.sum()
    return int(np.argmax(soft)), [float(x) for x in soft]


def qwen_score(doc: ScoreInput, responses: list[Response]) -> Scored:
    """Argmax letter; score 1/0 against the gold letter (NaN when the gold is unknown)."""
    response = responses[0]
    index, probs = qwen_pick(response["logprobs"])
    guess = LETTERS[index]
    score = math.nan if doc.target is None else float(guess == doc.target)
    extra: dict[str, Any] = {"probs": probs}
    if response.get("truncated"):
        extra["truncated"] = True
    return Scored(extracted=guess, score=score, extra=extra)


# ---- OpenCompass: lowest average NLL of the whole prompt ---------------------------------------
def ppl_requests(context: str, letters: tuple[str, ...]) -> list:
    """Next-token log-probs of the four final tokens, and the shared context's NLL."""
    return [LoglikelihoodRequest(context=context, candidates=letters, next_token=True),
            SequenceNLLRequest(text=context)]


def ppl_values(responses: list[Response]) -> list[float]:
    """OpenCompass's per-candidate value: sum of NLL over the prompt / its token count."""
    letters, context = responses
    tokens = context["num_tokens"] + 1 + 1  # context tokens (first included) + the letter
    return [(context["nll"] - logprob) / tokens for logprob in letters["logprobs"]]


def ppl_score(doc: ScoreInput, responses: list[Response]) -> Scored:
    values = ppl_values(responses)
    guess = LETTERS[int(np.argmin(values))]
    score = math.nan if doc.target is None else float(guess == doc.target)
    return Scored(extracted=guess, score=score, extra={"avg_nll": values})
