"""Generation speed of the Transformers backend on a task's prompts (the embedded model on a CPU).

Loads the model the way the CLI does (``load_backend``), plans the task's requests with the
CLI's subset selection (``--limit``, seed 1234), and times ``backend.run`` on them with the
request cache off. Printed: load time, generation wall time, generated tokens per second, the
number of decoding steps and the mean number of rows each step ran (a forward pre-hook on the
model body counts every forward whose input is one token per row), and, with ``--json``, every
generated text, so that two runs (two dtypes, before and after a change) can be compared with
``--compare``::

    flock /tmp/cpu-heavy.lock python benchmarks/cpu_generation.py --model embedded \\
        --task humaneval --limit 16 --dtype float32 --json /tmp/fp32.json
    flock /tmp/cpu-heavy.lock python benchmarks/cpu_generation.py --model embedded \\
        --task humaneval --limit 16 --dtype bfloat16 --json /tmp/bf16.json --compare /tmp/fp32.json

Texts are cut at each request's stop strings before comparing (what a task like HumanEval
keeps); the raw count is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--task", default="humaneval")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--data-dir", default=os.environ.get("EVALUATE_DATA_DIR"))
    parser.add_argument("--json", help="write texts and figures here")
    parser.add_argument("--compare", help="a --json file of another run: count identical texts")
    args = parser.parse_args()

    import torch

    from evaluate.cli import parse_batch_size
    from evaluate.data import DataDir, default_data_dir
    from evaluate.evaluation import ModelSpec, load_backend
    from evaluate.registry import get_task
    from evaluate.requests import cut_at_stops, request_from_dict
    from evaluate.runner import RunOptions, plan

    task = get_task(args.task)
    data = DataDir(Path(args.data_dir) if args.data_dir else default_data_dir())
    records = plan(task, data, RunOptions(limit=args.limit, progress=False, use_cache=False))
    requests = [request_from_dict({k: v for k, v in r.items() if k != "hash"})
                for rec in records for r in rec["requests"]]
    started = time.perf_counter()
    spec = ModelSpec(model=args.model, dtype=args.dtype, device="cpu",
                     batch_size=parse_batch_size(args.batch_size))
    backend = load_backend(spec)
    loaded = time.perf_counter() - started

    steps = {"decode": 0, "rows": 0, "prefill": 0}

    def count(_module, args_, kwargs):  # the body's input ids: one per row on a decode step
        ids = kwargs.get("input_ids", args_[0] if args_ else None)
        if ids is not None and ids.shape[1] == 1:
            steps["decode"] += 1
            steps["rows"] += ids.shape[0]
        else:
            steps["prefill"] += 1

    backend.model.base_model.register_forward_pre_hook(count, with_kwargs=True)
    start = time.perf_counter()
    responses = dict(backend.run(requests, progress=False))
    wall = time.perf_counter() - start
    texts = [responses[i]["text"] for i in range(len(requests))]
    generated = sum(responses[i]["num_tokens"] for i in range(len(requests)))
    figures = {
        "task": args.task, "limit": args.limit, "dtype": args.dtype, "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "load_s": round(loaded, 1),
        "generate_s": round(wall, 1), "generated_tokens": generated,
        "tokens_per_s": round(generated / wall, 2), "decode_steps": steps["decode"],
        "mean_live_rows": round(steps["rows"] / max(steps["decode"], 1), 2),
        "prefill_forwards": steps["prefill"], "load_average": os.getloadavg()[0],
    }
    print(json.dumps(figures))
    if args.compare:
        other = json.loads(Path(args.compare).read_text())["texts"]
        ours = [cut_at_stops(t, r.stop) for t, r in zip(texts, requests, strict=True)]
        theirs = [cut_at_stops(t, r.stop) for t, r in zip(other, requests, strict=True)]
        same = sum(a == b for a, b in zip(ours, theirs, strict=True))
        print(f"identical after the stop-string cut: {same} of {len(texts)}; "
              f"raw texts identical: {sum(a == b for a, b in zip(texts, other, strict=True))}")
    if args.json:
        rows = [{"num_tokens": responses[i]["num_tokens"],
                 "context_tokens": responses[i]["context_tokens"]} for i in range(len(requests))]
        Path(args.json).write_text(json.dumps({"figures": figures, "texts": texts, "rows": rows},
                                              indent=1))


if __name__ == "__main__":
    main()
