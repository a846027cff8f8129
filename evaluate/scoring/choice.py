"""Multiple-choice scoring: pick one of the labelled options from the model's log-probabilities.

Two pickers, each a scorer for :class:`evaluate.task.Task` (``score=``); both read the target as
the gold label and score 1.0/0.0 (NaN when the gold is unknown, e.g. C-Eval's test split):

- :func:`next_token_choice` (Qwen's ``evaluate_{mmlu,ceval,cmmlu}.py``): one
  :class:`~evaluate.requests.LoglikelihoodRequest` with the option labels as next-token
  candidates; softmax over the labels' *probabilities* (the scripts take a full-vocabulary softmax
  first and then a second softmax over the four probabilities, in float32; it only matters on exact
  ties, where the first label wins); argmax.
- :func:`lowest_ppl_choice` (OpenCompass's PPL inferencer): the labels' next-token log-probabilities
  and the shared context's NLL give each candidate prompt's average NLL over *all* its tokens
  (``sum NLL of tokens 2..n / n``: OpenCompass divides by the number of non-pad tokens, the
  never-predicted first one included); argmin, first on ties. The batch-independent form.
- :func:`row_ppl_choice`: the same rule on one whole-prompt sequence-NLL request per label
  (:func:`row_ppl_requests`), so each prompt can be scored as a row of the engine's left-padded
  batch (``SequenceNLLRequest.left_pad``): ``get_ppl``'s own sum over non-pad labels / non-pad
  tokens; unpadded responses give the batch-independent value.

The labels are the task's (``("A", "B", "C", "D")`` unless it passes others with
:func:`functools.partial`, which the protocol hash follows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluate.requests import LoglikelihoodRequest, Response, SequenceNLLRequest
from evaluate.task import Scored, ScoreInput

LETTERS = ("A", "B", "C", "D")


def label_score(guess: str, target: Any) -> float:
    """1.0 when ``guess`` is the gold label, 0.0 when not, NaN when the gold is unknown."""
    return math.nan if target is None else float(guess == target)


# ---- next-token probabilities of the labels (Qwen) ---------------------------------------------
def next_token_request(prompt: str, candidates: tuple[str, ...],
                       max_context_tokens: int | None) -> list[LoglikelihoodRequest]:
    """The one request :func:`next_token_choice` scores (``candidates``: the labels' tokens)."""
    return [LoglikelihoodRequest(context=prompt, candidates=candidates, next_token=True,
                                 max_context_tokens=max_context_tokens)]


def softmax_pick(logprobs: Sequence[float]) -> tuple[int, list[float]]:
    """(argmax, softmax over the probabilities), as the Qwen scripts compute it in float32."""
    probs = np.exp(np.asarray(logprobs, dtype=np.float64)).astype(np.float32)
    shifted = np.exp(probs - probs.max())
    soft = shifted / shifted.sum()
    return int(np.argmax(soft)), [float(x) for x in soft]


def next_token_choice(sample: ScoreInput, responses: list[Response],
                      labels: tuple[str, ...] = LETTERS) -> Scored:
    """The label with the highest next-token probability; ``extra`` holds the four softmaxed."""
    response = responses[0]
    index, probs = softmax_pick(response["logprobs"])
    guess = labels[index]
    extra: dict[str, Any] = {"probs": probs}
    if response.get("truncated"):
        extra["truncated"] = True
    return Scored(extracted=guess, score=label_score(guess, sample.target), extra=extra)


# ---- lowest average NLL of the whole prompt (OpenCompass) ---------------------------------------
def ppl_requests(context: str, candidates: tuple[str, ...]) -> list:
    """Next-token log-probs of the candidates' final tokens, and the shared context's NLL."""
    return [LoglikelihoodRequest(context=context, candidates=candidates, next_token=True),
            SequenceNLLRequest(text=context)]


def ppl_values(responses: list[Response]) -> list[float]:
    """OpenCompass's per-candidate value: sum of NLL over the prompt / its token count."""
    letters, context = responses
    tokens = context["num_tokens"] + 1 + 1  # context tokens (first included) + the letter
    return [(context["nll"] - logprob) / tokens for logprob in letters["logprobs"]]


def lowest_ppl_choice(sample: ScoreInput, responses: list[Response],
                      labels: tuple[str, ...] = LETTERS) -> Scored:
    """The label whose candidate prompt has the lowest average NLL (``extra``: every value)."""
    values = ppl_values(responses)
    guess = labels[int(np.argmin(values))]
    return Scored(extracted=guess, score=label_score(guess, sample.target),
                  extra={"avg_nll": values})


# ---- one whole prompt per label, possibly a left-padded batch row (OpenCompass) ------------------
def row_ppl_requests(context: str, candidates: tuple[str, ...]) -> list[SequenceNLLRequest]:
    """One sequence-NLL request per candidate prompt (``context + candidate``), in label order."""
    return [SequenceNLLRequest(text=context + candidate) for candidate in candidates]


def row_ppl_value(response: Response) -> float:
    """``get_ppl``'s value of one row: summed label NLL / non-pad tokens of the row.

    A response without ``nonpad_tokens`` (an unpadded request) has n - 1 labels of n tokens.
    """
    tokens = response.get("nonpad_tokens", response["num_tokens"] + 1)
    return float(response["nll"]) / tokens


def row_ppl_choice(sample: ScoreInput, responses: list[Response],
                   labels: tuple[str, ...] = LETTERS) -> Scored:
    """The label whose prompt row has the lowest ``get_ppl`` value (``extra``: every value)."""
    values = [row_ppl_value(r) for r in responses[: len(labels)]]
    guess = labels[int(np.argmin(values))]
    extra: dict[str, Any] = {"avg_nll": values}
    pads = [r["left_pad"] for r in responses[: len(labels)] if "left_pad" in r]
    if pads:
        extra["left_pad"] = pads
    return Scored(extracted=guess, score=label_score(guess, sample.target), extra=extra)
