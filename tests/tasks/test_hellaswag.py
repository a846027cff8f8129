"""hellaswag:opencompass: the 10-shot prompt on real rows, counts, a tiny-model run."""

import json

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task


def _block(row):
    ctx = row["query"].split(": ", 1)[-1]
    a, b, c, d = row["choices"]
    return f"{ctx}\nA) {a}\nB) {b}\nC) {c}\nD) {d}\nWhat is the right option?\n"


def test_counts_and_prompt(data_dir):
    docs = get_task("hellaswag:opencompass").load(DataDir(data_dir))
    assert len(docs) == 10042
    train = [json.loads(x) for x in
             (data_dir / "hellaswag/hellaswag_train_sampled25.jsonl").open(encoding="utf-8")]
    val = json.loads((data_dir / "hellaswag/hellaswag.jsonl").open(encoding="utf-8").readline())
    shots = "\n".join(_block(r) + "ABCD"[r["gold"]] + "\n" for r in train[:10]) + "\n"
    assert docs[0].data["prompt"] == (
        "Continue the following text without adding any additional information or "
        "formatting:\n" + shots + _block(val))
    assert docs[0].target == "ABCD"[val["gold"]]
    # spelled out for the first shot: a blank line between shots
    assert docs[0].data["prompt"].startswith(
        "Continue the following text without adding any additional information or formatting:"
        "\nA woman is kneeling down talking the the camera.")
    assert "\nWhat is the right option?\nC\n\nA person is riding" in docs[0].data["prompt"]


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("hellaswag:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
