"""Plan -> execute -> score -> write, resume after a kill, rescore without a model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.metrics import aggregate
from evaluate.registry import register
from evaluate.requests import LoglikelihoodRequest
from evaluate.runner import (
    RESPONSES,
    RESULTS,
    SAMPLES,
    RunOptions,
    rescore,
    run_task,
    select_subset,
)
from evaluate.task import Aggregation, Doc, Scored, Task

LETTERS = (" A", " B", " C", " D")
OPTS = RunOptions(progress=False, use_cache=False)  # the shared cache is tested in test_cache


def _load(data: DataDir) -> list[Doc]:
    rows = data.read_jsonl("toy/questions.jsonl")
    return [Doc(id=str(i), target=row["answer"], meta={"group": row["group"]}, data=row)
            for i, row in enumerate(rows)]


def _build(doc: Doc) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest("Question: " + doc.data["q"] + "\nAnswer:", LETTERS, True)]


def _score(doc: Doc, responses) -> Scored:
    logprobs = responses[0]["logprobs"]
    guess = "ABCD"[logprobs.index(max(logprobs))]
    return Scored(extracted=guess, score=float(guess == doc.target))


TOY = register(Task(
    name="test:toy", description="a toy choice task", provenance="tests", shots=0,
    data_files=("toy/questions.jsonl",), load=_load, build=_build, score=_score,
    aggregation=Aggregation(average="macro", by="group", per_group=True),
))


@pytest.fixture()
def backend(tiny_model, qwen2_tokenizer):
    return HFBackend(tiny_model, qwen2_tokenizer, batch_size=4,
                     identity={"model": "tiny-qwen2", "dtype": "float32"})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_writes_records_and_provenance(tmp_path, toy_data, backend):
    results = run_task(TOY, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    run_dir = Path(results["run_dir"])
    samples = _lines(run_dir / SAMPLES)
    assert len(samples) == 12
    first = samples[0]
    assert first["prompt"] == "Question: What is 0 + 0?\nAnswer:"
    assert first["extracted"] in "ABCD" and first["score"] in (0.0, 1.0)
    assert len(first["responses"][0]["logprobs"]) == 4
    on_disk = json.loads((run_dir / RESULTS).read_text())
    assert on_disk["complete"] is True
    assert on_disk["protocol"]["hash"] == TOY.protocol_hash()
    assert list(on_disk["data_files"]) == ["toy/questions.jsonl"]
    assert len(on_disk["data_files"]["toy/questions.jsonl"]) == 64
    assert on_disk["model"]["model"] == "tiny-qwen2"
    assert on_disk["environment"]["libraries"]["torch"]
    assert on_disk["tokens"]["prompt"] > 0
    manual = sum(s["score"] for s in samples if s["meta"]["group"] == "g0") / 4 * 100
    assert on_disk["metrics"]["group:g0"]["value"] == pytest.approx(manual)
    assert on_disk["metrics"] == aggregate(samples, TOY.aggregation)  # the records' metrics


def test_killed_run_resumes_without_recomputing(tmp_path, toy_data, backend):
    out = tmp_path / "out"
    first = run_task(TOY, backend, toy_data, out, "tiny", OPTS)
    responses = Path(first["run_dir"]) / RESPONSES
    lines = responses.read_text().splitlines(keepends=True)
    # Simulate SIGKILL mid-write: 5 finished lines and a torn sixth.
    responses.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    calls = []
    real = backend._loglikelihood_batch
    backend._loglikelihood_batch = lambda items: calls.append(len(items)) or real(items)
    no_cache = RunOptions(progress=False, use_cache=False)  # the run folder alone resumes
    second = run_task(TOY, backend, toy_data, out, "tiny", no_cache)
    assert sum(calls) == 7  # only the unfinished requests ran
    assert second["metrics"] == first["metrics"]
    assert len(_lines(responses)) == 12
    calls.clear()
    run_task(TOY, backend, toy_data, out, "tiny", no_cache)
    assert calls == []  # a finished run re-runs nothing


def test_failure_keeps_finished_samples(tmp_path, toy_data, backend):
    real = backend._loglikelihood_batch
    batches = []

    def fail_second_batch(items):
        batches.append(len(items))
        if len(batches) == 2:
            raise RuntimeError("device lost")
        return real(items)

    backend._loglikelihood_batch = fail_second_batch
    with pytest.raises(RuntimeError, match="device lost"):
        run_task(TOY, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    run_dir = tmp_path / "out" / "tiny" / "test_toy"
    assert len(_lines(run_dir / SAMPLES)) == 4
    partial = json.loads((run_dir / RESULTS).read_text())
    assert partial["complete"] is False and "device lost" in partial["error"]
    backend._loglikelihood_batch = real
    done = run_task(TOY, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    assert done["complete"] and done["samples"] == 12


def test_rescore_needs_no_model_and_reproduces(tmp_path, toy_data, backend):
    results = run_task(TOY, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    run_dir = Path(results["run_dir"])
    before = (run_dir / SAMPLES).read_text()
    (run_dir / SAMPLES).unlink()
    again = rescore(run_dir)
    assert again["metrics"] == results["metrics"]
    assert (run_dir / SAMPLES).read_text() == before


def test_changed_options_start_afresh(tmp_path, toy_data, backend):
    out = tmp_path / "out"
    run_task(TOY, backend, toy_data, out, "tiny", OPTS)
    five = RunOptions(limit=5, progress=False, use_cache=False)
    limited = run_task(TOY, backend, toy_data, out, "tiny", five)
    assert limited["samples"] == 5
    assert len(_lines(Path(limited["run_dir"]) / RESPONSES)) == 5


def test_subset_is_deterministic_and_spread():
    docs = [Doc(id=str(i), target=None) for i in range(100)]
    a = select_subset(docs, 10, seed=1)
    assert [d.id for d in a] == [d.id for d in select_subset(docs, 10, seed=1)]
    assert [d.id for d in a] != [d.id for d in select_subset(docs, 10, seed=2)]
    assert int(a[-1].id) > 50  # not just the first ten
    assert select_subset(docs, None, 1) is docs


def test_rescore_a_run_killed_before_its_results(tmp_path, toy_data, backend):
    results = run_task(TOY, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    run_dir = Path(results["run_dir"])
    (run_dir / RESULTS).unlink()
    lines = (run_dir / RESPONSES).read_text().splitlines(keepends=True)
    (run_dir / RESPONSES).write_text("".join(lines[:7]))  # killed after 7 responses
    partial = rescore(run_dir)
    assert partial["samples"] == 7 and partial["planned_samples"] == 12
    assert partial["complete"] is False and partial["task"] == "test:toy"


TOY_GROUPS = register(dataclasses.replace(
    TOY, name="test:toy-groups", subjects=("g0", "g1", "g2"),
    aggregation=Aggregation(average="macro", by="group", per_group=True,
                            categories={"low": ("g0", "g1")})))


def test_a_subject_selection_is_recorded_and_kept_apart(tmp_path, toy_data, backend):
    from evaluate.gate import gate, read_baseline
    from evaluate.registry import get_task
    from evaluate.tables import pivot

    full = run_task(TOY_GROUPS, backend, toy_data, tmp_path / "out", "tiny", OPTS)
    part = run_task(get_task("test:toy-groups/g2"), backend, toy_data, tmp_path / "out", "tiny",
                    OPTS)
    assert part["task"] == "test:toy-groups/g2" and part["run_dir"] != full["run_dir"]
    assert part["protocol"]["hash"] == full["protocol"]["hash"]
    assert part["selection"] == {"of": "test:toy-groups", "spec": "g2", "subjects": ["g2"]}
    assert "selection" not in full and part["samples"] == 4 and full["samples"] == 12
    assert part["metrics"]["group:g2"]["value"] == full["metrics"]["group:g2"]["value"]
    assert part["metrics"]["accuracy"]["value"] == part["metrics"]["group:g2"]["value"]
    assert "category:low" in full["metrics"] and "category:low" not in part["metrics"]
    assert rescore(Path(part["run_dir"]))["selection"] == part["selection"]
    table = pivot([full, part])
    assert table.tasks == ["test:toy-groups", "test:toy-groups/g2"]  # separate rows
    verdicts = {v.task: v for v in gate(read_baseline(Path(full["run_dir"])), [part])}
    missing = verdicts["test:toy-groups"]  # a partial run does not stand in for the full one
    assert missing.failed and missing.now is None
