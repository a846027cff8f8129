"""Every backend satisfies the one interface the runner uses (evaluate/backends/base.py).

The type checker proves it statically (evaluate/backends/__init__.py); this checks the same of
real instances at run time, and that the batching engine is a base a backend may do without.
"""

from __future__ import annotations

import socket

from evaluate.backends.base import Backend
from evaluate.backends.batching import BatchingBackend
from evaluate.backends.hf import HFBackend
from evaluate.backends.lazy import LazyBackend
from evaluate.backends.openai import OpenAIBackend
from evaluate.requests import GenerateRequest, SequenceNLLRequest


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_transformers_backend_is_a_backend(tiny_model, qwen2_tokenizer):
    backend = HFBackend(tiny_model, qwen2_tokenizer)
    assert isinstance(backend, Backend) and isinstance(backend, BatchingBackend)


def test_openai_backend_is_a_backend_without_the_batching_engine():
    backend = OpenAIBackend(f"http://127.0.0.1:{_closed_port()}", "m", max_retries=0,
                            backoff=0.0, timeout=1)
    assert isinstance(backend, Backend)
    assert not isinstance(backend, BatchingBackend)


def test_lazy_backend_is_a_backend_and_loads_on_first_run(tiny_model, qwen2_tokenizer):
    built = []

    def factory() -> HFBackend:
        built.append(HFBackend(tiny_model, qwen2_tokenizer, identity={"model": "tiny"}))
        return built[0]

    lazy = LazyBackend({"model": "tiny", "dtype": "float32"}, factory, HFBackend.name, 1)
    assert isinstance(lazy, Backend)
    assert (lazy.identity(), lazy.tokens_in, lazy.tokens_out, built) == (
        {"model": "tiny", "dtype": "float32"}, 0, 0, [])
    responses = dict(lazy.run([SequenceNLLRequest(token_ids=(1, 2, 3)),
                               GenerateRequest("a", max_new_tokens=2)], progress=False))
    assert sorted(responses) == [0, 1] and len(built) == 1
    assert lazy.tokens_in == built[0].tokens_in > 0 and lazy.tokens_out == built[0].tokens_out
    assert lazy.identity()["dtype"] == "float32" and lazy.identity()["backend"] == "transformers"


def test_an_object_without_run_is_not_a_backend():
    class NoRun:
        name = "none"
        batch_size = 1
        tokens_in = tokens_out = 0

        def identity(self) -> dict:
            return {}

        def encode(self, text: str) -> list[int]:
            return []

    assert not isinstance(NoRun(), Backend)
