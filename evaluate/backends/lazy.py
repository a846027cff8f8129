"""A backend whose model loads on first use.

Its identity is known up front (from the model's config and files), so a run can plan, look every
request up in the request cache and score without ever loading the weights. A re-run of a
finished model and task is then near-instant; the weights load only when some request is not
cached.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from evaluate.requests import Request, Response


class LazyBackend:
    """Stands in for a backend built by ``factory`` the first time it must run the model."""

    def __init__(self, identity: dict[str, Any], factory: Callable[[], Any], name: str,
                 batch_size: int | str, label: str = "", left_padded_rows: bool = False,
                 load_tokenizer: Callable[[], Any] | None = None) -> None:
        self._identity = identity
        self._factory = factory
        self._backend: Any = None
        self.name = name
        self.batch_size = batch_size
        self.label = label or identity.get("model", "model")
        self.left_padded_rows = left_padded_rows  # what the real backend will answer
        # The tokenizer alone (as the real backend's encode uses it), so planning that measures
        # prompts does not load the weights.
        self._load_tokenizer = load_tokenizer

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def _real(self) -> Any:
        if self._backend is None:
            print(f"loading {self.label} ...", file=sys.stderr)
            self._backend = self._factory()
            self._backend._identity = {**self._identity, **self._backend._identity}
        return self._backend

    def identity(self) -> dict[str, Any]:
        return self._backend.identity() if self._backend is not None else dict(self._identity)

    @property
    def tokens_in(self) -> int:
        return self._backend.tokens_in if self._backend is not None else 0

    @property
    def tokens_out(self) -> int:
        return self._backend.tokens_out if self._backend is not None else 0

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The real backend's encoding; its tokenizer alone while the weights are not loaded."""
        if self._backend is None and self._load_tokenizer is not None and texts:
            tokenizer = self._load_tokenizer()
            return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        real = self._real()
        batch = getattr(real, "encode_batch", None)
        return batch(texts) if batch is not None else [real.encode(t) for t in texts]

    @property
    def pad_id(self) -> int | None:
        return getattr(self._backend, "pad_id", None)

    def run(self, requests: Sequence[Request], progress: bool = True,
            desc: str = "model") -> Iterator[tuple[int, Response]]:
        return self._real().run(requests, progress, desc)
