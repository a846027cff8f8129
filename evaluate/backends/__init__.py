"""Model backends: each answers the three request kinds of :mod:`evaluate.requests` (the
interface: :mod:`evaluate.backends.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type checker proves that every backend satisfies the interface
    from evaluate.backends.base import Backend
    from evaluate.backends.hf import HFBackend
    from evaluate.backends.lazy import LazyBackend
    from evaluate.backends.openai import OpenAIBackend
    from evaluate.backends.vllm import VLLMBackend

    _BACKENDS: tuple[type[Backend], ...] = (HFBackend, LazyBackend, OpenAIBackend, VLLMBackend)
