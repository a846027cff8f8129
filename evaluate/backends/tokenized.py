"""Requests turned into token ids: context truncation, candidate tokens, batch encoding.

:class:`TokenizingBackend` is the shared base of the backends that tokenise for the model
themselves (the Transformers backend, and the openai backend for log-likelihoods): it keeps the
token counters and turns each request into a :class:`Tokenized` item. What the backend then does
with the items -- batches on a local device (:mod:`evaluate.backends.batching`), concurrent
server calls (:mod:`evaluate.backends.openai`) -- is its own business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.requests import LoglikelihoodRequest, Request, SequenceNLLRequest


class CandidateTokenError(EvaluateError, ValueError):
    """A next-token candidate that is not exactly one token for this model's tokenizer.

    Also a ValueError, as before, so existing handlers keep working; as an EvaluateError it
    prints as one line. Raised while tokenising, before any model forward pass.
    """


@dataclass
class Tokenized:
    """A request with its token ids, ready for a batch method."""

    index: int  # position in the caller's list
    request: Request
    context: list[int]  # prompt tokens (or the whole sequence for sequence_nll)
    candidates: list[list[int]]  # loglikelihood only
    truncated: bool = False

    @property
    def length(self) -> int:
        """Tokens in the item's row (a left-padded row's pads included, so rows of one padded
        batch sort together)."""
        longest = max((len(c) for c in self.candidates), default=0)
        pad = getattr(self.request, "left_pad", None) or 0
        return pad + len(self.context) + longest


def id_set(*sources: Any) -> set[int]:
    """Token ids from config-style fields: each an int, a list of ints, or None."""
    ids: set[int] = set()
    for source in sources:
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list | tuple):
            ids.update(int(x) for x in source)
    return ids


class TransformersEncoding:
    """``encode`` and batched ``encode_batch`` through the Transformers tokenizer a backend holds
    as ``self.tokenizer`` (no special tokens added). Listed before the backend's base class."""

    tokenizer: Any

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]


class TokenizingBackend(ABC):
    """Token counters, batch size, and requests to :class:`Tokenized` items."""

    name = "base"

    def __init__(self, batch_size: int | str = 1) -> None:
        self.batch_size = batch_size
        self.tokens_in = 0  # tokens run through the model (prompt side)
        self.tokens_out = 0  # tokens generated
        self._memo: dict[str, list[int]] | None = None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` exactly as the protocol encodes it (no BOS added)."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Model identity and settings for the results file."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of many texts, each exactly as :meth:`encode` gives them.

        Backends with a batched tokenizer override this; :meth:`tokenize_all` encodes every
        context of a run through it at once (per-call tokenizer overhead dominates otherwise:
        about 30 s for full MMLU's 14K prompts one by one).
        """
        return [self.encode(text) for text in texts]

    def tokenize_all(self, requests: Sequence[Request]) -> list[Tokenized]:
        """:meth:`tokenize` of every request, their texts batch-encoded first."""
        self._memo = self._encode_ahead(requests)
        try:
            return [self.tokenize(index, request) for index, request in enumerate(requests)]
        finally:
            self._memo = None

    def _encoded(self, text: str) -> list[int]:
        """``encode(text)``, from the run's batch-encoded texts where it is there."""
        if self._memo is not None and text in self._memo:
            return self._memo[text]
        return self.encode(text)

    def _encode_ahead(self, requests: Sequence[Request]) -> dict[str, list[int]]:
        """The texts ``requests`` will need (contexts, one-token candidates), batch-encoded."""
        texts: dict[str, None] = {}
        for request in requests:
            if isinstance(request, SequenceNLLRequest):
                if request.text is not None and request.token_ids is None:
                    texts[request.text] = None
                continue
            if getattr(request, "context_ids", None) is None:
                texts[request.context] = None
            if isinstance(request, LoglikelihoodRequest) and request.next_token:
                texts.update(dict.fromkeys(request.candidates))
        unique = list(texts)
        return dict(zip(unique, self.encode_batch(unique), strict=True))

    def tokenize(self, index: int, request: Request) -> Tokenized:
        """Token ids for one request, applying its context truncation (keep the last tokens)."""
        if isinstance(request, SequenceNLLRequest):
            if request.token_ids is not None:
                return Tokenized(index, request, list(request.token_ids), [])
            assert request.text is not None  # exactly one of the two (checked at construction)
            return Tokenized(index, request, self._encoded(request.text), [])
        exact = getattr(request, "context_ids", None)  # a chat template's own tokenisation
        full_context = list(exact) if exact is not None else self._encoded(request.context)
        context, truncated = full_context, False
        limit = request.max_context_tokens
        if limit is not None and len(context) > limit:
            context, truncated = context[-limit:], True
        candidates: list[list[int]] = []
        if isinstance(request, LoglikelihoodRequest):
            candidates = [self._candidate_tokens(request, full_context, c)
                          for c in request.candidates]
        return Tokenized(index, request, context, candidates, truncated)

    def _candidate_tokens(
        self, request: LoglikelihoodRequest, full_context: list[int], candidate: str
    ) -> list[int]:
        """A candidate's token ids (``full_context``: the untruncated context, encoded once)."""
        if request.next_token:
            ids = self._encoded(candidate)
            if len(ids) != 1:
                raise CandidateTokenError(
                    f"candidate {candidate!r} is {len(ids)} tokens for this tokenizer; "
                    "next-token scoring needs exactly one (this model cannot run this "
                    "protocol as published)"
                )
            return ids
        # Encode context and candidate together, so the boundary tokenises as in the full text;
        # fall back to separate encoding if the joint tokens do not start with the context's.
        if request.context_ids is not None:
            return self.encode(candidate)
        joint = self.encode(request.context + candidate)
        if joint[: len(full_context)] == full_context and len(joint) > len(full_context):
            return joint[len(full_context) :]
        return self.encode(candidate)
