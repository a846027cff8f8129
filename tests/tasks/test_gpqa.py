"""gpqa:opencompass: the archive read in memory, rotating options, no question text in records."""

import json
from pathlib import Path

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.tasks import gpqa


def test_rows_rotate_and_prompt(data_dir):
    raw = gpqa.read_rows(DataDir(data_dir))
    header, first = raw[0], raw[1]
    assert header[7:12] == ["Question", "Correct Answer", "Incorrect Answer 1",
                            "Incorrect Answer 2", "Incorrect Answer 3"]
    docs = get_task("gpqa:opencompass").load(DataDir(data_dir))
    assert len(docs) == 198
    assert [d.target for d in docs[:8]] == list("DCBADCBA")
    # row 1 uses the pattern "BCDA": A = incorrect 1, B = incorrect 2, C = incorrect 3, D = correct
    assert docs[0].data["prompt"] == (
        "Question: " + first[7] + "\n(A)" + first[9] + "\n(B)" + first[10] + "\n(C)"
        + first[11] + "\n(D)" + first[8] + "\nAnswer:")


def test_records_keep_no_question_text(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("gpqa:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
    docs = {d.id: d for d in get_task("gpqa:opencompass").load(DataDir(data_dir))}
    run_dir = Path(results["run_dir"])
    for name in ("plan.jsonl", "samples.jsonl"):
        text = (run_dir / name).read_text(encoding="utf-8")
        for row in map(json.loads, text.splitlines()):
            question = docs[row["id"]].data["prompt"][len("Question: "):][:40]
            assert question not in text
            assert all(r["text"].startswith("sha256:") for r in row["requests"])
            assert [r["left_pad"] for r in row["requests"]] == [row["requests"][0]["left_pad"]] * 4
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(s["prompt"] is None and s["extracted"] in "ABCD" for s in samples)
    # a rescore works from the redacted plan
    from evaluate.runner import rescore
    assert rescore(run_dir)["samples"] == 2


def test_text_stored_when_asked(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("gpqa:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=1, progress=False, store_private_text=True))
    plan = json.loads((Path(results["run_dir"]) / "plan.jsonl").read_text().splitlines()[0])
    assert plan["requests"][0]["text"].startswith("Question: ")
    assert plan["requests"][0]["text"].endswith("\nAnswer: A")
