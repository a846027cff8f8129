"""The backend interface: what the runner needs of a model, whatever serves it.

A backend answers the three request kinds of :mod:`evaluate.requests` --
:class:`~evaluate.requests.LoglikelihoodRequest`, :class:`~evaluate.requests.GenerateRequest`
and :class:`~evaluate.requests.SequenceNLLRequest` -- through one :meth:`Backend.run`, which
takes any mix of them and yields each response (shaped as :mod:`evaluate.requests` documents)
as soon as it is ready, so the runner can persist it. Nothing here batches or tokenises: a
backend may do that with :class:`evaluate.backends.batching.BatchingBackend` (local models) or
in its own way (:mod:`evaluate.backends.openai`), and :mod:`evaluate.backends.lazy` stands in
for one until its weights are needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from evaluate.requests import Request, Response


@runtime_checkable
class Backend(Protocol):
    """Answers requests; knows nothing of tasks."""

    # How many requests it runs at once (``"auto"``: as many as fit); a task may change it.
    batch_size: int | str

    @property
    def name(self) -> str:
        """The backend's kind (``transformers``, ``openai``) for the results file."""
        ...

    @property
    def tokens_in(self) -> int:
        """Tokens run through the model so far (prompt side)."""
        ...

    @property
    def tokens_out(self) -> int:
        """Tokens generated so far."""
        ...

    def identity(self) -> dict[str, Any]:
        """Model identity and settings: the results file's ``model`` and the cache key's input."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` exactly as the protocol encodes it (no BOS added)."""
        ...

    def run(
        self, requests: Sequence[Request], progress: bool = True, desc: str = "model"
    ) -> Iterator[tuple[int, Response]]:
        """Answer ``requests`` (any mix of the three kinds); yields ``(index, response)``."""
        ...
