"""Data parallelism: 2 CPU processes (gloo) under torchrun write what one process writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evaluate.distributed import World, shard

REPO = Path(__file__).resolve().parents[1]
# Provenance and timing fields of results.json that legitimately differ between the two runs.
VOLATILE = {"wall_time_s", "environment", "command", "model", "model_loaded", "tokens",
            "world_size", "run_dir"}

pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None and not (
    Path(sys.executable).parent / "torchrun").is_file(), reason="torchrun is not installed")


def _torchrun() -> list[str]:
    local = Path(sys.executable).parent / "torchrun"
    return [str(local) if local.is_file() else "torchrun", "--standalone", "--nproc-per-node", "2"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"EVALUATE_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
                "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)})
    return env


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _only_run_dir(output: Path) -> Path:
    found = [p.parent for p in output.rglob("results.json")]
    assert len(found) == 1, found
    return found[0]


def test_shard_is_a_deterministic_partition():
    keys = [f"k{i}" for i in range(11)]
    shares = [shard(keys, World(rank=r, size=3)) for r in range(3)]
    assert sorted(sum(shares, [])) == sorted(keys)
    assert shares[0] == ["k0", "k3", "k6", "k9"]
    assert shard(keys, World()) == keys


@pytest.mark.parametrize("task", ["mmlu", "humaneval"])
def test_torchrun_two_cpu_ranks_equal_single_process(tmp_path, tiny_model_dir, data_dir, task):
    """The merged 2-rank run writes the same samples and metrics as one process."""
    limit = "6" if task == "mmlu" else "3"
    args = ["-m", "evaluate", "--model", str(tiny_model_dir), "--task", task, "--limit", limit,
            "--data-dir", str(data_dir), "--device", "cpu", "--batch-size", "1",
            "--no-progress", "--no-cache"]
    env = _env(tmp_path)
    single = subprocess.run([sys.executable, *args, "--output", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    double = subprocess.run([*_torchrun(), *args, "--output", str(tmp_path / "two")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = _only_run_dir(tmp_path / "one"), _only_run_dir(tmp_path / "two")
    assert not list(two.glob("responses.rank*.jsonl"))  # merged and removed
    samples_one, samples_two = _lines(one / "samples.jsonl"), _lines(two / "samples.jsonl")
    assert len(samples_one) == int(limit)
    assert samples_two == samples_one
    results_one = json.loads((one / "results.json").read_text())
    results_two = json.loads((two / "results.json").read_text())
    assert results_two["world_size"] == 2
    assert {k: v for k, v in results_two.items() if k not in VOLATILE} == {
        k: v for k, v in results_one.items() if k not in VOLATILE}
    # Both ranks answered a share: the merged responses hold every request exactly once.
    hashes = [row["hash"] for row in _lines(two / "responses.jsonl")]
    assert len(hashes) == len(set(hashes)) == len(_lines(one / "responses.jsonl"))


FLAKY_SCRIPT = textwrap.dedent('''
    """A toy task answered by a toy backend that fails on rank 1 after two responses."""
    import json, os, sys
    from pathlib import Path

    from evaluate.backends.batching import BatchingBackend
    from evaluate.data import DataDir
    from evaluate.distributed import init_from_env, world
    from evaluate.errors import EvaluateError
    from evaluate.requests import GenerateRequest
    from evaluate.runner import RunOptions, run_task
    from evaluate.task import Aggregation, Doc, Scored, Task

    class Toy(BatchingBackend):
        name = "toy"
        def __init__(self, fail_after):
            super().__init__(batch_size=1)
            self.fail_after, self.answered = fail_after, 0
        def encode(self, text):
            return [ord(c) for c in text]
        def identity(self):
            return {"model": "toy"}
        @property
        def device_type(self):
            return "cpu"
        def _generate_batch(self, items):
            if self.fail_after is not None and self.answered >= self.fail_after:
                raise RuntimeError("boom on purpose")
            self.answered += len(items)
            return [{"text": i.request.context[::-1], "num_tokens": 1,
                     "context_tokens": len(i.context), "finish": "length"} for i in items]
        _loglikelihood_batch = _sequence_nll_batch = _generate_batch

    def load(data):
        return [Doc(id=str(i), target=f"q{i}"[::-1]) for i in range(12)]

    task = Task(name="test:toy-dp", description="toy", provenance="tests", shots=0,
                data_files=(), load=load, build=lambda d: [GenerateRequest(d.target[::-1])],
                score=lambda d, r: Scored(extracted=r[0]["text"],
                                          score=float(r[0]["text"] == d.target)),
                aggregation=Aggregation())
    init_from_env()
    fail = os.environ.get("FAIL_RANK")
    backend = Toy(2 if fail is not None and world().rank == int(fail) else None)
    try:
        results = run_task(task, backend, DataDir(sys.argv[1]), Path(sys.argv[2]), "toy",
                           RunOptions(progress=False, use_cache=False))
    except EvaluateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if world().main:
        print(json.dumps(results["metrics"]))
''')


def test_failed_rank_fails_the_run_and_keeps_finished_work(tmp_path):
    script = tmp_path / "flaky.py"
    script.write_text(FLAKY_SCRIPT)
    (tmp_path / "data").mkdir()
    out = tmp_path / "out"
    env = _env(tmp_path)
    failed = subprocess.run([*_torchrun(), str(script), str(tmp_path / "data"), str(out)],
                            env={**env, "FAIL_RANK": "1"}, capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode != 0
    assert ("error: rank 1 of 2 failed: RuntimeError: boom on purpose; finished responses are "
            "kept: run the same command to resume") in failed.stderr
    run_dir = out / "toy" / "test_toy-dp"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["complete"] is False and "rank 1 of 2 failed" in results["error"]
    # Rank 0 answered its 6 requests, rank 1 two before failing: 8 samples kept and scored.
    assert len(_lines(run_dir / "samples.jsonl")) == 8
    assert len(_lines(run_dir / "responses.jsonl")) == 8
    assert not list(run_dir.glob("responses.rank*.jsonl"))
    # The same command without the failure resumes: only the 4 missing requests run.
    resumed = subprocess.run([*_torchrun(), str(script), str(tmp_path / "data"), str(out)],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["complete"] is True and results["samples"] == 12
    assert results["metrics"]["accuracy"]["value"] == pytest.approx(100.0)
    assert len(_lines(run_dir / "responses.jsonl")) == 12
