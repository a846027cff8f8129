"""How far OpenCompass's batch-of-8 perplexity scores are from the batch-independent ones.

OpenCompass's ``PPLInferencer`` scored each label's candidate prompts in left-padded batches of 8
consecutive rows (PROTOCOLS_MORE.md A1): the pad token is ignored as a label, so a padded row
also counts the loss of its first real token predicted from the last pad position, position ids
are not corrected for the padding, and the sum is divided by the row's non-pad token count. The
``*:opencompass`` tasks compute that (``evaluate.backends.left_padded``, used here too); the
``*:opencompass-unbatched`` variants compute each candidate alone. This script takes the first
``--rows`` rows of a task (whole batches of 8, dataset order), computes both values for every
candidate with the model's plain forward pass, and prints how many predictions differ, the
accuracy of each and the mean absolute difference.

``--compare BATCHED_RUN UNBATCHED_RUN`` prints the same figures from two finished run folders
(``TASK`` and ``TASK-unbatched`` on the same ``--limit``/``--seed``; their rows keep their real
batch neighbours), without a model: each sample's ``extra`` values (``avg_nll`` or ``ll``).

    EVALUATE_DATA_DIR=../shared/data python benchmarks/oc_padding.py --task race:opencompass
    python benchmarks/oc_padding.py --compare results/M/race_opencompass \
        results/M/race_opencompass-unbatched
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from evaluate.backends.left_padded import ppl_values
from evaluate.data import DataDir
from evaluate.evaluation import ModelSpec, load_backend
from evaluate.registry import get_task

SPACED = (" A", " B", " C", " D")
ENDINGS = {"race:opencompass": SPACED, "gpqa:opencompass": SPACED,
           "hellaswag:opencompass": ("A", "B", "C", "D")}


def batch_values(model, tokenizer, texts: list[str], pad: int) -> list[float]:
    """OpenCompass's ``get_ppl`` on one left-padded batch: sum CE over non-pad labels / non-pad."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return ppl_values(model, rows, pad)


def compare(batched: Path, unbatched: Path) -> dict:
    """The gap between two finished runs' per-candidate values (samples.jsonl ``extra``)."""
    def rows(run: Path) -> dict[str, dict]:
        lines = (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        return {row["id"]: row for row in map(json.loads, lines)}

    one, two = rows(batched), rows(unbatched)
    key = "avg_nll" if "avg_nll" in next(iter(one.values()))["extra"] else "ll"
    shared = [i for i in one if i in two]
    diffs = [abs(a - b) for i in shared
             for a, b in zip(one[i]["extra"][key], two[i]["extra"][key], strict=True)]
    return {"batched": str(batched), "unbatched": str(unbatched), "value": key,
            "rows": len(shared),
            "predictions_differ": sum(one[i]["extracted"] != two[i]["extracted"] for i in shared),
            "accuracy_batch8": 100 * sum(one[i]["score"] for i in shared) / len(shared),
            "accuracy_alone": 100 * sum(two[i]["score"] for i in shared) / len(shared),
            "mean_abs_diff": sum(diffs) / len(diffs), "max_abs_diff": max(diffs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="race:opencompass", choices=sorted(ENDINGS))
    parser.add_argument("--rows", type=int, default=16, help="a multiple of 8")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BATCHED", "UNBATCHED"),
                        help="two finished run folders to compare instead (no model)")
    args = parser.parse_args()
    if args.compare:
        print(json.dumps(compare(*args.compare)))
        return
    backend = load_backend(ModelSpec(args.model))
    model, tokenizer, pad = backend.model, backend.tokenizer, backend.pad_id
    docs = get_task(args.task).load(DataDir(os.environ.get("EVALUATE_DATA_DIR")))[: args.rows]
    endings = ENDINGS[args.task]
    start = time.time()
    alone, padded = [], []
    for first in range(0, len(docs), 8):
        group = docs[first:first + 8]
        per_label_alone = [[batch_values(model, tokenizer, [d.data["prompt"] + e], pad)[0]
                            for d in group] for e in endings]
        per_label_padded = [batch_values(model, tokenizer, [d.data["prompt"] + e for d in group],
                                         pad) for e in endings]
        alone += list(zip(*per_label_alone, strict=True))
        padded += list(zip(*per_label_padded, strict=True))
    letters = "ABCD"
    pick = [letters[min(range(4), key=v.__getitem__)] for v in alone]
    pick8 = [letters[min(range(4), key=v.__getitem__)] for v in padded]
    gold = [d.target for d in docs]
    diffs = [abs(a - b) for va, vb in zip(alone, padded, strict=True)
             for a, b in zip(va, vb, strict=True)]
    print(json.dumps({
        "task": args.task, "rows": len(docs), "pad_id": pad,
        "predictions_differ": sum(a != b for a, b in zip(pick, pick8, strict=True)),
        "accuracy_alone": 100 * sum(p == g for p, g in zip(pick, gold, strict=True)) / len(docs),
        "accuracy_batch8": 100 * sum(p == g for p, g in zip(pick8, gold, strict=True)) / len(docs),
        "mean_abs_diff": sum(diffs) / len(diffs), "max_abs_diff": max(diffs),
        "seconds": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
