"""The three request kinds a task can send to a model, and their responses.

A task never talks to a model: it turns each sample into one or more of these requests, and a
backend answers them. Nothing here is task-specific.

1. :class:`LoglikelihoodRequest` -- log-probabilities of given candidates after a context. With
   ``next_token=True`` each candidate must be exactly one token and the backend reads the
   next-token distribution at the context's last position (Qwen's MMLU/C-Eval protocol). Otherwise
   each candidate is a whole continuation and the backend returns the summed log-probability of
   its tokens (perplexity-choice variants); ``score_context=True`` additionally returns the
   context's own negative log-likelihood, for whole-prompt perplexity.
2. :class:`GenerateRequest` -- generation until a stop string or a token limit: greedy, or seeded
   sampling (temperature / top-p) for pass@k.
3. :class:`SequenceNLLRequest` -- the token-level negative log-likelihood of a whole text (or of
   given token ids, so a window of exactly L tokens stays exactly L tokens).

A chat task sets ``chat`` (a :class:`~evaluate.chat.Conversation`) on a generation or
log-likelihood request and leaves ``context`` empty; the runner renders the conversation with the
run's chat template into ``context`` before hashing (and, where the template's own tokenisation
differs from tokenising that text, records the exact ids in ``context_ids``).

Every request has a stable content hash (:func:`request_hash`), used as its key in per-sample
records, response files and caches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from evaluate.chat import Conversation


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``candidates`` after ``context``."""

    context: str
    candidates: tuple[str, ...]
    next_token: bool = False
    # Keep at most this many context tokens (the last ones); None keeps all.
    max_context_tokens: int | None = None
    # Also return the negative log-likelihood of the context's own tokens (after its first).
    score_context: bool = False
    kind: str = field(default="loglikelihood", init=False)
    # A chat prompt, rendered into ``context`` at plan time (see the module docstring).
    chat: Conversation | None = None
    # Exact prompt token ids where they differ from tokenising ``context`` (set when rendering).
    context_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class GenerateRequest:
    """Continuation of ``context``: greedy (``temperature == 0``) or seeded sampling.

    Decoding ends at an end-of-sequence token, after ``max_new_tokens``, or as soon as the text
    generated so far can no longer change once cut at ``stop`` (see :func:`stop_is_final`). The
    response holds the raw text up to that point; cutting is the task's job (:func:`cut_at_stops`).

    With ``temperature > 0`` each token is drawn from the softmax of ``logits / temperature``,
    restricted to the smallest set of most likely tokens whose probability reaches ``top_p``
    (nucleus sampling), using a random generator seeded with ``seed`` and owned by this request
    alone: the same request gives the same text whatever else shares its batch (up to the float
    differences padding can make). n samples of one prompt are n requests with different seeds,
    so each is cached and resumed on its own. The sampling fields are left out of
    :func:`request_to_dict` (and so of the hash) while they hold their defaults, so greedy
    requests keep the hashes they had before sampling existed.
    """

    context: str
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 512
    max_context_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    kind: str = field(default="generate", init=False)
    chat: Conversation | None = None
    context_ids: tuple[int, ...] | None = None
    # HF-style repetition penalty over prompt and generated tokens (1.0: none). None asks for the
    # checkpoint's generation_config value; the runner resolves it when rendering the plan.
    repetition_penalty: float | None = 1.0

    def __post_init__(self) -> None:
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, not {self.repetition_penalty}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, not {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class SequenceNLLRequest:
    """Negative log-likelihood of every token of ``text`` (or ``token_ids``) after the first.

    The response is ``{"nll": total, "num_tokens": n - 1}``; with ``per_token=True`` it also has
    ``"nlls"``, the n - 1 values of tokens 2..n in order.

    ``left_pad=p`` asks for the row of a left-padded batch as an engine that passes no position
    ids computes it (OpenCompass's ``get_ppl``; :mod:`evaluate.left_padding`): p pad tokens, then
    the text, attention mask 0 on the pads, positions 0..p+n-1 uncorrected. Every label that is
    not the pad token counts, so with p > 0 the first token is predicted from the last pad
    position. The response adds ``"left_pad"`` (p) and ``"nonpad_tokens"`` (the row's tokens
    that are not the pad token, OpenCompass's divisor); ``"num_tokens"`` counts the labels
    summed and ``"nlls"`` lists them from the first real label position (0.0 at a pad-token
    label). Only a backend with ``left_padded_rows`` answers it; the runner sets p.
    """

    text: str | None = None
    token_ids: tuple[int, ...] | None = None
    per_token: bool = False
    left_pad: int | None = None
    kind: str = field(default="sequence_nll", init=False)

    def __post_init__(self) -> None:
        if (self.text is None) == (self.token_ids is None):
            raise ValueError("SequenceNLLRequest needs exactly one of text or token_ids")
        if self.left_pad is not None and self.left_pad < 0:
            raise ValueError(f"left_pad must be >= 0, not {self.left_pad}")


Request = LoglikelihoodRequest | GenerateRequest | SequenceNLLRequest

_KINDS: dict[str, type] = {
    "loglikelihood": LoglikelihoodRequest,
    "generate": GenerateRequest,
    "sequence_nll": SequenceNLLRequest,
}


# Fields added after requests were first hashed: omitted while at their default (hash stability).
_CHAT_DEFAULTS = {"chat": None, "context_ids": None}
_OMIT_AT_DEFAULT: dict[str, dict[str, Any]] = {
    "generate": {"temperature": 0.0, "top_p": 1.0, "seed": 0, "repetition_penalty": 1.0,
                 **_CHAT_DEFAULTS},
    "loglikelihood": _CHAT_DEFAULTS,
    "sequence_nll": {"per_token": False, "left_pad": None},
}


def request_to_dict(request: Request) -> dict[str, Any]:
    """A JSON-able dict of the request (tuples become lists).

    Fields added later (sampling, chat, repetition penalty) are left out while they hold their
    defaults, so a plain request's dict and hash are what they were before those fields existed.
    """
    data = dataclasses.asdict(request)
    if data.get("chat") is not None:
        data["chat"] = request.chat.to_dict()  # type: ignore[union-attr]
    for key, default in _OMIT_AT_DEFAULT.get(request.kind, {}).items():
        if data.get(key) == default:
            del data[key]
    return data


def request_from_dict(data: dict[str, Any]) -> Request:
    """Inverse of :func:`request_to_dict`."""
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    for key, value in data.items():
        if isinstance(value, list):
            data[key] = tuple(value)
    if data.get("chat") is not None:
        data["chat"] = Conversation.from_dict(data["chat"])
    return cls(**data)


def request_hash(request: Request) -> str:
    """A stable sha256 over the request's kind and every field."""
    blob = json.dumps(request_to_dict(request), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# Responses are plain dicts so they round-trip through JSONL untouched:
#   loglikelihood: {"logprobs": [float per candidate], "num_tokens": [int per candidate],
#                   "context_tokens": int, "truncated": bool,
#                   and with score_context: "context_nll": float, "context_nll_tokens": int}
#   generate:      {"text": str, "num_tokens": int, "context_tokens": int,
#                   "finish": "eos" | "stop" | "length"}
#   sequence_nll:  {"nll": float, "num_tokens": int}; with left_pad also
#                  "left_pad": int, "nonpad_tokens": int
Response = dict[str, Any]


def cut_at_stops(text: str, stops: tuple[str, ...] | list[str]) -> str:
    """Cut ``text`` at the first occurrence of each stop string, applied in order.

    This is the post-hoc cut of Qwen's scripts: ``for s in stops: text = text.split(s)[0]``.
    """
    for stop in stops:
        index = text.find(stop)
        if index != -1:
            text = text[:index]
    return text


def stop_is_final(text: str, stops: tuple[str, ...] | list[str]) -> bool:
    """True when no continuation of ``text`` can change ``cut_at_stops(text, stops)``.

    Let q be the kept length and L the longest stop string. Appending characters only creates
    occurrences that start at or after ``len(text) - L + 1``. Once ``len(text) >= q + 2L``, every
    such new occurrence starts at or after ``q + L``, so a cut at it leaves intact every occurrence
    that starts at or before q (they end by ``q + L``), and the ordered cuts still end at q. With a
    margin of only L they would not: a later occurrence of an earlier stop can cut away the one
    that decided q (``tests/test_requests.py`` checks both). Decoding may therefore stop here
    without changing what the full-length protocol keeps.
    """
    if not stops:
        return False
    kept = len(cut_at_stops(text, stops))
    if kept == len(text):
        return False
    return len(text) - kept >= 2 * max(len(s) for s in stops)
