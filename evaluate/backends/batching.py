"""The batching engine a local-model backend may build on.

Subclasses implement tokenisation and one method per request kind that answers a *batch* of
already-tokenised items; :class:`BatchingBackend` owns everything around that: tokenising,
sorting by length (longest first, so an out-of-memory error shows up in the first batch, and
similar lengths share a batch so little padding is wasted), grouping prompts that share a long
token prefix (:func:`prefix_groups`), cutting batches, retrying a batch at half the size on
out-of-memory when the batch size is ``auto``, and yielding each response as soon as its batch
is done so the runner can persist it. It satisfies :class:`evaluate.backends.base.Backend`.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence

from tqdm.auto import tqdm

from evaluate.backends.tokenized import Tokenized, TokenizingBackend
from evaluate.errors import OutOfMemoryError
from evaluate.requests import Request, Response

AUTO_START_BATCH = {"cpu": 8, "cuda": 64}
AUTO_MAX_BATCH = 1024


class BatchingBackend(TokenizingBackend):
    """Answers requests in length-sorted, prefix-grouped batches on a local device."""

    # ---- what subclasses provide (besides encode and identity) ------------------------------
    @property
    @abstractmethod
    def device_type(self) -> str:
        """``cpu``, ``cuda``, ...: picks the starting batch size for ``auto``."""

    @abstractmethod
    def _loglikelihood_batch(self, items: list[Tokenized]) -> list[Response]: ...

    @abstractmethod
    def _generate_batch(self, items: list[Tokenized]) -> list[Response]: ...

    @abstractmethod
    def _sequence_nll_batch(self, items: list[Tokenized]) -> list[Response]: ...

    # Request kinds whose batch method accepts ``prefix=``: a run of tokens that every item of
    # the batch starts with, which the backend may compute once and reuse (see prefix_groups).
    prefix_kinds: frozenset[str] = frozenset()
    min_prefix_tokens = 32
    # What batch_size="auto" has learned so far, per request kind (a size that fits one kind's
    # rows says nothing about another's): rows per batch, or tokens per batch under "KIND:tokens".
    _auto_sizes: dict[str, int]

    def __init__(self, batch_size: int | str = 1) -> None:
        super().__init__(batch_size)
        self._auto_sizes = {}

    def _is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, MemoryError)

    def _after_oom(self) -> None:  # noqa: B027 (optional hook)
        """Free what an out-of-memory error left behind (e.g. the CUDA cache)."""

    # ---- the interface the runner uses -------------------------------------------------------
    def run(
        self, requests: Sequence[Request], progress: bool = True, desc: str = "model"
    ) -> Iterator[tuple[int, Response]]:
        """Answer ``requests``; yields ``(index, response)`` as each batch completes.

        Requests of different kinds are answered kind by kind; within a kind, longest first.
        """
        by_kind: dict[str, list[Tokenized]] = {}
        for item in self.tokenize_all(requests):
            by_kind.setdefault(item.request.kind, []).append(item)
        handlers: dict[str, Callable[..., list[Response]]] = {
            "loglikelihood": self._loglikelihood_batch,
            "generate": self._generate_batch,
            "sequence_nll": self._sequence_nll_batch,
        }
        bar = tqdm(total=len(requests), desc=desc, unit="req", disable=not progress, smoothing=0.1)
        try:
            for kind, items in by_kind.items():
                if kind in self.prefix_kinds and self.min_prefix_tokens > 0:
                    groups = prefix_groups(items, self.min_prefix_tokens)
                else:
                    groups = [([], items)]
                groups.sort(key=lambda group: min((-i.length, i.index) for i in group[1]))
                for prefix, members in groups:
                    members.sort(key=lambda item: (-item.length, item.index))
                    handler = handlers[kind]
                    if prefix:
                        handler = functools.partial(handler, prefix=prefix)
                    for batch_items, responses in self._answer_group(kind, members, handler,
                                                                     prefix):
                        for item, response in zip(batch_items, responses, strict=True):
                            yield item.index, response
                        bar.update(len(batch_items))
        finally:
            bar.close()

    def _answer_group(
        self,
        kind: str,
        items: list[Tokenized],
        handler: Callable[[list[Tokenized]], list[Response]],
        prefix: list[int] | tuple[int, ...] = (),
    ) -> Iterator[tuple[list[Tokenized], list[Response]]]:
        """Answer one group (sorted longest first, sharing ``prefix``) as responses are done.

        Cut into batches here; a backend that schedules requests itself (continuous batching of
        generation) overrides this for the kinds it schedules.
        """
        return self._batches(items, handler, kind)

    def _batches(
        self,
        items: list[Tokenized],
        handler: Callable[[list[Tokenized]], list[Response]],
        kind: str = "",
    ) -> Iterator[tuple[list[Tokenized], list[Response]]]:
        """Cut ``items`` (sorted longest first) into batches and answer them.

        With ``batch_size="auto"`` the size starts at :data:`AUTO_START_BATCH` (or what earlier
        calls learned), halves and retries the same items on out-of-memory, and doubles after a
        full batch that used less than half the device's memory (:meth:`_memory_headroom`;
        never on the CPU), up to :data:`AUTO_MAX_BATCH`. A failed batch is retried whole, so no
        request is lost or answered twice; batch composition changes results only by float
        rounding, which the equality tests bound.
        """
        auto = self.batch_size == "auto"
        if auto:
            size = self._auto_sizes.get(kind) or AUTO_START_BATCH.get(self.device_type, 8)
        else:
            size = int(self.batch_size)
        ceiling = AUTO_MAX_BATCH
        start = 0
        while start < len(items):
            batch = items[start : start + size]
            try:
                responses = handler(batch)
            except Exception as exc:
                if not self._is_oom(exc):
                    raise
                self._after_oom()
                if auto and size > 1:
                    size //= 2
                    ceiling = size  # never grow back into the size that failed
                    self._auto_sizes[kind] = size
                    continue
                raise OutOfMemoryError(
                    f"out of memory at batch size {size} on {self.device_type} "
                    f"(longest sequence {batch[0].length} tokens); "
                    f"try --batch-size {max(1, size // 2)} or --batch-size auto"
                ) from exc
            yield batch, responses
            start += len(batch)
            if auto and len(batch) == size and size * 2 <= ceiling and self._memory_headroom():
                size *= 2
                self._auto_sizes[kind] = size

    def _token_batches(
        self,
        items: list[Tokenized],
        handler: Callable[[list[Tokenized]], list[Response]],
        kind: str,
        cost: Callable[[Tokenized], int],
        budget: int,
    ) -> Iterator[tuple[list[Tokenized], list[Response]]]:
        """Cut ``items`` into batches of at most ``budget`` tokens (``cost`` each; an item over
        the budget goes alone) and answer them. On out-of-memory the budget halves and the same
        items are retried; the learned budget is kept for the kind (``"KIND:tokens"``)."""
        key = f"{kind}:tokens"
        budget = self._auto_sizes.get(key) or budget
        start = 0
        while start < len(items):
            batch, used = [items[start]], cost(items[start])
            for item in items[start + 1 :]:
                if used + cost(item) > budget:
                    break
                batch.append(item)
                used += cost(item)
            try:
                responses = handler(batch)
            except Exception as exc:
                if not self._is_oom(exc):
                    raise
                self._after_oom()
                if len(batch) > 1:
                    budget = max(1, used // 2)
                    self._auto_sizes[key] = budget
                    continue
                raise OutOfMemoryError(
                    f"out of memory on one request of {used} tokens on {self.device_type}"
                ) from exc
            yield batch, responses
            start += len(batch)

    def _memory_headroom(self) -> bool:
        """Did the last batch use less than half the device's memory? (False: never grow.)"""
        return False


