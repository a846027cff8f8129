"""Chat templates: how a :class:`~evaluate.chat.Conversation` becomes the text a model reads.

Which template a run uses (:func:`choose_template`):

1. ``--chat-template NAME|FILE`` when given: a built-in (``chatml``, ``qwen``) or a Jinja file;
2. else the checkpoint's own template (``tokenizer.chat_template``: Qwen1.5/2/2.5 and the
   embedded GGUF carry one), rendered by ``tokenizer.apply_chat_template`` with
   ``add_generation_prompt=True``;
3. else, for the original Qwen(-Chat) remote-code tokenizer (tiktoken, no template), the ``qwen``
   built-in: Qwen's own ``make_context`` layout;
4. else none: a chat task then stops with one line before any work.

The conversation's ``prefill`` is appended after the assistant header. ``qwen`` reproduces
``make_context`` (QwenLM/Qwen ``examples/vllm_wrapper.py``): a default system turn
"You are a helpful assistant.", and *piecewise* tokenisation -- ``im_start``, ``enc(role)``,
``enc("\\n")``, ``enc(content)``, ``im_end``, with ``enc("\\n")`` between turns, each piece
encoded alone with no special-token parsing. Tokenising the whole rendered text can give other
ids (a content starting with a newline merges with the header's ``"\\n"``; a content holding
``"<|im_end|>"`` as text becomes a special token); where it does, the renderer records the
piecewise ids in the request's ``context_ids`` and the backends use them.

:class:`ChatRenderer` is what the runner uses: the template plus the tokenizer (loaded on first
use, without the weights) and the checkpoint's ``generation_config.json``, which is recorded in
``results.json`` and never applied, except a task's explicit ``repetition_penalty=None``
("the checkpoint's value").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluate.chat import Conversation, Message
from evaluate.errors import EvaluateError
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, Request

QWEN_SYSTEM = "You are a helpful assistant."
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATML_STOPS = (IM_END, IM_START)
BUILTINS = ("chatml", "qwen")


class ChatTemplateError(EvaluateError):
    """No usable chat template for a chat task, or a bad ``--chat-template``."""


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
    """A named way to render conversations.

    ``kind`` is ``jinja`` (``source`` is the template), ``chatml`` (plain ChatML, no default
    system) or ``qwen`` (Qwen-Chat's ``make_context``). ``name`` identifies it in results.
    """

    name: str
    kind: str
    source: str = ""
    stops: tuple[str, ...] = CHATML_STOPS

    def render(self, chat: Conversation, tokenizer: Any = None) -> str:
        """The exact prompt text (generation header and prefill included)."""
        if self.kind == "jinja":
            return _render_jinja(self.source, chat, tokenizer) + chat.prefill
        return "".join(p if isinstance(p, str) else p[1] for p in self.pieces(chat))

    def pieces(self, chat: Conversation) -> list[str | tuple[str, str]]:
        """ChatML pieces: plain text, or ``("special", token)``; make_context's order."""
        messages = list(chat.messages)
        if self.kind == "qwen" and messages[0].role != "system":
            messages.insert(0, Message("system", QWEN_SYSTEM))
        out: list[str | tuple[str, str]] = []
        for message in messages:
            if out:
                out.append("\n")
            out += [("special", IM_START), message.role, "\n", message.content,
                    ("special", IM_END)]
        out += ["\n", ("special", IM_START), "assistant", "\n"]
        if chat.prefill:
            out.append(chat.prefill)
        return out


def _render_jinja(source: str, chat: Conversation, tokenizer: Any) -> str:
    if tokenizer is not None:
        return tokenizer.apply_chat_template(chat.as_openai(), chat_template=source,
                                             tokenize=False, add_generation_prompt=True)
    from transformers.utils.chat_template_utils import render_jinja_template

    # Annotated as returning ``str``; it returns (rendered texts, generation indices).
    rendered: Any = render_jinja_template([chat.as_openai()], chat_template=source,
                                          add_generation_prompt=True)
    return str(rendered[0][0])


def builtin(name: str) -> ChatTemplate:
    if name not in BUILTINS:
        raise ChatTemplateError(f"unknown chat template {name!r}; built-ins: {', '.join(BUILTINS)}")
    return ChatTemplate(name=name, kind=name)


def template_identity(spec: str) -> str:
    """What ``--chat-template`` adds to the model identity: the name, or the file's content hash."""
    if spec in BUILTINS:
        return spec
    path = Path(spec)
    if not path.is_file():
        raise ChatTemplateError(
            f"--chat-template {spec!r} is neither a built-in ({', '.join(BUILTINS)}) nor a file")
    return f"file:{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"


def choose_template(override: str | None, tokenizer: Any) -> ChatTemplate | None:
    """The run's template (see the module docstring for the order), or None."""
    if override:
        identity = template_identity(override)
        if override in BUILTINS:
            return builtin(override)
        return ChatTemplate(name=identity, kind="jinja", source=Path(override).read_text("utf-8"),
                            stops=_eos_stops(tokenizer))
    source = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if isinstance(source, dict):  # several named templates: the default one
        source = source.get("default")
    if source:
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        return ChatTemplate(name=f"checkpoint:{digest}", kind="jinja", source=source,
                            stops=_eos_stops(tokenizer))
    if tokenizer is not None and hasattr(tokenizer, "im_start_id"):  # Qwen(-Chat) remote code
        return builtin("qwen")
    return None


def _eos_stops(tokenizer: Any) -> tuple[str, ...]:
    """ChatML's end-of-turn markers plus the tokenizer's end-of-sequence token."""
    eos = getattr(tokenizer, "eos_token", None) if tokenizer is not None else None
    return CHATML_STOPS + ((eos,) if isinstance(eos, str) and eos not in CHATML_STOPS else ())


def piecewise_ids(template: ChatTemplate, chat: Conversation, tokenizer: Any) -> list[int]:
    """Token ids as ``make_context`` builds them: each piece encoded alone."""
    plain, special = _encoders(tokenizer)
    ids: list[int] = []
    for piece in template.pieces(chat):
        ids += [special(piece[1])] if isinstance(piece, tuple) else plain(piece)
    return ids


def _encoders(tokenizer: Any) -> tuple[Callable[[str], list[int]], Callable[[str], int]]:
    """(encode text with no special-token parsing, id of a special token)."""
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(inner, "encode") and hasattr(tokenizer, "im_start_id"):
        # QWenTokenizer: NFC-normalise, then tiktoken with allowed_special=set() (make_context).
        def plain(text: str) -> list[int]:
            return list(inner.encode(unicodedata.normalize("NFC", text), allowed_special=set(),
                                     disallowed_special=()))

        ids = {IM_START: tokenizer.im_start_id, IM_END: tokenizer.im_end_id}
        return plain, ids.__getitem__

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    return encode, tokenizer.convert_tokens_to_ids


def whole_ids(text: str, tokenizer: Any) -> list[int]:
    """The ids a backend gets by tokenising the whole rendered text."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def read_generation_config(source: str, revision: str | None = None) -> dict[str, Any] | None:
    """The checkpoint's ``generation_config.json`` as stored (None when it has none)."""
    path = Path(source)
    if path.is_dir():
        file = path / "generation_config.json"
        return json.loads(file.read_text("utf-8")) if file.is_file() else None
    if path.suffix == ".gguf" or path.exists():
        return None
    try:
        from transformers.utils import cached_file

        found = cached_file(source, "generation_config.json", revision=revision,
                            _raise_exceptions_for_missing_entries=False)
    except (OSError, ValueError):
        return None
    return json.loads(Path(found).read_text("utf-8")) if found else None


class ChatRenderer:
    """Renders a run's chat requests; the tokenizer loads on first use, never the weights."""

    def __init__(self, tokenizer: Any = None, override: str | None = None,
                 generation_config: dict[str, Any] | None = None,
                 load_tokenizer: Callable[[], Any] | None = None, label: str = "model") -> None:
        self._tokenizer = tokenizer
        self._load_tokenizer = load_tokenizer
        self.override = override
        self.generation_config = generation_config
        self.label = label
        self._template: ChatTemplate | None = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None and self._load_tokenizer is not None:
            self._tokenizer = self._load_tokenizer()
            self._load_tokenizer = None
        return self._tokenizer

    @property
    def template(self) -> ChatTemplate:
        """The template; a :class:`ChatTemplateError` (one line) when there is none."""
        if self._template is None:
            tokenizer = None if self.override in BUILTINS else self.tokenizer
            found = choose_template(self.override, tokenizer)
            if found is None:
                raise ChatTemplateError(
                    f"{self.label} has no chat template, and this is a chat task; pass "
                    f"--chat-template NAME|FILE (built-ins: {', '.join(BUILTINS)})")
            self._template = found
        return self._template

    def check(self) -> None:
        """Fail now (before any work) if there is no template."""
        _ = self.template

    def render(self, request: Request) -> Request:
        """``request`` with its conversation rendered into ``context`` (others unchanged)."""
        chat = getattr(request, "chat", None)
        if chat is None:
            return request
        assert isinstance(request, GenerateRequest | LoglikelihoodRequest)
        template = self.template
        tokenizer = self.tokenizer
        text = template.render(chat, tokenizer)
        changes: dict[str, Any] = {"context": text}
        if template.kind == "qwen" and tokenizer is not None:
            ids = piecewise_ids(template, chat, tokenizer)
            if ids != whole_ids(text, tokenizer):
                changes["context_ids"] = tuple(ids)
        if isinstance(request, GenerateRequest):
            changes["stop"] = request.stop + tuple(s for s in template.stops
                                                   if s not in request.stop)
            if request.repetition_penalty is None:  # the protocol asks for the checkpoint's
                value = (self.generation_config or {}).get("repetition_penalty", 1.0)
                changes["repetition_penalty"] = float(value)
        return dataclasses.replace(request, **changes)

    def describe(self) -> dict[str, Any]:
        """For results.json: the template and the checkpoint's generation config (not applied)."""
        return {
            "template": self.template.name,
            "template_stops": list(self.template.stops),
            "generation_config": self.generation_config,
            "generation_config_note": "recorded, not applied: decoding follows the task's "
                                      "protocol (repetition_penalty only where a task asks for "
                                      "the checkpoint's value)",
        }


def renderer_for(backend: Any) -> ChatRenderer:
    """The backend's renderer: one attached by :func:`evaluate.evaluation.load_backend`, else
    one over the backend's own tokenizer (a loaded Transformers model)."""
    attached = getattr(backend, "chat_renderer", None)
    if attached is not None:
        return attached
    try:
        tokenizer = getattr(backend, "tokenizer", None)
    except EvaluateError:  # an openai backend without --tokenizer
        tokenizer = None
    config = None
    model = getattr(backend, "model", None)
    if model is not None and getattr(model, "generation_config", None) is not None:
        config = model.generation_config.to_diff_dict()
    renderer = ChatRenderer(tokenizer=tokenizer, generation_config=config)
    try:
        backend.chat_renderer = renderer
    except AttributeError:
        pass
    return renderer
