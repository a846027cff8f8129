"""The ``openai`` backend: any OpenAI-compatible *completions* server (vLLM, SGLang, llama.cpp).

Models too big for one GPU are served by an engine built for it (vLLM with tensor parallelism,
say) and evaluated through its ``/v1/completions`` endpoint -- never the chat endpoint, whose
template would change every prompt. How each request kind is answered:

- **generate**: ``prompt`` (the text, or token ids when the context was truncated),
  ``max_tokens``, ``stop`` and ``temperature`` 0 for greedy (seeded ``temperature``/``top_p``
  for sampling). The task cuts the returned text post hoc, as with every backend.
- **loglikelihood, next-token choices** (MMLU, C-Eval, CMMLU: every candidate one token):
  one request per question, ``prompt`` = the context, ``max_tokens=1``, ``logprobs=K`` (the
  server's top-K next-token log-probabilities, K = ``top_logprobs``, 20 by default); each
  candidate's value is read from that list. A candidate outside the top K is scored exactly
  through ``echo`` where the server has it; where it has not, it gets the K-th value as an upper
  bound and the response names it in ``outside_top_k`` (the prediction is still exact whenever
  the predicted candidate is inside the top K). The server's prompt token count must equal ours
  for every such request, so the server scored the context this harness built.
- **loglikelihood, continuations**: one request per candidate with ``prompt`` = context tokens +
  candidate tokens, ``echo=true``, ``logprobs=1``, ``max_tokens=1``; the server returns the
  log-probability of every prompt token, and the candidate's are summed (the generated token is
  ignored). The context's own log-probabilities come from the same response when
  ``score_context`` asks for them.
- **sequence_nll**: ``prompt`` = the token ids, ``echo=true``, ``logprobs=1``, ``max_tokens=1``.
  Never a left-padded batch row (``left_pad``): without ``left_padded_rows`` the runner sends
  such tasks' prompts unpadded (each alone) and ``results.json`` says so.

Prompts for echo requests are sent as token ids, so the server scores exactly the tokens this
harness chose; that needs the model's tokenizer here (``tokenizer=``, a local folder or hub id).
It is checked once against the server (the server's prompt token count of a probe text must
equal ours). What the server can do is probed once, before any work: prompt log-probabilities
through ``echo`` on token-id prompts (vLLM, SGLang), next-token top log-probabilities (those and
llama.cpp's servers), or neither (``transformers serve``: generation only). A task that needs
what the server lacks fails before its first request, with one line saying so.

Requests run concurrently (a bounded thread pool) and each response is yielded as it completes,
so the runner persists it at once; connection errors, timeouts, 429 and 5xx are retried with
exponential backoff, so a server restart mid-run loses nothing (and a run that still fails
resumes from its responses file and the request cache).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from tqdm.auto import tqdm

from evaluate.backends.tokenized import Tokenized, TokenizingBackend
from evaluate.errors import EvaluateError, ModelLoadError, first_line
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    Request,
    Response,
    SequenceNLLRequest,
)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
TOKENIZER_PROBE = (
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n"
)


class ServerError(EvaluateError):
    """The server refused a request, or could not be reached after every retry."""


class UnsupportedRequestError(EvaluateError):
    """A request kind this server (or this backend's configuration) cannot answer."""


class OpenAIBackend(TokenizingBackend):
    """Answers requests through an OpenAI-compatible ``/v1/completions`` server."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff: float = 1.0,
        trust_remote_code: bool = False,
        top_logprobs: int = 20,
    ) -> None:
        super().__init__(batch_size=concurrency)
        if top_logprobs < 1:
            raise EvaluateError(f"top_logprobs must be at least 1, not {top_logprobs}")
        if concurrency < 1:
            raise EvaluateError(f"--concurrency must be at least 1, not {concurrency}")
        self.base_url = normalise_base_url(base_url)
        self.label = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.tokenizer_name = tokenizer
        self._tokenizer: Any = None
        self._tokenizer_checked = False
        self.top_logprobs = top_logprobs
        # What the server can do, probed once when a request first needs it (None: not yet).
        self._echo: bool | None = None  # prompt log-probabilities for token-id prompts
        self._echo_why = ""
        self._top: bool | None = None  # next-token top log-probabilities
        self._top_why = ""
        self._token_ids: bool | None = None  # token-id prompts accepted
        self._probe_lock = threading.RLock()  # probes run once, also when workers ask at once
        self._trust_remote_code = trust_remote_code
        self.server_models = self._list_models()
        self.served_model = self._pick_served_model(model)
        self._identity: dict[str, Any] = {
            "model": model,
            "served_model": self.served_model,
            "server_models": self.server_models,
            "tokenizer": tokenizer,
            "top_logprobs": top_logprobs,
            "device": self.base_url,  # where it runs: not part of the cache fingerprint
        }

    # ---- identity ------------------------------------------------------------------------------
    def _list_models(self) -> list[str] | None:
        """The ids of ``GET /v1/models``; None when the server does not answer it."""
        try:
            data = self._request("GET", "/models", None, retries=2)
        except ServerError:
            return None
        ids = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
        return ids or None

    def _pick_served_model(self, model: str) -> str:
        """The model id to send: ``model`` when served, else the server's only model."""
        if self.server_models is None or model in self.server_models:
            return model
        if len(self.server_models) == 1:
            return self.server_models[0]
        raise ModelLoadError(
            f"server {self.base_url} serves {', '.join(self.server_models)}, not {model!r}; "
            "pass one of those as --model"
        )

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "backend": self.name}

    # ---- tokenizer -----------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            if not self.tokenizer_name:
                raise UnsupportedRequestError(
                    "this task needs the model's tokenizer (log-likelihoods, truncated or "
                    "token-id prompts); give the openai backend --tokenizer PATH_OR_HUB_ID"
                )
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(
                    self.tokenizer_name, trust_remote_code=self._trust_remote_code)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(
                    f"could not load tokenizer {self.tokenizer_name!r}: {first_line(exc)}"
                ) from exc
        return self._tokenizer

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_tokenizer(self) -> None:
        """Once: the server must count the probe text's tokens as our tokenizer does."""
        if self._tokenizer_checked:
            return
        ours = len(self.encode(TOKENIZER_PROBE))
        data = self._completion({"prompt": TOKENIZER_PROBE, "max_tokens": 1, "temperature": 0})
        theirs = (data.get("usage") or {}).get("prompt_tokens")
        if theirs is not None and int(theirs) != ours:
            raise ModelLoadError(
                f"tokenizer {self.tokenizer_name!r} gives {ours} tokens for a probe text, the "
                f"server at {self.base_url} counts {theirs}: not the served model's tokenizer "
                "(or the server adds a BOS token)"
            )
        self._tokenizer_checked = True

    def _once(self, attribute: str, probe: Callable[[], bool]) -> bool:
        """The probe's answer, kept in ``attribute``; probed once even when workers ask at once."""
        with self._probe_lock:
            if getattr(self, attribute) is None:
                setattr(self, attribute, probe())
            return getattr(self, attribute)

    def has_prompt_logprobs(self) -> bool:
        """Once: token-id prompts are accepted, and echoed log-probabilities are aligned.

        The greedy next token ``g`` after a probe prompt, with its log-probability from a plain
        completion, must get the same log-probability as the last token of the echoed prompt
        ``probe + g``. llama-cpp-python's server (0.3.16) takes text prompts only (and its echoed
        values, read by hand, are shifted by one position): it fails this probe.
        """
        return self._once("_echo", self._probe_prompt_logprobs)

    def _probe_prompt_logprobs(self) -> bool:
        self._echo_why = "it does not take token-id prompts"
        ids = self.encode(TOKENIZER_PROBE)
        try:
            plain = self._request("POST", "/completions", {
                "model": self.served_model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                "logprobs": 1}, retries=1)
        except ServerError as exc:
            self._echo_why += f" ({exc})"
            return False
        logprobs = plain["choices"][0].get("logprobs") or {}
        expected = (logprobs.get("token_logprobs") or [None])[0]
        token = self.encode(plain["choices"][0].get("text") or "")
        if expected is None or len(token) != 1:
            self._echo_why = "it returned no log-probabilities"
            return False
        try:
            echoed = self.prompt_logprobs(ids + token)[-1]
        except (ServerError, UnsupportedRequestError) as exc:
            self._echo_why = f"it returned no prompt log-probabilities ({exc})"
            return False
        if abs(echoed - float(expected)) > 0.05:
            self._echo_why = (
                "it echoes prompt log-probabilities that disagree with its own next-token "
                f"log-probability ({echoed:.3f} vs {float(expected):.3f}): misaligned")
            return False
        return True

    def has_top_logprobs(self) -> bool:
        """Once: the server returns top next-token log-probabilities for a text prompt.

        Asks for ``top_logprobs`` of them; a server that refuses that many (OpenAI's own API
        allows 5) is asked for 5, and K becomes 5.
        """
        return self._once("_top", self._probe_top_logprobs)

    def _probe_top_logprobs(self) -> bool:
        self._top_why = "it returned no top log-probabilities"
        for k in dict.fromkeys((self.top_logprobs, min(self.top_logprobs, 5))):
            try:
                data = self._request("POST", "/completions", {
                    "model": self.served_model, "prompt": TOKENIZER_PROBE, "max_tokens": 1,
                    "temperature": 0, "logprobs": k}, retries=1)
            except ServerError as exc:
                self._top_why = f"it refused logprobs={k} ({exc})"
                continue
            top = _top_logprobs(data)
            if top:
                self.top_logprobs = k
                self._identity["top_logprobs"] = k
                return True
        return False

    def takes_token_ids(self) -> bool:
        """Once: whether the server accepts a prompt given as token ids."""
        return self._once("_token_ids", self._probe_token_ids)

    def _probe_token_ids(self) -> bool:
        try:
            self._request("POST", "/completions", {
                "model": self.served_model, "prompt": self.encode(TOKENIZER_PROBE),
                "max_tokens": 1, "temperature": 0}, retries=0)
        except ServerError:
            return False
        return True

    def _prompt(self, item: Tokenized) -> str | list[int]:
        """``item.context`` as a prompt: its text where that encodes back to exactly these
        tokens, else the token ids themselves (for servers that take them)."""
        if not item.truncated and getattr(item.request, "context_ids", None) is None:
            return item.request.context  # type: ignore[union-attr]
        text = self.tokenizer.decode(item.context)
        if self.encode(text) == item.context:
            return text
        if not self.takes_token_ids():
            raise UnsupportedRequestError(
                f"server {self.base_url} takes no token-id prompts, and a truncated context "
                "does not survive a round trip through text; raise the task's context limit "
                "or use a server that takes token ids (vLLM, SGLang)")
        return item.context

    def check_capabilities(self, items: Sequence[Tokenized]) -> None:
        """Before any work: the server can answer every log-likelihood request in ``items``.

        Raises :class:`UnsupportedRequestError` (one line) naming what the server lacks.
        """
        needs_echo = needs_top = False
        for item in items:
            request = item.request
            if isinstance(request, GenerateRequest):
                continue
            if _is_next_token_choice(request):
                needs_top = True
            else:
                needs_echo = True
        if needs_top:
            # Both probed now: echo also decides how a candidate outside the top K is scored.
            top, echo = self.has_top_logprobs(), self.has_prompt_logprobs()
            if not (top or echo):
                raise UnsupportedRequestError(
                    f"server {self.base_url} has neither top log-probabilities ({self._top_why}) "
                    f"nor prompt log-probabilities ({self._echo_why}); it can serve generation "
                    "tasks only")
        if needs_echo and not self.has_prompt_logprobs():
            serves = ("generation tasks and next-token choice tasks (MMLU, C-Eval, CMMLU)"
                      if self.has_top_logprobs() else "generation tasks")
            raise UnsupportedRequestError(
                f"server {self.base_url} cannot score whole continuations or texts: "
                f"{self._echo_why}; it can serve {serves} only")

    def tokenize(self, index: int, request: Request) -> Tokenized:
        """Token ids when they are needed; a plain-text generation needs no tokenizer."""
        if (isinstance(request, GenerateRequest) and request.max_context_tokens is None
                and request.context_ids is None and not self.tokenizer_name):
            return Tokenized(index, request, [], [])
        if isinstance(request, SequenceNLLRequest) and request.left_pad is not None:
            raise EvaluateError("the openai backend cannot compute a left-padded batch row "
                                "(left_pad): a completions prompt has no attention mask")
        if isinstance(request, SequenceNLLRequest) and request.token_ids is not None:
            self.tokenizer  # noqa: B018 (token ids mean something only for a known tokenizer)
        return super().tokenize(index, request)

    # ---- the interface the runner uses ---------------------------------------------------------
    def run(
        self, requests: Sequence[Request], progress: bool = True, desc: str = "model"
    ) -> Iterator[tuple[int, Response]]:
        """Answer ``requests`` with at most ``concurrency`` in flight; yields as each completes.

        Longest prompts go first (as in the batching engine), so a prompt too long for the server
        fails early. A request that fails after its retries stops the run; what completed has
        been yielded (and so persisted) already.
        """
        items = [self.tokenize(index, request) for index, request in enumerate(requests)]
        if any(not isinstance(i.request, GenerateRequest) or i.context for i in items):
            self.check_tokenizer()
        self.check_capabilities(items)
        items.sort(key=lambda item: (-item.length, item.index))
        queue = deque(items)
        bar = tqdm(total=len(items), desc=desc, unit="req", disable=not progress, smoothing=0.1)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")
        running: dict[Future[Response], Tokenized] = {}
        try:
            while queue or running:
                while queue and len(running) < self.concurrency:
                    item = queue.popleft()
                    running[pool.submit(self.answer, item)] = item
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = running.pop(future)
                    yield item.index, future.result()
                    bar.update(1)
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()

    def answer(self, item: Tokenized) -> Response:
        """The response to one tokenised request (runs in a worker thread)."""
        request = item.request
        if isinstance(request, GenerateRequest):
            return self._generate(item, request)
        if isinstance(request, LoglikelihoodRequest):
            return self._loglikelihood(item, request)
        return self._sequence_nll(item)

    # ---- the three request kinds ---------------------------------------------------------------
    def _generate(self, item: Tokenized, request: GenerateRequest) -> Response:
        body: dict[str, Any] = {
            # The text, as the server's own tokenizer reads it; a context cut to its last tokens
            # goes as those tokens (as text where that text encodes back to exactly them).
            "prompt": (self._prompt(item) if item.truncated or request.context_ids is not None
                       else request.context),
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.repetition_penalty not in (None, 1.0):
            body["repetition_penalty"] = request.repetition_penalty  # vLLM / SGLang extension
        if not request.greedy:
            body["top_p"] = request.top_p
            body["seed"] = request.seed
        data = self._completion(body)
        choice = data["choices"][0]
        text = choice.get("text") or ""
        usage = data.get("usage") or {}
        self.tokens_in += int(usage.get("prompt_tokens") or len(item.context))
        generated = int(usage.get("completion_tokens") or 0)
        self.tokens_out += generated
        reason = choice.get("finish_reason")
        if reason == "length":
            finish = "length"
        elif choice.get("stop_reason") is not None or any(s in text for s in request.stop):
            finish = "stop"
        else:
            finish = "eos" if not request.stop or reason == "stop" else "stop"
        return {
            "text": text,
            "num_tokens": generated,
            "context_tokens": int(usage.get("prompt_tokens") or len(item.context)),
            "finish": finish,
        }

    def _loglikelihood(self, item: Tokenized, request: LoglikelihoodRequest) -> Response:
        if _is_next_token_choice(request) and self.has_top_logprobs():
            return self._next_token_choice(item, request)
        n_ctx = len(item.context)
        logprobs: list[float] = []
        context_logprobs: list[float] = []
        for j, candidate in enumerate(item.candidates):
            values = self.prompt_logprobs(item.context + candidate)
            logprobs.append(sum(values[n_ctx : n_ctx + len(candidate)]))
            if j == 0 and request.score_context:
                context_logprobs = values[1:n_ctx]
        response: Response = {
            "logprobs": logprobs,
            "num_tokens": [len(c) for c in item.candidates],
            "context_tokens": n_ctx,
            "truncated": item.truncated,
        }
        if request.score_context:
            response["context_nll"] = -sum(context_logprobs)
            response["context_nll_tokens"] = max(n_ctx - 1, 0)
        return response

    def _next_token_choice(self, item: Tokenized, request: LoglikelihoodRequest) -> Response:
        """One-token candidates scored from the server's top-K next-token log-probabilities."""
        # Text where it encodes back to exactly these tokens (every server takes text); the
        # server's token count is checked against ours.
        prompt = self._prompt(item)
        data = self._completion({"prompt": prompt, "max_tokens": 1, "temperature": 0,
                                 "logprobs": self.top_logprobs})
        counted = (data.get("usage") or {}).get("prompt_tokens")
        if counted is not None and int(counted) != len(item.context):
            raise ServerError(
                f"server {self.base_url} read a prompt as {counted} tokens, this harness as "
                f"{len(item.context)}: it does not score the prompt this harness built "
                "(another tokenizer, or a BOS token added)")
        self.tokens_in += len(item.context)
        top = _top_logprobs(data)
        if not top:
            raise ServerError(f"server {self.base_url} sent no top log-probabilities")
        floor = min(top.values())
        logprobs: list[float] = []
        outside: list[int] = []
        for j, candidate in enumerate(item.candidates):
            value = top.get(self.tokenizer.decode(candidate))
            if value is None:
                if self.has_prompt_logprobs():  # exact, through echo
                    value = self.prompt_logprobs(item.context + candidate)[-1]
                else:
                    value = floor  # an upper bound: the candidate is below every top-K token
                    outside.append(j)
            logprobs.append(float(value))
        response: Response = {
            "logprobs": logprobs,
            "num_tokens": [1] * len(item.candidates),
            "context_tokens": len(item.context),
            "truncated": item.truncated,
        }
        if outside:
            response["outside_top_k"] = outside
        return response

    def _sequence_nll(self, item: Tokenized) -> Response:
        values = self.prompt_logprobs(item.context)
        response: Response = {"nll": -sum(values[1:]),
                              "num_tokens": max(len(item.context) - 1, 0)}
        if getattr(item.request, "per_token", False):
            response["nlls"] = [-v for v in values[1:]]
        return response

    def prompt_logprobs(self, ids: list[int]) -> list[float]:
        """log p(token_i | tokens before it) for every prompt token (0.0 for the first).

        One ``echo`` completion of one token; the generated token's log-probability is dropped.
        """
        if not ids:
            raise UnsupportedRequestError("cannot score an empty prompt")
        data = self._completion({"prompt": ids, "max_tokens": 1, "temperature": 0,
                                 "echo": True, "logprobs": 1})
        self.tokens_in += len(ids)
        logprobs = (data["choices"][0].get("logprobs") or {}).get("token_logprobs")
        if not isinstance(logprobs, list) or len(logprobs) < len(ids):
            raise UnsupportedRequestError(
                f"server {self.base_url} returned no prompt log-probabilities (it does not "
                "support echo with logprobs on /v1/completions); it can serve generation tasks "
                "only"
            )
        values = logprobs[: len(ids)]
        if any(v is None for v in values[1:]):
            raise UnsupportedRequestError(
                f"server {self.base_url} left some prompt log-probabilities empty"
            )
        return [0.0] + [float(v) for v in values[1:]]

    # ---- HTTP ----------------------------------------------------------------------------------
    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        data = self._request("POST", "/completions", {"model": self.served_model, **body})
        if not isinstance(data, dict) or not data.get("choices"):
            raise ServerError(f"server {self.base_url} sent a completion without choices")
        return data

    def _request(self, method: str, path: str, body: dict[str, Any] | None,
                 retries: int | None = None) -> dict[str, Any]:
        """One JSON request, retried with exponential backoff on transient failures."""
        url = self.base_url + path
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        tries = (self.max_retries if retries is None else retries) + 1
        last = ""
        for attempt in range(tries):
            if attempt:
                delay = min(60.0, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))
            http = urllib.request.Request(url, data=payload, headers=headers, method=method)
            try:
                with urllib.request.urlopen(http, timeout=self.timeout) as reply:
                    return json.loads(reply.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code not in RETRY_STATUS:
                    raise ServerError(
                        f"server {self.base_url} refused {method} {path}: HTTP {exc.code}: "
                        f"{detail}"
                    ) from None
                last = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
                reason = getattr(exc, "reason", None) or exc
                last = f"{type(exc).__name__}: {reason}"
        raise ServerError(
            f"server {self.base_url} failed {method} {path} after {tries} tries ({last}); "
            "finished responses are kept: run the same command again to resume"
        )


def _is_next_token_choice(request: Request) -> bool:
    """A log-likelihood request that only needs the next-token distribution after its context."""
    return (isinstance(request, LoglikelihoodRequest) and request.next_token
            and not request.score_context)


def _top_logprobs(data: dict[str, Any]) -> dict[str, float]:
    """The first generated position's top log-probabilities, ``{token text: logprob}``."""
    logprobs = data["choices"][0].get("logprobs") or {}
    top = logprobs.get("top_logprobs") or []
    first = top[0] if top else None
    if isinstance(first, dict):
        return {str(k): float(v) for k, v in first.items() if v is not None}
    return {}


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``.../v1`` (with or without a trailing slash) -> ``.../v1``."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise EvaluateError(f"--base-url must start with http:// or https://, not {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except OSError:
        return str(exc.reason)
    try:
        data = json.loads(text)
        message = data.get("error", data.get("detail", data.get("message", text)))
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except (json.JSONDecodeError, AttributeError):
        pass
    return " ".join(text.split())[:300]


def api_key_from_env(variable: str | None) -> str | None:
    """The API key in environment variable ``variable`` (None when no variable is named)."""
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise EvaluateError(f"--api-key-env names {variable}, which is not set")
    return value
