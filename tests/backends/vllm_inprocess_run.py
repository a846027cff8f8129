"""Run under vLLM's own Python by tests/backends/test_vllm_inprocess.py (not a test module).

    python vllm_inprocess_run.py MODEL_DIR REQUESTS.json OUT_DIR TASK[,TASK...] LIMIT

Starts one in-process engine through ``--backend vllm``'s loader, answers the requests in
REQUESTS.json (``request_to_dict`` rows) into OUT_DIR/responses.json, then runs the tasks on the
same engine into OUT_DIR/runs. Chat requests are rendered first, as the runner renders them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from evaluate.chat_templates import renderer_for
from evaluate.evaluation import ModelSpec, evaluate_model, load_backend
from evaluate.requests import request_from_dict


def main() -> None:
    model, requests_file, out, tasks, limit = sys.argv[1:6]
    spec = ModelSpec(model=model, backend="vllm", batch_size="auto", device="cpu",
                     engine={"enforce_eager": True, "max_model_len": 4096, "top_logprobs": 5})
    start = time.monotonic()
    backend = load_backend(spec, lazy=False)
    started = time.monotonic() - start
    requests = [request_from_dict(row) for row in json.loads(Path(requests_file).read_text())]
    requests = [renderer_for(backend).render(r) for r in requests]  # chat: as the runner does
    responses = dict(backend.run(requests, progress=False))
    Path(out).mkdir(parents=True, exist_ok=True)
    results = evaluate_model(spec, tasks.split(","), output=Path(out) / "runs", limit=int(limit),
                             seed=3, progress=False, backend=backend, use_cache=False)
    Path(out, "responses.json").write_text(json.dumps({
        "responses": [responses[i] for i in range(len(requests))],
        "identity": backend.identity(), "start_s": started,
        "runs": {r["task"]: r["run_dir"] for r in results}}))


if __name__ == "__main__":
    main()
