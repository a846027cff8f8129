"""The Transformers backend: local folders, hub ids and GGUF files through ``transformers``.

How it keeps memory down with Qwen's 152K-token vocabulary: it runs the model body
(``model.base_model``) to get hidden states, and applies the LM head only at the positions a
request needs -- the last position for next-token choices and generation, the candidate tokens
for continuations, and fixed-size chunks of positions for whole-sequence NLL. No full-vocabulary
log-softmax over every position is ever materialised. A one-time self-check at load time confirms
that ``lm_head(base_model(x))`` equals the model's own logits; models where it does not (final
logit soft-capping, remote code with a different layout) fall back to the model's own forward.

Padding: prompts are left-padded with explicit ``position_ids`` (the count of real tokens before
each position), so a padded row computes exactly what it computes alone. The exception is a
sequence-NLL request with ``left_pad``: the row of an engine's left-padded batch, computed as that
engine did (no position ids; :mod:`evaluate.backends.left_padded`), with the rows of equal width.

Packing (``packing``: auto / on / off): log-likelihood rows after a shared prefix can instead be
laid end to end in one unpadded row that attends to the prefix's keys and values, kept once,
through variable-length attention (:mod:`evaluate.backends.packed`), in batches cut by a token
budget. ``auto`` packs only where PyTorch's FlashAttention varlen op runs and matches, and only
for a model whose packed hidden states match its padded ones on a short check at load time.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import struct
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from evaluate.backends.batching import AUTO_START_BATCH, BatchingBackend
from evaluate.backends.identity import describe, model_source, resolve_dtype
from evaluate.backends.left_padded import left_pad, row_nlls
from evaluate.backends.packed import Pack, packed_hidden, select_kernel, supports_packing
from evaluate.backends.tokenized import Tokenized, TransformersEncoding, id_set
from evaluate.errors import ModelLoadError, OutOfMemoryError, first_line
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, Response, stop_is_final

NLL_CHUNK_TOKENS = 1024  # positions per LM-head chunk in sequence_nll
# Suffix tokens per packed row of log-likelihood requests (batch_size "auto"; halved on OOM).
PACK_TOKENS = {"cpu": 2048, "cuda": 32768}
MLP_CHUNK_TOKENS = 2048  # positions per MLP chunk in sequence_nll (its activations are 5x wider)


class HFBackend(TransformersEncoding, BatchingBackend):
    """A causal LM from ``transformers``."""

    name = "transformers"
    left_padded_rows = True  # answers SequenceNLLRequest.left_pad exactly

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int | str = 1,
        identity: dict[str, Any] | None = None,
        packing: str = "auto",
    ) -> None:
        super().__init__(batch_size)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = _input_device(model)
        self._identity = identity or {}
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = _pad_id(tokenizer, self.eos_ids)
        self._keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters
        # The cache argument's name: ``cache`` in current transformers (``past_key_values`` is
        # deprecated there and warns on every call), ``past_key_values`` before.
        self._cache_arg = _cache_arg(model.forward)
        self._body_cache_arg = _cache_arg(getattr(model, "base_model", model).forward)
        self.split_head = self._check_split_head()
        # Shared few-shot prefixes are computed once (needs the LM head split off the body).
        self.prefix_kinds = (
            frozenset({"loglikelihood", "generate"}) if self.split_head else frozenset()
        )
        self._prefix: _PrefixState | None = None
        # Generation looks at the new tokens from the host every this many steps (on a GPU each
        # look is a synchronisation; on the CPU it costs nothing, and a finished row is replaced
        # soonest by looking every step).
        self.stop_check_steps = 1 if self.device.type == "cpu" else 8
        self.packing, self._kernel = self._choose_packing(packing)

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model: str,
        dtype: str = "auto",
        device: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        batch_size: int | str = 1,
        device_map: str | None = None,
        max_memory: dict[int | str, str] | None = None,
        packing: str = "auto",
    ) -> HFBackend:
        """Load a local folder, a hub id (when online), or a ``.gguf`` file.

        With ``device_map`` (``"auto"``: Transformers/Accelerate spread the layers over every
        visible GPU, then the CPU) the model is not moved; inputs go to its embedding layer.
        ``max_memory`` (``{0: "70GiB", "cpu": "200GiB"}``) caps what each device gets.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        identity = describe(model, dtype, device, revision, trust_remote_code)
        source, kwargs = model_source(model, revision, trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            net = AutoModelForCausalLM.from_pretrained(
                source, dtype=resolve_dtype(dtype, identity["device"]),
                attn_implementation="sdpa",
                **({"device_map": device_map} if device_map else {}),
                **({"max_memory": max_memory} if max_memory else {}), **kwargs,
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load model {model!r}: {first_line(exc)}") from exc
        except struct.error as exc:  # what a GGUF reader meets in a cut-short file
            raise ModelLoadError(f"could not load model {model!r}: a truncated or corrupt file "
                                 f"({first_line(exc)})") from exc
        if not device_map:
            net.to(identity["device"])
        return cls(net, tokenizer, batch_size=batch_size, identity=identity, packing=packing)

    # ---- backend basics --------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {**self._identity, "backend": self.name, "attention": _attn_impl(self.model),
                "lm_head_split": self.split_head, "packing": self.packing or "off"}

    @property
    def device_type(self) -> str:
        return self.device.type

    def _is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, torch.OutOfMemoryError | MemoryError):
            return True
        return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()

    def _after_oom(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def _memory_headroom(self) -> bool:
        """On a GPU: the peak since the last check stayed under half the device's memory."""
        if self.device.type != "cuda":
            return False
        peak = torch.cuda.max_memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        return peak < 0.5 * torch.cuda.get_device_properties(self.device).total_memory

    # ---- model pieces ----------------------------------------------------------------------
    def _check_split_head(self) -> bool:
        """Does ``lm_head(base_model(x))`` reproduce the model's logits? (checked once)."""
        head = self.model.get_output_embeddings()
        body = getattr(self.model, "base_model", None)
        if head is None or body is None or body is self.model:
            return False
        ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]], device=self.device)
        with torch.inference_mode():
            try:
                full = self.model(input_ids=ids).logits[0].float()
                split = head(body(input_ids=ids)[0])[0].float()
            except Exception:
                return False
        return bool(torch.allclose(full, split, atol=1e-4, rtol=1e-3))

    def _hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, T, H) under left or right padding, positions from the mask."""
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                     use_cache=False)[0]  # no KV cache nobody reads

    def _rows(
        self, seqs: list[list[int]], prefix: list[int] | tuple[int, ...] = ()
    ) -> tuple[torch.Tensor, list[int]]:
        """Run ``seqs`` (each after the shared ``prefix``, if any) through the model.

        Returns ``(states, starts)``: ``states`` is ``(positions, H)``, hidden states when the
        LM head is split off (project them with :meth:`_project`), else the model's own logits;
        position ``p`` of ``seqs[r]`` is ``states[starts[r] + p]``. Packed (see
        :mod:`evaluate.backends.packed`): the rows end to end, no padding. Else left-padded rows;
        with a prefix, its keys and values come from :meth:`_prefix_state` (computed once per
        prefix), the rows' padding sits between prefix and suffix, masked out, and positions
        continue from the prefix's length.
        """
        self.tokens_in += sum(len(seq) for seq in seqs)
        if self.packing:
            layers, length = self._prefix_state(prefix).packed_layers() if prefix else ((), 0)
            pack = Pack([len(seq) for seq in seqs], layers, length, self._kernel)
            return packed_hidden(self.model, seqs, pack, self.device), pack.starts[:-1]
        ids, mask = self._left_pad(seqs)
        rows, width = ids.shape
        starts = [row * width + width - len(seq) for row, seq in enumerate(seqs)]
        if not prefix:
            if self.split_head:
                return self._hidden(ids, mask).flatten(0, 1), starts
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                use_cache=False).logits
            return logits.flatten(0, 1), starts
        state = self._prefix_state(prefix)
        full_mask = torch.cat([mask.new_ones(rows, len(prefix)), mask], dim=1)
        positions = len(prefix) + (mask.cumsum(-1) - 1).clamp(min=0)
        cache = state.expanded(rows, self.model.config)
        hidden = self.model.base_model(input_ids=ids, attention_mask=full_mask,
                                       position_ids=positions, use_cache=True,
                                       **{self._body_cache_arg: cache})[0]
        return hidden.flatten(0, 1), starts

    def _choose_packing(self, packing: str) -> tuple[str | None, Any]:
        """``(kernel name, kernel)`` when log-likelihood rows are packed, ``(None, None)`` not.

        ``auto`` packs where PyTorch's FlashAttention varlen op runs (CUDA) and, like ``on``
        (any device, with the reference kernel on the CPU), only for a model whose packed
        hidden states match the padded path's on a short check (:meth:`_check_packing`).
        """
        if packing not in ("auto", "on", "off"):
            raise ValueError(f"packing must be auto, on or off, not {packing!r}")
        if packing == "off":
            return None, None
        name, kernel = select_kernel(self.device, next(self.model.parameters()).dtype)
        usable = self.split_head and supports_packing(self.model)
        if packing == "auto" and name != "varlen":
            return None, None
        if usable and self._check_packing(kernel):
            return name, kernel
        if packing == "on":
            raise ModelLoadError("--packing on: this model's attention cannot be packed "
                                 "(packed and padded hidden states differ)")
        return None, None

    def _check_packing(self, kernel: Any) -> bool:
        """Packed hidden states of two suffixes after a prefix equal each one run alone."""
        prefix, suffixes = [3, 1, 4, 1, 5, 9, 2, 6], [[5, 3, 5], [8, 9, 7, 9, 3]]
        dtype = next(self.model.parameters()).dtype
        tolerance = 1e-4 if dtype == torch.float32 else 5e-2
        self.packing, self._kernel = "check", kernel
        counted = self.tokens_in
        try:
            with torch.inference_mode():
                packed, starts = self._rows(suffixes, prefix)
                for suffix, start in zip(suffixes, starts, strict=True):
                    ids = torch.tensor([prefix + suffix], device=self.device)
                    alone = self.model.base_model(input_ids=ids, use_cache=False)[0][0]
                    got = packed[start : start + len(suffix)].float()
                    if not torch.allclose(got, alone[len(prefix):].float(), atol=tolerance,
                                          rtol=tolerance):
                        return False
            return True
        except Exception:
            return False
        finally:
            self.packing, self._kernel, self._prefix = None, None, None
            self.tokens_in = counted

    def _project(self, states: torch.Tensor) -> torch.Tensor:
        """Float32 logits from :meth:`_body` states at selected positions."""
        if self.split_head:
            return self.model.get_output_embeddings()(states).float()
        return states.float()

    def _prefix_state(self, prefix: list[int] | tuple[int, ...]) -> _PrefixState:
        """Keys/values of ``prefix`` (and what scoring needs of it), computed once and kept."""
        key = tuple(prefix)
        if self._prefix is not None and self._prefix.tokens == key:
            return self._prefix
        from transformers import DynamicCache

        self._prefix = None  # free the previous one first
        ids = torch.tensor([list(key)], device=self.device)
        positions = torch.arange(len(key), device=self.device)[None]
        cache = DynamicCache(config=self.model.config)
        hidden = self.model.base_model(input_ids=ids, position_ids=positions, use_cache=True,
                                       **{self._body_cache_arg: cache})[0]
        self.tokens_in += len(key)
        last_logp = torch.log_softmax(self._project(hidden[0, -1]), dim=-1)
        self._prefix = _PrefixState(key, cache, hidden[0], last_logp)
        return self._prefix

    def _prefix_nll(self, state: _PrefixState) -> float:
        """NLL of the prefix's own tokens after its first (chunked LM head), memoised."""
        if state.nll is None:
            head = self.model.get_output_embeddings()
            targets = torch.tensor(state.tokens[1:], device=self.device)
            total = 0.0
            for start in range(0, len(targets), NLL_CHUNK_TOKENS):
                logits = head(state.hidden[start : start + NLL_CHUNK_TOKENS]).float()
                total += float(F.cross_entropy(
                    logits[: len(targets[start : start + NLL_CHUNK_TOKENS])],
                    targets[start : start + NLL_CHUNK_TOKENS], reduction="sum"))
            state.nll = total
        return state.nll

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = left_pad(seqs, self.pad_id)
        return ids.to(self.device), mask.to(self.device)

    # ---- request kind 1: log-probabilities of candidates -----------------------------------
    @torch.inference_mode()
    def _loglikelihood_batch(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...] = ()
    ) -> list[Response]:
        if all(isinstance(i.request, LoglikelihoodRequest) and i.request.next_token for i in items):
            return self._next_token_batch(items, prefix)
        # One row per (request, candidate): the context after the prefix, then the candidate.
        skip = len(prefix)
        seqs = [item.context[skip:] + cand for item in items for cand in item.candidates]
        states, starts = self._rows(seqs, prefix)
        positions, targets, owners = [], [], []
        row = 0
        for n, item in enumerate(items):
            ctx = item.context[skip:]
            for j, cand in enumerate(item.candidates):
                start = starts[row]
                for k, token in enumerate(cand):  # the state at position p predicts token p+1
                    positions.append(start + len(ctx) - 1 + k)
                    targets.append(token)
                    owners.append((n, j))
                if j == 0 and _scores_context(item):  # the context's own tokens, once
                    for k in range(len(ctx) - 1):
                        positions.append(start + k)
                        targets.append(ctx[k + 1])
                        owners.append((n, -1))
                row += 1
        logprobs = self._gather_logprobs(states, positions, targets).tolist()
        sums: dict[tuple[int, int], float] = {}
        for owner, value in zip(owners, logprobs, strict=True):
            sums[owner] = sums.get(owner, 0.0) + value
        out = []
        for n, item in enumerate(items):
            response: Response = {
                "logprobs": [sums.get((n, j), 0.0) for j in range(len(item.candidates))],
                "num_tokens": [len(c) for c in item.candidates],
                "context_tokens": len(item.context),
                "truncated": item.truncated,
            }
            if _scores_context(item):
                nll = -sums.get((n, -1), 0.0)
                if prefix:  # the prefix's own tokens, and the first token after it
                    state = self._prefix_state(prefix)
                    nll += self._prefix_nll(state) - float(state.last_logp[item.context[skip]])
                response["context_nll"] = nll
                response["context_nll_tokens"] = max(len(item.context) - 1, 0)
            out.append(response)
        return out

    def _gather_logprobs(
        self, states: torch.Tensor, positions: list[int], targets: list[int]
    ) -> torch.Tensor:
        """log p(target) at each of ``positions`` of :meth:`_rows`' states (logits only there)."""
        if not positions:
            return torch.zeros(0, dtype=torch.float64)
        index = torch.tensor(positions, device=states.device)  # the last layer's device
        logp = torch.log_softmax(self._project(states[index]), dim=-1)
        picked = logp.gather(1, torch.tensor(targets, device=logp.device)[:, None])[:, 0]
        return picked.double().cpu()

    def _next_token_batch(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...] = ()
    ) -> list[Response]:
        skip = len(prefix)
        seqs = [item.context[skip:] for item in items]
        states, starts = self._rows(seqs, prefix)
        last = torch.tensor([start + len(seq) - 1 for start, seq in zip(starts, seqs, strict=True)],
                            device=states.device)
        logp = torch.log_softmax(self._project(states[last]), dim=-1)
        # Pick the candidates' columns on the device: only rows x candidates values travel.
        width = max(len(item.candidates) for item in items)
        columns = [[c[0] for c in item.candidates] + [0] * (width - len(item.candidates))
                   for item in items]
        picked = logp.gather(1, torch.tensor(columns, device=logp.device)).cpu().tolist()
        return [
            {
                "logprobs": picked[row][: len(item.candidates)],
                "num_tokens": [1] * len(item.candidates),
                "context_tokens": len(item.context),
                "truncated": item.truncated,
            }
            for row, item in enumerate(items)
        ]

    # ---- request kind 2: generation (greedy or seeded sampling) ----------------------------
    def _generate_batch(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...] = ()
    ) -> list[Response]:
        """Answer ``items`` as one batch: every row admitted at once, none waiting."""
        done: dict[int, Response] = {}
        for finished, responses in self._decode_rows(items, prefix, slots=len(items)):
            done.update((id(item), response) for item, response in zip(finished, responses,
                                                                          strict=True))
        return [done[id(item)] for item in items]

    def _answer_group(
        self,
        kind: str,
        items: list[Tokenized],
        handler: Callable[[list[Tokenized]], list[Response]],
        prefix: list[int] | tuple[int, ...] = (),
    ) -> Iterator[tuple[list[Tokenized], list[Response]]]:
        """Generation is scheduled here (continuous batching); the other kinds as the base does.

        Up to the batch size of rows decode together; a row that finishes is answered at once
        and its place goes to the next waiting request. With ``batch_size="auto"`` an
        out-of-memory error halves the number of rows and the unanswered requests start again
        (their seeded generators too), so nothing is lost or answered twice.
        """
        if kind == "loglikelihood" and self.packing and self.batch_size == "auto":
            skip = len(prefix)
            yield from self._token_batches(
                items, handler, kind, budget=PACK_TOKENS.get(self.device_type, 2048),
                cost=lambda item: _row_tokens(item, skip))
            return
        if kind != "generate":
            yield from super()._answer_group(kind, items, handler, prefix)
            return
        auto = self.batch_size == "auto"
        slots = ((self._auto_sizes.get(kind) or AUTO_START_BATCH.get(self.device_type, 8))
                 if auto else int(self.batch_size))
        waiting = list(items)
        while waiting:
            answered: set[int] = set()
            try:
                for finished, responses in self._decode_rows(waiting, prefix, slots):
                    answered.update(id(item) for item in finished)
                    yield finished, responses
                return
            except Exception as exc:
                if not self._is_oom(exc):
                    raise
                self._after_oom()
                waiting = [item for item in waiting if id(item) not in answered]
                if not (auto and slots > 1):
                    raise OutOfMemoryError(
                        f"out of memory at batch size {slots} on {self.device_type} (longest "
                        f"sequence {waiting[0].length} tokens); try --batch-size "
                        f"{max(1, slots // 2)} or --batch-size auto") from exc
                slots //= 2
                self._auto_sizes[kind] = slots

    @torch.inference_mode()
    def _decode_rows(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...], slots: int
    ) -> Iterator[tuple[list[Tokenized], list[Response]]]:
        """Decode ``items`` (in order of admission) with at most ``slots`` rows at a time.

        Yields ``(items, responses)`` for the rows that finish. Newly admitted rows are run
        through their prompt together (after the shared ``prefix``'s keys/values, computed once)
        and merged into the running batch, left-padded to a common width; finished rows are
        dropped and padding columns no row uses any more are cut. Tokens stay on the device for
        :attr:`stop_check_steps` steps between looks from the host (end of sequence, stop
        strings, token limits are then checked token by token, so the kept text is what a
        per-step check keeps; a row decodes at most that many tokens too many, never kept).
        Sampling rows draw each token on the host from their own generator.
        """
        queue = deque(items)
        rows: list[_Row] = []
        batch: _Batch | None = None
        while queue or rows:
            if queue and len(rows) < slots:
                admitted = [_Row(queue.popleft()) for _ in range(min(slots - len(rows),
                                                                    len(queue)))]
                empty = [row for row in admitted if row.request.max_new_tokens < 1]
                if empty:
                    yield [row.item for row in empty], [self._response(row) for row in empty]
                    admitted = [row for row in admitted if row.request.max_new_tokens >= 1]
                    if not admitted:
                        continue
                fresh, first = self._prefill(admitted, prefix)
                keep = yield from self._advance(admitted, first[:, None].tolist())
                if keep:
                    fresh = fresh.select(keep) if len(keep) < len(admitted) else fresh
                    batch = fresh if batch is None else batch.merge(fresh)
                    rows += [admitted[i] for i in keep]
                continue
            assert batch is not None
            steps = min(self.stop_check_steps, min(row.left for row in rows))
            if any(row.request.repetition_penalty not in (None, 1.0) for row in rows):
                steps = 1  # the penalty reads every earlier token from the host
            keep = yield from self._advance(rows, self._steps(batch, rows, steps).tolist())
            if len(keep) < len(rows):
                rows = [rows[i] for i in keep]
                batch = batch.select(keep) if rows else None

    def _prefill(
        self, rows: list[_Row], prefix: list[int] | tuple[int, ...]
    ) -> tuple[_Batch, torch.Tensor]:
        """Run new rows' prompts (after ``prefix``); their state and first tokens."""
        skip = len(prefix)
        ids, mask = self._left_pad([row.item.context[skip:] for row in rows])
        self.tokens_in += int(mask.sum())
        positions = skip + (mask.cumsum(-1) - 1).clamp(min=0)
        if prefix:  # the shared few-shot prefix's keys/values, computed once for all rows
            cache = self._prefix_state(prefix).expanded(len(rows), self.model.config)
            mask = torch.cat([mask.new_ones(len(rows), skip), mask], dim=1)
        else:
            cache = _new_cache(self.model.config)
        first = self._choose(self._last_logits(ids, mask, positions, cache), rows)
        state = _Batch(self.model.config, cache, mask, positions[:, -1:] + 1, first[:, None])
        return state, first

    def _steps(self, batch: _Batch, rows: list[_Row], steps: int) -> torch.Tensor:
        """``steps`` decoding steps of every row; the new tokens, (rows, steps)."""
        new = []
        for _ in range(steps):
            batch.mask = torch.cat([batch.mask, batch.mask.new_ones(len(rows), 1)], dim=1)
            tokens = self._choose(
                self._last_logits(batch.last, batch.mask, batch.pos, batch.cache), rows)
            batch.last, batch.pos = tokens[:, None], batch.pos + 1
            new.append(batch.last)
        return torch.cat(new, dim=1)

    def _last_logits(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        """Float32 logits at each row's last position; ``cache`` grows by ``ids``."""
        kwargs = {"logits_to_keep": 1} if self._keep_arg else {}
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, **{self._cache_arg: cache}, **kwargs)
        return out.logits[:, -1].float()

    def _choose(self, logits: torch.Tensor, rows: list[_Row]) -> torch.Tensor:
        """Each row's next token: the argmax (on the device), or a seeded draw on the host."""
        for slot, row in enumerate(rows):  # a protocol's repetition penalty, if any
            penalty = row.request.repetition_penalty
            if penalty not in (None, 1.0):
                seen = row.item.context + row.tokens
                logits[slot] = penalize_repetition(logits[slot], seen, float(penalty))
        tokens = logits.argmax(-1)
        sampled = [(slot, row) for slot, row in enumerate(rows) if row.generator is not None]
        if sampled:
            tokens = tokens.cpu()
            for slot, row in sampled:
                assert row.generator is not None
                tokens[slot] = _sample(logits[slot], row.request, row.generator)
            tokens = tokens.to(logits.device)
        return tokens.to(self.device)

    def _advance(
        self, rows: list[_Row], tokens: list[list[int]]
    ) -> Generator[tuple[list[Tokenized], list[Response]], None, list[int]]:
        """Append each row's new tokens up to where it finishes; yield the finished rows'
        responses and return the indices of the rows that go on.

        A row finishes at the first token that is an end of sequence, after which its stop
        strings can no longer change the cut text (:func:`stop_is_final`), or that reaches its
        token limit -- checked in that order after every token, exactly as a per-step check.
        """
        keep, done = [], []
        for index, (row, new) in enumerate(zip(rows, tokens, strict=True)):
            for token in new:
                row.tokens.append(token)
                self.tokens_out += 1
                if token in self.eos_ids:
                    row.finish = "eos"
                elif row.request.stop and stop_is_final(self._decode(row.tokens),
                                                        row.request.stop):
                    row.finish = "stop"
                elif len(row.tokens) >= row.request.max_new_tokens:
                    row.finish = "length"
                if row.finish:
                    break
            if row.finish:
                done.append(row)
            else:
                keep.append(index)
        if done:
            yield [row.item for row in done], [self._response(row) for row in done]
        return keep

    def _response(self, row: _Row) -> Response:
        return {"text": self._decode(row.tokens), "num_tokens": len(row.tokens),
                "context_tokens": len(row.item.context), "finish": row.finish or "length"}

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    # ---- request kind 3: whole-sequence NLL ------------------------------------------------
    @torch.inference_mode()
    def _sequence_nll_batch(self, items: list[Tokenized]) -> list[Response]:
        plain = [i for i, item in enumerate(items) if _left_pad(item) is None]
        out: list[Response | None] = [None] * len(items)
        if plain:
            per_token = [bool(getattr(items[i].request, "per_token", False)) for i in plain]
            for i, response in zip(plain, self._sequence_nll([items[i].context for i in plain],
                                                             per_token), strict=True):
                out[i] = response
        widths: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            if _left_pad(item) is not None:
                widths.setdefault(item.length, []).append(i)
        for width, members in widths.items():
            for i, response in zip(members, self._left_padded(
                    [items[i] for i in members], width), strict=True):
                out[i] = response
        done = [response for response in out if response is not None]
        assert len(done) == len(items)  # every item answered, in order
        return done

    def _left_padded(self, items: list[Tokenized], width: int) -> list[Response]:
        """Rows of one left-padded batch of ``width`` tokens, as the engine computed them."""
        if self.split_head:
            body = self.model.base_model

            def states(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return body(input_ids=ids, attention_mask=mask, use_cache=False)[0]
            head = self.model.get_output_embeddings()
        else:
            def states(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            head = None
        self.tokens_in += sum(len(item.context) for item in items)
        with _chunked_mlp(self.model, MLP_CHUNK_TOKENS):
            rows = row_nlls(states, [item.context for item in items], self.pad_id, head,
                            self.device, width)
        out: list[Response] = []
        for item, (pad, nlls, nonpad) in zip(items, rows, strict=True):
            labels = [t for t in item.context[0 if pad else 1:] if t != self.pad_id]
            response: Response = {"nll": sum(nlls), "num_tokens": len(labels),
                                  "left_pad": pad, "nonpad_tokens": nonpad}
            if getattr(item.request, "per_token", False):
                response["nlls"] = nlls
            out.append(response)
        return out

    def _sequence_nll(self, seqs: list[list[int]], per_token: list[bool] | None = None
                      ) -> list[Response]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):  # right padding: positions are plain 0..n-1
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        self.tokens_in += int(mask.sum())
        with _chunked_mlp(self.model, MLP_CHUNK_TOKENS):
            if self.split_head:
                hidden = self._hidden(ids, mask)
                head = self.model.get_output_embeddings()
            else:
                hidden = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                head = None
        total = torch.zeros(len(seqs), dtype=torch.float64, device=self.device)
        values: list[torch.Tensor] = []  # per-position NLLs, kept when a row asks for them
        for start in range(0, width - 1, NLL_CHUNK_TOKENS):
            stop = min(width - 1, start + NLL_CHUNK_TOKENS)
            chunk = hidden[:, start:stop]
            logits = (head(chunk) if head is not None else chunk).float()
            targets = ids[:, start + 1 : stop + 1].to(logits.device)  # device_map: head's device
            valid = mask[:, start + 1 : stop + 1].bool().to(logits.device)
            # (rows * positions, vocab): cross_entropy over a transposed (B, V, T) view runs
            # a strided kernel several times slower than the whole model body on a GPU.
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                  reduction="none").view(targets.shape)
            total += (nll * valid).double().sum(dim=1).to(total.device)
            if per_token and any(per_token):
                values.append(nll.double().cpu())
        out: list[Response] = [
            {"nll": float(total[row]), "num_tokens": max(len(seq) - 1, 0)}
            for row, seq in enumerate(seqs)
        ]
        if values:
            every = torch.cat(values, dim=1)
            for row, seq in enumerate(seqs):
                if per_token and per_token[row]:
                    out[row]["nlls"] = every[row, : max(len(seq) - 1, 0)].tolist()
        return out