def prefix_groups(
    items: list[Tokenized], min_prefix: int
) -> list[tuple[list[int], list[Tokenized]]]:
    """Group items whose contexts share a token prefix of at least ``min_prefix`` tokens.

    The prefix is found on token ids, not text, so it is by construction an exact prefix of every
    member's own tokenisation (a few-shot text tokenised alone can end differently from the same
    text inside a prompt; that can never happen here). Every member keeps at least one token after
    the prefix. Items are sorted by their tokens, so prompts with the same few-shot header sit
    together; a group ends where the shared prefix would drop below ``min_prefix``. Items that
    share no such prefix with a neighbour form one group with an empty prefix.
    """
    ordered = sorted(items, key=lambda item: item.context)
    groups: list[tuple[list[int], list[Tokenized]]] = []
    alone: list[Tokenized] = []  # items that share no long prefix: batched together, plainly

    def close(prefix: list[int], members: list[Tokenized]) -> None:
        if len(members) > 1:
            groups.append((prefix, members))
        else:
            alone.extend(members)

    prefix: list[int] = []
    members: list[Tokenized] = []
    for item in ordered:
        limit = len(item.context) - 1  # keep at least one token of suffix
        if members:
            shared = _common_length(prefix, item.context, limit)
            if shared >= min_prefix:
                prefix = prefix[:shared]
                members.append(item)
                continue
            close(prefix, members)
        prefix, members = item.context[: max(limit, 0)], [item]
    close(prefix, members)
    if alone:
        groups.append(([], alone))
    return groups


def _common_length(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
