"""How far two finished runs of one task are apart: e.g. the Transformers backend and
``--backend vllm`` on the same model, subset and seed.

Reads each run folder's ``responses.jsonl`` (by request hash: the same plan gives the same
hashes whatever answered it), ``samples.jsonl`` and ``results.json``, and prints: generated texts
identical (raw, as the backend returned them), extracted answers and verdicts identical, the
largest log-probability difference and flipped choices for log-likelihood requests
(``packed_logits.compare``), each run's headline score, wall
time and generated tokens per second, as one markdown row per task and one JSON line.

    python benchmarks/backend_agreement.py results/tf/MODEL results/vllm/MODEL
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from packed_logits import compare

from evaluate.records import read_json, read_responses, read_samples


def agreement(one: Path, two: Path) -> dict[str, Any]:
    """Figures for two run folders of the same task."""
    a, b = read_responses(one / "responses.jsonl"), read_responses(two / "responses.jsonl")
    shared = [key for key in a if key in b]
    texts = [key for key in shared if "text" in a[key]]
    logprobs = compare({key: a[key] for key in shared}, b)
    samples_a = {s.id: s for s in read_samples(one)}
    samples_b = {s.id: s for s in read_samples(two)}
    ids = [i for i in samples_a if i in samples_b]
    results = [read_json(one / "results.json"), read_json(two / "results.json")]

    def rate(result: dict[str, Any]) -> float | None:
        generated = result.get("tokens", {}).get("generated", 0)
        return round(generated / result["wall_time_s"], 1) if generated else None

    return {
        "task": results[0]["task"], "requests": len(shared),
        "texts_identical": sum(a[k]["text"] == b[k]["text"] for k in texts),
        "texts": len(texts),
        "max_abs_logprob_diff": logprobs["max_abs_diff"] if logprobs["values"] else None,
        "choices_differ": logprobs["predictions_differ"],
        "extracted_identical": sum(samples_a[i].extracted == samples_b[i].extracted
                                   for i in ids),
        "verdicts_identical": sum(samples_a[i].score == samples_b[i].score for i in ids),
        "samples": len(ids),
        "scores": [r["metrics"][r["headline"]]["value"] for r in results],
        "wall_s": [round(r["wall_time_s"], 1) for r in results],
        "generated_tok_s": [rate(r) for r in results],
        "backends": [r["model"].get("backend") for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("one", type=Path, help="a model's folder (or one task's run folder)")
    parser.add_argument("two", type=Path)
    args = parser.parse_args()
    pairs = ([(args.one, args.two)] if (args.one / "results.json").is_file() else
             [(run.parent, args.two / run.parent.name)
              for run in sorted(args.one.glob("*/results.json"))
              if (args.two / run.parent.name / "results.json").is_file()])
    for one, two in pairs:
        f = agreement(one, two)
        print(f"| `{f['task']}` | {f['samples']} | {f['texts_identical']} of {f['texts']} | "
              f"{f['verdicts_identical']} of {f['samples']} | "
              f"{f['scores'][0]:.2f} / {f['scores'][1]:.2f} | "
              f"{f['wall_s'][0]} / {f['wall_s'][1]} | "
              f"{f['generated_tok_s'][0]} / {f['generated_tok_s'][1]} |")
        print(json.dumps(f))


if __name__ == "__main__":
    main()