def penalize_repetition(logits: torch.Tensor, seen: list[int], penalty: float) -> torch.Tensor:
    """Transformers' ``RepetitionPenaltyLogitsProcessor`` for one row: every token already in
    the prompt or the reply has its logit divided by ``penalty`` (multiplied, when negative)."""
    index = torch.tensor(sorted(set(seen)), dtype=torch.long, device=logits.device)
    picked = logits[index]
    logits = logits.clone()
    logits[index] = torch.where(picked < 0, picked * penalty, picked / penalty)
    return logits


def _sample(logits: torch.Tensor, request: GenerateRequest, generator: torch.Generator) -> int:
    """One token drawn from ``softmax(logits / temperature)`` restricted to the top-p nucleus.

    The nucleus is the smallest set of most likely tokens whose probability reaches ``top_p``
    (always at least one token). The draw uses only ``generator``, on the CPU.
    """
    probs = torch.softmax(logits.detach().to("cpu", torch.float64) / request.temperature, dim=-1)
    if request.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the more likely tokens
        keep = before < request.top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


@contextlib.contextmanager
def _chunked_mlp(model: Any, chunk: int) -> Iterator[None]:
    """Run each decoder layer's MLP over at most ``chunk`` positions at a time, meanwhile.

    An MLP acts on each position alone, so the result is the same; its intermediate activations
    (several times the hidden size, for every position of a 32K window) then exist for one chunk
    only. Models without ``base_model.layers[i].mlp`` run unchanged.
    """
    layers = getattr(getattr(model, "base_model", None), "layers", None) or []
    patched = []
    for layer in layers:
        mlp = getattr(layer, "mlp", None)
        if not isinstance(mlp, torch.nn.Module):
            continue
        own = "forward" in vars(mlp)  # an instance-level forward (e.g. Accelerate's hook)
        inner = mlp.forward

        def forward(hidden: torch.Tensor, *args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            if hidden.dim() < 2 or hidden.shape[-2] <= chunk or args or kwargs:
                return _inner(hidden, *args, **kwargs)
            return torch.cat([_inner(part) for part in hidden.split(chunk, dim=-2)], dim=-2)

        mlp.forward = forward
        patched.append((mlp, own, inner))
    try:
        yield
    finally:
        for mlp, own, inner in patched:
            if own:
                mlp.forward = inner
            else:
                del mlp.forward


class _Row:
    """One generation request while it decodes: its tokens so far and its own generator."""

    def __init__(self, item: Tokenized) -> None:
        self.item = item
        self.request: GenerateRequest = item.request  # type: ignore[assignment]
        self.tokens: list[int] = []
        self.finish = ""
        # A sampling request draws from its own generator, seeded from the request alone.
        self.generator = (None if self.request.greedy
                          else torch.Generator(device="cpu").manual_seed(self.request.seed))

    @property
    def left(self) -> int:
        return self.request.max_new_tokens - len(self.tokens)


class _Batch:
    """The rows decoding together: KV cache, attention mask over the cache's columns, the next
    position and the next input token of each row (all on the device)."""

    def __init__(self, config: Any, cache: Any, mask: torch.Tensor, pos: torch.Tensor,
                 last: torch.Tensor) -> None:
        self.config, self.cache, self.mask, self.pos, self.last = config, cache, mask, pos, last

    def _layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(layer.keys, layer.values) for layer in self.cache.layers]

    def select(self, keep: list[int]) -> _Batch:
        """The rows ``keep``, without the leading columns none of them attends to."""
        index = torch.tensor(keep, device=self.mask.device)
        mask = self.mask[index]
        first = int(mask.any(0).long().argmax())
        layers = [(k[index.to(k.device), :, first:], v[index.to(v.device), :, first:])
                  for k, v in self._layers()]
        return _Batch(self.config, _new_cache(self.config, layers), mask[:, first:],
                      self.pos[index], self.last[index])

    def merge(self, other: _Batch) -> _Batch:
        """These rows, then ``other``'s; the narrower side is padded on the left (masked)."""
        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(tensor: torch.Tensor, dim: int) -> torch.Tensor:
            extra = width - tensor.shape[dim]
            if not extra:
                return tensor
            shape = list(tensor.shape)
            shape[dim] = extra
            return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

        layers = [(torch.cat([pad(k1, 2), pad(k2, 2)]), torch.cat([pad(v1, 2), pad(v2, 2)]))
                  for (k1, v1), (k2, v2) in zip(self._layers(), other._layers(), strict=True)]
        return _Batch(self.config, _new_cache(self.config, layers),
                      torch.cat([pad(self.mask, 1), pad(other.mask, 1)]),
                      torch.cat([self.pos, other.pos]), torch.cat([self.last, other.last]))


