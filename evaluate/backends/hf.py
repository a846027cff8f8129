"""The Transformers backend: local folders, hub ids and GGUF files through ``transformers``.

How it keeps memory down with Qwen's 152K-token vocabulary: it runs the model body
(``model.base_model``) to get hidden states, and applies the LM head only at the positions a
request needs -- the last position for next-token choices and generation, the candidate tokens
for continuations, and fixed-size chunks of positions for whole-sequence NLL. No full-vocabulary
log-softmax over every position is ever materialised. A one-time self-check at load time confirms
that ``lm_head(base_model(x))`` equals the model's own logits; models where it does not (final
logit soft-capping, remote code with a different layout) fall back to the model's own forward.

Padding: prompts are left-padded with explicit ``position_ids`` (the count of real tokens before
each position), so a padded row computes exactly what it computes alone.
"""

from __future__ import annotations

import inspect
import os
import struct
from typing import Any

import torch
import torch.nn.functional as F

from evaluate.backends.batching import BatchingBackend
from evaluate.backends.identity import describe, model_source, resolve_dtype
from evaluate.backends.tokenized import Tokenized
from evaluate.errors import ModelLoadError, first_line
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, Response, stop_is_final

NLL_CHUNK_TOKENS = 1024  # positions per LM-head chunk in sequence_nll


