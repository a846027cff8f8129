"""Packed shared-prefix log-likelihoods against the padded path, through the whole harness.

Runs one task twice on the same model, subset and seed -- ``--packing off`` (left-padded
batches, the reference path) and ``--packing on`` (evaluate/backends/packed.py; on the CPU with
the reference varlen kernel, on CUDA with PyTorch's FlashAttention varlen op) -- without the
request cache, then compares every response's candidate log-probabilities: the largest and mean
absolute difference, how many predictions differ, and for each that does, the top-2 margin of
the padded run (a flip is explained by rounding only where that margin is under twice the
largest difference). Prints wall times and one JSON line.

    EVALUATE_DATA_DIR=../shared/data python benchmarks/packed_logits.py \
        --model embedded --task mmlu --limit 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from evaluate.cli import parse_batch_size
from evaluate.evaluation import ModelSpec, evaluate_model
from evaluate.records import read_responses


def run(model: str, task: str, packing: str, output: Path, limit: int | None, seed: int,
        dtype: str, batch_size: str) -> tuple[dict[str, dict[str, Any]], float, dict[str, Any]]:
    spec = ModelSpec(model=model, dtype=dtype, packing=packing,
                     batch_size=parse_batch_size(batch_size))
    start = time.perf_counter()
    [result] = evaluate_model(spec, [task], output=output, limit=limit, seed=seed,
                              progress=False, use_cache=False)
    wall = time.perf_counter() - start
    [run_dir] = {p.parent for p in output.rglob("responses.jsonl")}
    return read_responses(run_dir / "responses.jsonl"), wall, result


def compare(padded: dict[str, dict[str, Any]], packed: dict[str, dict[str, Any]]
            ) -> dict[str, Any]:
    diffs: list[float] = []
    flips: list[float] = []  # the padded run's top-2 margin where the argmax differs
    for key, want in padded.items():
        got = packed[key]
        a, b = want.get("logprobs"), got.get("logprobs")
        if a is None or b is None:
            continue
        diffs.extend(abs(x - y) for x, y in zip(a, b, strict=True))
        if max(range(len(a)), key=a.__getitem__) != max(range(len(b)), key=b.__getitem__):
            top = sorted(a, reverse=True)
            flips.append(top[0] - top[1])
    worst = max(diffs, default=0.0)
    return {"responses": len(padded), "values": len(diffs), "max_abs_diff": worst,
            "mean_abs_diff": sum(diffs) / max(len(diffs), 1),
            "predictions_differ": len(flips),
            "flips_within_2x_tolerance": sum(m < 2 * worst for m in flips),
            "flip_margins": flips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--task", default="mmlu")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        padded, wall_off, res_off = run(args.model, args.task, "off", Path(tmp) / "off",
                                        args.limit, args.seed, args.dtype, args.batch_size)
        packed, wall_on, res_on = run(args.model, args.task, "on", Path(tmp) / "on",
                                      args.limit, args.seed, args.dtype, args.batch_size)
    figures = compare(padded, packed)
    headline = res_off["headline"]
    figures.update(task=args.task, limit=args.limit, model=args.model,
                   wall_s={"off": round(wall_off, 1), "on": round(wall_on, 1)},
                   score={"off": res_off["metrics"][headline]["value"],
                          "on": res_on["metrics"][headline]["value"]},
                   packing=res_on["model"].get("packing"))
    print(f"{args.task} x{args.limit}: max |dlogp| {figures['max_abs_diff']:.2e}, "
          f"{figures['predictions_differ']} predictions differ, "
          f"wall {wall_off:.1f} s padded / {wall_on:.1f} s packed")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
