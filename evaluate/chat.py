"""A prompt as a conversation: system / user / assistant turns and a pre-filled reply start.

A chat task builds its requests with ``context=""`` and ``chat=Conversation(...)``; at plan time
the runner renders the conversation with the run's chat template (:mod:`evaluate.chat_templates`)
into the request's ``context``, the exact text the model reads, and keeps the conversation in
the record. Nothing here knows a template or a task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ROLES = ("system", "user", "assistant")
# What ends a turn in ChatML (Qwen's templates). The runner adds the template's end-of-turn
# strings to a chat request's stops, and the raw reply may end with one: scorers cut at these.
END_OF_TURN = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")


@dataclass(frozen=True)
class Message:
    """One turn: ``role`` is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown chat role {self.role!r}; use one of {ROLES}")


@dataclass(frozen=True)
class Conversation:
    """The turns before the model's reply; ``prefill`` is the reply's pre-filled start.

    The last message is a user turn: the model answers it. ``prefill`` is appended right after
    the template's assistant header (e.g. ``"```python\\n"``), so the reply continues it.
    """

    messages: tuple[Message, ...]
    prefill: str = ""

    def __post_init__(self) -> None:
        if not self.messages or self.messages[-1].role != "user":
            raise ValueError("a conversation ends with the user turn the model answers")

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [{"role": m.role, "content": m.content} for m in self.messages],
                "prefill": self.prefill}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(tuple(Message(m["role"], m["content"]) for m in data["messages"]),
                   data.get("prefill", ""))

    def as_openai(self) -> list[dict[str, str]]:
        """The messages as ``apply_chat_template`` and OpenAI-style APIs take them."""
        return [{"role": m.role, "content": m.content} for m in self.messages]


def conversation(
    user: str,
    system: str | None = None,
    shots: Iterable[tuple[str, str]] = (),
    prefill: str = "",
) -> Conversation:
    """``[system] + (user, assistant) per shot + user``: the usual shape of a chat prompt."""
    messages: list[Message] = []
    if system is not None:
        messages.append(Message("system", system))
    for question, answer in shots:
        messages += [Message("user", question), Message("assistant", answer)]
    messages.append(Message("user", user))
    return Conversation(tuple(messages), prefill)