class HFBackend(BatchingBackend):
    """A causal LM from ``transformers``."""

    name = "transformers"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int | str = 1,
        identity: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(batch_size)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = _input_device(model)
        self._identity = identity or {}
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = _pad_id(tokenizer, self.eos_ids)
        self._keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.split_head = self._check_split_head()
        # Shared few-shot prefixes are computed once (needs the LM head split off the body).
        self.prefix_kinds = (
            frozenset({"loglikelihood", "generate"}) if self.split_head else frozenset()
        )
        self._prefix: _PrefixState | None = None

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
        return cls(net, tokenizer, batch_size=batch_size, identity=identity)

    # ---- backend basics --------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "backend": self.name, "attention": _attn_impl(self.model),
                "lm_head_split": self.split_head}

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
        return self.model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions)[0]

    def _body(
        self, seqs: list[list[int]], prefix: list[int] | tuple[int, ...] = ()
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run left-padded ``seqs`` (after a shared ``prefix``, if any).

        Returns ``(states, ids, mask)``: ``states`` are hidden states when the LM head is split
        off (project them with :meth:`_project`), else the model's own logits. With a prefix, its
        keys and values come from :meth:`_prefix_state` (computed once per prefix); the rows'
        left padding then sits between prefix and suffix, masked out, and positions continue
        from the prefix's length.
        """
        ids, mask = self._left_pad(seqs)
        self.tokens_in += int(mask.sum())
        if not prefix:
            if self.split_head:
                return self._hidden(ids, mask), ids, mask
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            return logits, ids, mask
        state = self._prefix_state(prefix)
        rows, width = ids.shape
        full_mask = torch.cat([mask.new_ones(rows, len(prefix)), mask], dim=1)
        positions = len(prefix) + (mask.cumsum(-1) - 1).clamp(min=0)
        cache = state.expanded(rows, self.model.config)
        hidden = self.model.base_model(input_ids=ids, attention_mask=full_mask,
                                       position_ids=positions, past_key_values=cache,
                                       use_cache=True)[0]
        return hidden, ids, mask

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
        hidden = self.model.base_model(input_ids=ids, position_ids=positions,
                                       past_key_values=cache, use_cache=True)[0]
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
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            if seq:
                ids[row, width - len(seq) :] = torch.tensor(seq)
                mask[row, width - len(seq) :] = 1
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
        states, ids, mask = self._body(seqs, prefix)
        width = ids.shape[1]
        rows, cols, targets, owners = [], [], [], []
        row = 0
        for n, item in enumerate(items):
            ctx = item.context[skip:]
            for j, cand in enumerate(item.candidates):
                start = width - len(ctx) - len(cand)
                for k, token in enumerate(cand):  # logits at position p predict token p+1
                    rows.append(row)
                    cols.append(start + len(ctx) - 1 + k)
                    targets.append(token)
                    owners.append((n, j))
                if j == 0 and _scores_context(item):  # the context's own tokens, once
                    for k in range(len(ctx) - 1):
                        rows.append(row)
                        cols.append(start + k)
                        targets.append(ctx[k + 1])
                        owners.append((n, -1))
                row += 1
        logprobs = self._gather_logprobs(states, rows, cols, targets).tolist()
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
        self, states: torch.Tensor, rows: list[int], cols: list[int], targets: list[int]
    ) -> torch.Tensor:
        """log p(target) at each (row, col), computing logits only at those positions."""
        if not rows:
            return torch.zeros(0, dtype=torch.float64)
        index_rows = torch.tensor(rows, device=states.device)  # the last layer's device
        index_cols = torch.tensor(cols, device=states.device)
        logp = torch.log_softmax(self._project(states[index_rows, index_cols]), dim=-1)
        picked = logp.gather(1, torch.tensor(targets, device=logp.device)[:, None])[:, 0]
        return picked.double().cpu()

    def _next_token_batch(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...] = ()
    ) -> list[Response]:
        skip = len(prefix)
        states, _, _ = self._body([item.context[skip:] for item in items], prefix)
        logp = torch.log_softmax(self._project(states[:, -1]), dim=-1)
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
    @torch.inference_mode()
    def _generate_batch(
        self, items: list[Tokenized], prefix: list[int] | tuple[int, ...] = ()
    ) -> list[Response]:
        from transformers import DynamicCache

        requests: list[GenerateRequest] = [item.request for item in items]  # type: ignore[misc]
        skip = len(prefix)
        ids, mask = self._left_pad([item.context[skip:] for item in items])
        positions = skip + (mask.cumsum(-1) - 1).clamp(min=0)
        if prefix:  # the shared few-shot prefix's keys/values, computed once for all batches
            cache = self._prefix_state(prefix).expanded(len(items), self.model.config)
            step_mask = torch.cat([mask.new_ones(len(items), skip), mask], dim=1)
        else:
            cache, step_mask = DynamicCache(), mask
        active = list(range(len(items)))  # original rows still decoding, in cache order
        generated: list[list[int]] = [[] for _ in items]
        finish = ["length"] * len(items)
        step_input, step_pos = ids, positions
        limit = max(r.max_new_tokens for r in requests)
        # One random generator per sampling request, seeded from the request alone.
        generators = {row: torch.Generator(device="cpu").manual_seed(r.seed)
                      for row, r in enumerate(requests) if not r.greedy}
        self.tokens_in += int(mask.sum())
        for _ in range(limit):
            kwargs = {"logits_to_keep": 1} if self._keep_arg else {}
            out = self.model(input_ids=step_input, attention_mask=step_mask,
                             position_ids=step_pos, past_key_values=cache, use_cache=True,
                             **kwargs)
            cache = out.past_key_values
            last = out.logits[:, -1].float()
            for slot, row in enumerate(active):  # a protocol's repetition penalty, if any
                penalty = requests[row].repetition_penalty
                if penalty not in (None, 1.0):
                    seen = items[row].context + generated[row]
                    last[slot] = penalize_repetition(last[slot], seen, float(penalty))
            next_tokens = last.argmax(-1).tolist()
            for slot, row in enumerate(active):
                if row in generators:
                    next_tokens[slot] = _sample(last[slot], requests[row], generators[row])
            keep = []
            for slot, row in enumerate(active):
                token = next_tokens[slot]
                generated[row].append(token)
                self.tokens_out += 1
                request = requests[row]
                if token in self.eos_ids:
                    finish[row] = "eos"
                elif request.stop and stop_is_final(self._decode(generated[row]), request.stop):
                    finish[row] = "stop"
                elif len(generated[row]) >= request.max_new_tokens:
                    finish[row] = "length"
                else:
                    keep.append(slot)
            if not keep:
                break
            keep_t = torch.tensor(keep, device=self.device)
            if len(keep) < len(active):
                cache.batch_select_indices(keep_t)
                step_mask = step_mask[keep_t]
                step_pos = step_pos[keep_t]
            active = [active[slot] for slot in keep]
            step_input = torch.tensor([[generated[row][-1]] for row in active], device=self.device)
            step_mask = torch.cat([step_mask, torch.ones_like(step_mask[:, :1])], dim=1)
            step_pos = step_pos[:, -1:] + 1
        return [
            {
                "text": self._decode(generated[row]),
                "num_tokens": len(generated[row]),
                "context_tokens": len(items[row].context),
                "finish": finish[row],
            }
            for row in range(len(items))
        ]

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    # ---- request kind 3: whole-sequence NLL ------------------------------------------------
    @torch.inference_mode()
    def _sequence_nll_batch(self, items: list[Tokenized]) -> list[Response]:
        return self._sequence_nll([item.context for item in items])

    def _sequence_nll(self, seqs: list[list[int]]) -> list[Response]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):  # right padding: positions are plain 0..n-1
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        self.tokens_in += int(mask.sum())
        if self.split_head:
            hidden = self._hidden(ids, mask)
            head = self.model.get_output_embeddings()
        else:
            hidden = self.model(input_ids=ids, attention_mask=mask).logits
            head = None
        total = torch.zeros(len(seqs), dtype=torch.float64, device=self.device)
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
        return [
            {"nll": float(total[row]), "num_tokens": max(len(seq) - 1, 0)}
            for row, seq in enumerate(seqs)
        ]


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


class _PrefixState:
    """A prefix's keys/values, last hidden states and next-token log-probs, kept between batches."""

    def __init__(self, tokens: tuple[int, ...], cache: Any, hidden: torch.Tensor,
                 last_logp: torch.Tensor) -> None:
        self.tokens = tokens
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.hidden = hidden  # (P, H): for the prefix's own NLL when a request asks for it
        self.last_logp = last_logp  # log-probs of the token right after the prefix
        self.nll: float | None = None

    def expanded(self, rows: int, config: Any) -> Any:
        """A fresh cache holding this prefix for ``rows`` rows (views, no copies until used)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=config)
        for index, (keys, values) in enumerate(self.layers):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), index)
        return cache


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for source in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list | tuple):
            ids.update(int(x) for x in source)
    return ids


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


def _attn_impl(model: Any) -> str:
    return str(getattr(model.config, "_attn_implementation", "unknown"))


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
