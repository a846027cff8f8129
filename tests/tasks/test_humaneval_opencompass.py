"""humaneval:opencompass: the prompt (PROTOCOLS_MORE.md B4), canonical solutions through the
post-processor of the table's date, score-completions, and end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.cli import main
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import humaneval_opencompass


def test_prompt(data_dir):
    docs = get_task("humaneval:opencompass").load(DataDir(data_dir))
    [request] = humaneval_opencompass.build(docs[0])
    assert request.context == ("Complete the following python code:\nfrom typing import List\n\n\n"
                               "def has_close_elements(numbers: List[float], threshold: float) "
                               "-> bool:\n" + docs[0].reference["prompt"].split("-> bool:\n")[1])
    assert request.context == "Complete the following python code:\n" + docs[0].data["prompt"]
    assert request.stop == () and request.max_new_tokens == 512


def test_canonical_solutions_through_the_postprocessor(data_dir):
    """All pass except the 11 whose body opens with a nested helper ``def`` (quirks of the
    protocol): step 6 drops the first line when the text starts with "def", and step 4 drops
    everything up to the end of the first "def" line when it starts with an import."""
    task = get_task("humaneval:opencompass")
    docs = task.load(DataDir(data_dir))
    scored = task.score_all([ScoreInput(d.id, d.target, d.meta, d.reference) for d in docs],
                            [[{"text": d.target}] for d in docs])
    failed = {d.id for d, s in zip(docs, scored, strict=True) if s.score != 1.0}
    nested = {d.id for d in docs if d.target.strip().startswith("def")
              or (d.target.strip().startswith(("from", "import")) and "def" in d.target)}
    assert failed == nested and len(nested) == 11


def test_score_completions_task_id_rows(data_dir, tmp_path):
    rows = [{"task_id": "HumanEval/0", "completion": "```python\n" + "def f():\n"
             + get_task("humaneval").load(DataDir(data_dir))[0].target + "```"},
            {"task_id": "HumanEval/1", "completion": "    return []"}]
    source = tmp_path / "he.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["score-completions", "--task", "humaneval:opencompass", str(source),
                 "--data-dir", str(data_dir), "--output", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "completions" / "he" / "humaneval_opencompass"
                          / "results.json").read_text())
    assert results["pass_at_k"] == {"pass@1": 0.5}


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(humaneval_opencompass, "MAX_NEW_TOKENS", 8)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("humaneval:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
    samples = [json.loads(line) for line in open(Path(results["run_dir"]) / "samples.jsonl")]
    for sample in samples:
        assert sample["responses"][0]["num_tokens"] <= 8
        assert sample["extracted"] == humaneval_opencompass.completion_of(sample["responses"][0])
    assert results["metrics"]["pass@1"]["value"] == pytest.approx(
        100 * sum(s["score"] for s in samples) / 2)


def test_reported_rows():
    from evaluate.reported import lookup_in

    row = lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-7B", "humaneval:opencompass")
    assert row == 53.05
