"""The openai backend against real servers started on loopback (no mocks).

- ``transformers serve`` on the tiny random Qwen2 folder: greedy generations through the server
  equal the Transformers backend's (after the protocol's post-hoc cut); it has no prompt
  log-probabilities, and a log-likelihood request fails with one clear line.
- llama-cpp-python's server on the embedded GGUF (when installed): generation works; it takes no
  token-id prompts, so log-likelihood requests fail with one clear line.
- A server that is down: retries with backoff, then one line that says finished work is kept.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.backends.openai import OpenAIBackend, ServerError, UnsupportedRequestError
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, cut_at_stops

PROMPTS = [
    ('def add(a, b):\n    """Add two numbers."""\n', ("\ndef", "\nclass", "\nif", "\n#")),
    ("Question: What is 2 + 3?\nAnswer:", ("\n\n",)),
    ("import numpy as np\n", ()),
]
GGUF = Path(os.environ.get("EVALUATE_CACHE", "/tmp/evcache")) / \
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read()[-2000:] if proc.stdout else ""
            raise RuntimeError(f"server exited: {output}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"server at {url} did not come up in {seconds} s")


@pytest.fixture(scope="module")
def transformers_server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("uvicorn", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("openai", reason="transformers serve needs transformers[serving]")
    port = _free_port()
    hub = tmp_path_factory.mktemp("hf-hub")
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cli = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen([str(cli), "serve", str(tiny_model_dir), "--host", "127.0.0.1",
                             "--port", str(port), "--device", "cpu", "--dtype", "float32"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_transformers_serve_greedy_generation_equals_transformers_backend(
        transformers_server, tiny_model_dir, tiny_model, qwen2_tokenizer):
    server = OpenAIBackend(transformers_server, str(tiny_model_dir), concurrency=2)
    assert server.identity()["device"] == transformers_server + "/v1"
    local = HFBackend(tiny_model, qwen2_tokenizer, batch_size=1)
    requests = [GenerateRequest(context, stop=stops, max_new_tokens=24)
                for context, stops in PROMPTS]
    through_server = dict(server.run(requests, progress=False))
    direct = dict(local.run(requests, progress=False))
    for index, request in enumerate(requests):
        served, own = through_server[index], direct[index]
        # The server stops at the first stop string; the protocol's cut makes them comparable.
        assert cut_at_stops(served["text"], request.stop) == cut_at_stops(own["text"], request.stop)
        assert served["context_tokens"] == own["context_tokens"]
    assert server.tokens_out > 0


def test_transformers_serve_cannot_serve_loglikelihood(transformers_server, tiny_model_dir):
    server = OpenAIBackend(transformers_server, str(tiny_model_dir), tokenizer=str(tiny_model_dir))
    request = LoglikelihoodRequest("Answer:", (" A", " B"), next_token=True)
    with pytest.raises(UnsupportedRequestError, match="generation tasks only"):
        list(server.run([request], progress=False))


def test_loglikelihood_without_tokenizer_is_one_clear_line(transformers_server, tiny_model_dir):
    server = OpenAIBackend(transformers_server, str(tiny_model_dir))
    with pytest.raises(UnsupportedRequestError, match="--tokenizer"):
        list(server.run([LoglikelihoodRequest("Answer:", (" A",), True)], progress=False))


@pytest.fixture(scope="module")
def llama_cpp_server():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    if not GGUF.is_file():
        pytest.skip(f"the embedded GGUF is not at {GGUF}")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--n_threads", "1", "--verbose", "false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(f"http://127.0.0.1:{port}/v1/models", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_llama_cpp_server_generates_and_refuses_loglikelihood(llama_cpp_server,
                                                              qwen2_tokenizer_dir):
    server = OpenAIBackend(llama_cpp_server, "qwen2.5-coder", tokenizer=str(qwen2_tokenizer_dir))
    assert server.served_model == str(GGUF)  # the server's only model, from GET /v1/models
    request = GenerateRequest("def add(a, b):\n", stop=("\ndef",), max_new_tokens=16)
    [(_, response)] = list(server.run([request], progress=False))
    assert response["text"] and response["num_tokens"] <= 16
    assert response["context_tokens"] == len(server.encode(request.context))
    with pytest.raises(UnsupportedRequestError, match="token-id prompts"):
        list(server.run([LoglikelihoodRequest("Answer:", (" A", " B"), True)], progress=False))


def test_unreachable_server_retries_then_one_line():
    port = _free_port()  # nothing listens here
    start = time.monotonic()
    backend = OpenAIBackend(f"http://127.0.0.1:{port}", "m", max_retries=3, backoff=0.05,
                            timeout=2)
    assert backend.server_models is None  # GET /v1/models failed: the identity says unknown
    with pytest.raises(ServerError) as info:
        list(backend.run([GenerateRequest("x", max_new_tokens=2)], progress=False))
    message = str(info.value)
    assert "\n" not in message and "after 4 tries" in message and "resume" in message
    assert time.monotonic() - start < 30
