"""Shared code of the four-choice exams (MMLU, C-Eval, CMMLU): reading and Qwen's prompts.

Scoring is :mod:`evaluate.scoring.choice`. Two protocols:

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

from collections.abc import Sequence
from pathlib import Path

from evaluate.errors import MalformedDataError
from evaluate.scoring.choice import LETTERS

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


# ---- Qwen's prompts -----------------------------------------------------------------------------
def qwen_example(row: dict[str, str], question: str, label: str) -> str:
    """``label + row[question]`` then ``"\nA. ..."`` .. ``"\nD. ..."`` (Qwen's format_example)."""
    example = label + row[question]
    for letter in LETTERS:
        example += f"\n{letter}. {row[letter]}"
    return example


def qwen_shots(dev: list[dict[str, str]], shots: int, question: str, label: str, answer: str,
               answer_label: str) -> str:
    """The first ``shots`` dev rows, each example + ``answer_label`` + its letter + a blank line."""
    return "".join(qwen_example(r, question, label) + answer_label + r[answer] + "\n\n"
                   for r in dev[:shots])