def _new_cache(config: Any, layers: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> Any:
    """A ``DynamicCache`` for ``config``'s model holding ``layers``' keys and values."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    for index, (keys, values) in enumerate(layers):
        cache.update(keys, values, index)
    return cache


class _PrefixState:
    """A prefix's keys/values, last hidden states and next-token log-probs, kept between batches."""

    def __init__(self, tokens: tuple[int, ...], cache: Any, hidden: torch.Tensor,
                 last_logp: torch.Tensor) -> None:
        self.tokens = tokens
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.hidden = hidden  # (P, H): for the prefix's own NLL when a request asks for it
        self.last_logp = last_logp  # log-probs of the token right after the prefix
        self.nll: float | None = None

    def packed_layers(self) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
        """Each layer's keys and values as ``(P, Hkv, D)`` views of the kept ones, and ``P``."""
        return ([(keys[0].transpose(0, 1), values[0].transpose(0, 1))
                 for keys, values in self.layers], len(self.tokens))

    def expanded(self, rows: int, config: Any) -> Any:
        """A fresh cache holding this prefix for ``rows`` rows (views, no copies until used)."""
        return _new_cache(config, [(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1))
                                   for keys, values in self.layers])


def _cache_arg(forward: Any) -> str:
    """The keyword a model's ``forward`` takes its KV cache under (``cache`` or the older
    ``past_key_values``), read from its signature once."""
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    config = getattr(model, "generation_config", None)
    return id_set(getattr(config, "eos_token_id", None), tokenizer.eos_token_id)


def _pad_id(tokenizer: Any, eos_ids: set[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return min(eos_ids) if eos_ids else 0


def _input_device(model: Any) -> torch.device:
    """Where inputs go: the embedding layer's device (layers may be spread by a device_map)."""
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


def _scores_context(item: Tokenized) -> bool:
    """Does this log-likelihood item also ask for its context's own NLL?"""
    return isinstance(item.request, LoglikelihoodRequest) and item.request.score_context


def _left_pad(item: Tokenized) -> int | None:
    return getattr(item.request, "left_pad", None)


def _row_tokens(item: Tokenized, skip: int) -> int:
    """Tokens a log-likelihood item puts into a packed row after a ``skip``-token prefix."""
    context = len(item.context) - skip
    if isinstance(item.request, LoglikelihoodRequest) and item.request.next_token:
        return context
    return sum(context + len(cand) for cand in item.candidates) or context


def _attn_impl(model: Any) -> str:
    return str(getattr(model.config, "_attn_implementation", "unknown"))


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
