"""Regression gates: noise tests, verdicts, exit codes, and the project's own CI gate.

The CI gate (``test_ci_gate_tiny_model``) runs the tiny random Qwen2 on two deterministic toy
tasks and gates the scores against ``tests/baselines/tiny.json``. After a deliberate change of
these tasks or of the harness's numerics, refresh the baseline with
``EVALUATE_UPDATE_BASELINE=1 python -m pytest tests/test_gate.py -k ci_gate`` and commit it.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.cli import main
from evaluate.data import DataDir
from evaluate.gate import (
    Entry,
    compare,
    gate,
    read_baseline,
    report,
    sign_test_midp,
    write_baseline,
)
from evaluate.registry import register
from evaluate.requests import LoglikelihoodRequest, SequenceNLLRequest
from evaluate.runner import RunOptions, run_task
from evaluate.task import Aggregation, Doc, Scored, Task

BASELINE = Path(__file__).parent / "baselines" / "tiny.json"


# ---- statistics ------------------------------------------------------------------------------
def _midp_brute(worse: int, better: int) -> float:
    d = worse + better
    pmf = [math.comb(d, k) / 2**d for k in range(d + 1)]
    return sum(pmf[worse + 1:]) + 0.5 * pmf[worse]


@pytest.mark.parametrize("worse,better", [(1, 0), (3, 0), (5, 2), (12, 3), (40, 41)])
def test_sign_test_matches_exact_binomial(worse, better):
    assert sign_test_midp(worse, better) == pytest.approx(_midp_brute(worse, better), rel=1e-9)


def _entry(scores: dict[str, float], **kw) -> Entry:
    value = 100 * sum(scores.values()) / len(scores)
    p = value / 100
    stderr = 100 * math.sqrt(p * (1 - p) / len(scores))
    return Entry(task=kw.pop("task", "mmlu"), model="m", metric="accuracy", value=value,
                 stderr=stderr, n=len(scores), protocol_hash=kw.pop("protocol_hash", "h1"),
                 samples=scores, **kw)


def _flip(scores: dict[str, float], lose: int, gain: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    right = [k for k, v in scores.items() if v == 1.0]
    wrong = [k for k, v in scores.items() if v == 0.0]
    out = dict(scores)
    for key in rng.sample(right, lose):
        out[key] = 0.0
    for key in rng.sample(wrong, gain):
        out[key] = 1.0
    return out


def test_half_point_drop_on_14042_questions_is_caught_by_the_paired_test():
    rng = random.Random(1)
    base = {f"q{i}": float(rng.random() < 0.58) for i in range(14042)}
    now = _flip(base, lose=100, gain=30)  # net -70 questions = -0.50 points
    verdict = compare(_entry(base), _entry(now))
    assert verdict.diff == pytest.approx(-70 / 14042 * 100)
    assert verdict.verdict == "REGRESSION" and "paired on 14042" in verdict.detail
    # The same two means without per-sample scores are within their standard errors.
    unpaired_base, unpaired_now = _entry(base), _entry(now)
    unpaired_base.samples = unpaired_now.samples = None
    unpaired = compare(unpaired_base, unpaired_now)
    assert unpaired.verdict == "ok" and "z-test" in unpaired.detail


@pytest.mark.parametrize("lose,gain", [(1, 0), (2, 1), (3, 2)])
def test_wobble_on_40_questions_is_not_a_regression(lose, gain):
    base = {f"q{i}": float(i % 2 == 0) for i in range(40)}
    verdict = compare(_entry(base), _entry(_flip(base, lose, gain)))
    assert verdict.diff == pytest.approx(-2.5 * (lose - gain))
    assert verdict.verdict == "ok" and "within noise" in verdict.detail


def test_a_large_drop_on_40_questions_is_caught():
    base = {f"q{i}": float(i % 2 == 0) for i in range(40)}
    assert compare(_entry(base), _entry(_flip(base, 8, 0))).verdict == "REGRESSION"


def test_protocol_change_is_its_own_failing_verdict_even_when_scores_rise():
    base = {f"q{i}": float(i % 2 == 0) for i in range(40)}
    verdict = compare(_entry(base), _entry(_flip(base, 0, 5), protocol_hash="h2"))
    assert verdict.verdict == "PROTOCOL CHANGED" and verdict.failed
    assert "h1" in verdict.detail and "h2" in verdict.detail


def test_tolerance_and_deterministic_mode():
    base = {f"q{i}": float(i % 2 == 0) for i in range(40)}
    now = _flip(base, 1, 0)
    assert compare(_entry(base, deterministic=True), _entry(now)).verdict == "REGRESSION"
    assert compare(_entry(base, deterministic=True, tolerance=2.5), _entry(now)).verdict == "ok"
    assert compare(_entry(base, deterministic=True), _entry(base)).verdict == "ok"


def test_lower_is_better_for_perplexity():
    base = Entry("ppl", "m", "perplexity", 10.0, None, 8, "h", higher_is_better=False)
    worse = Entry("ppl", "m", "perplexity", 12.0, None, 8, "h", higher_is_better=False)
    assert compare(base, worse).verdict == "REGRESSION"
    assert compare(worse, base).verdict == "ok"


def test_missing_incomplete_and_new_tasks():
    base = {f"q{i}": 1.0 for i in range(10)}
    incomplete = _entry(base, complete=False)
    assert compare(_entry(base), incomplete).verdict == "INCOMPLETE"
    assert compare(_entry(base), None).verdict == "MISSING"
    verdicts = gate({"mmlu": _entry(base)}, [])
    assert [v.verdict for v in verdicts] == ["MISSING"]
    assert "FAILED" in report(verdicts)


# ---- files and the command line --------------------------------------------------------------
def _write_run(folder: Path, task: str, scores: dict[str, float], protocol: str = "h1",
               complete: bool = True) -> Path:
    folder.mkdir(parents=True)
    value = 100 * sum(scores.values()) / len(scores)
    results = {"task": task, "headline": "accuracy", "samples": len(scores), "complete": complete,
               "metrics": {"accuracy": {"value": value, "stderr": 1.0, "n": len(scores)}},
               "protocol": {"hash": protocol}, "model": {"model": "Qwen/Qwen-7B"}}
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "samples.jsonl").write_text(
        "".join(json.dumps({"id": k, "score": v}) + "\n" for k, v in scores.items()))
    return folder


def test_cli_gate_prints_one_line_per_task_and_exits_nonzero(tmp_path, capsys):
    rng = random.Random(2)
    base = {f"q{i}": float(rng.random() < 0.6) for i in range(2000)}
    _write_run(tmp_path / "old" / "m" / "mmlu", "mmlu", base)
    _write_run(tmp_path / "old" / "m" / "gsm8k", "gsm8k", base)
    _write_run(tmp_path / "new" / "m" / "mmlu", "mmlu", _flip(base, 60, 5))
    _write_run(tmp_path / "new" / "m" / "gsm8k", "gsm8k", base, protocol="h2")
    assert main(["gate", "--baseline", str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    out = capsys.readouterr().out.splitlines()
    [mmlu] = [line for line in out if line.startswith("mmlu")]
    [gsm8k] = [line for line in out if line.startswith("gsm8k")]
    assert "REGRESSION" in mmlu and "-2.75" in mmlu
    assert "PROTOCOL CHANGED" in gsm8k
    # within noise: exit 0
    _write_run(tmp_path / "ok" / "m" / "mmlu", "mmlu", _flip(base, 3, 2))
    _write_run(tmp_path / "ok" / "m" / "gsm8k", "gsm8k", base)
    assert main(["gate", "--baseline", str(tmp_path / "old"), str(tmp_path / "ok")]) == 0


def test_baseline_file_round_trip(tmp_path, capsys):
    base = {f"q{i}": float(i % 3 == 0) for i in range(30)}
    run = _write_run(tmp_path / "run" / "m" / "mmlu", "mmlu", base)
    file = tmp_path / "baseline.json"
    assert main(["gate", "--write-baseline", str(file), str(run), "--tolerance", "1.5"]) == 0
    entries = read_baseline(file)
    assert entries["mmlu"].samples == base and entries["mmlu"].tolerance == 1.5
    assert main(["gate", "--baseline", str(file), str(run)]) == 0
    assert "mmlu" in capsys.readouterr().out


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{}")
    assert main(["gate", "--baseline", str(tmp_path / "x.json"), str(tmp_path)]) == 2
    assert "not a baseline file" in capsys.readouterr().err
    assert main(["gate", str(tmp_path)]) == 2
    assert "exactly one of" in capsys.readouterr().err
    incomplete = _write_run(tmp_path / "r" / "m" / "mmlu", "mmlu", {"a": 1.0}, complete=False)
    assert main(["gate", "--write-baseline", str(tmp_path / "b.json"), str(incomplete)]) == 2
    assert "incomplete" in capsys.readouterr().err


# ---- the project's own CI gate: the tiny model's deterministic scores ------------------------
LETTERS = (" A", " B", " C", " D")


def _ci_load(data: DataDir) -> list[Doc]:
    rows = data.read_jsonl("ci/items.jsonl")
    return [Doc(id=str(i), target=row["answer"], data=row) for i, row in enumerate(rows)]


def _ci_choice_build(doc: Doc) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(doc.data["question"] + "\nAnswer:", LETTERS, True)]


def _ci_choice_score(doc: Doc, responses) -> Scored:
    logprobs = responses[0]["logprobs"]
    guess = "ABCD"[logprobs.index(max(logprobs))]
    return Scored(extracted=guess, score=float(guess == doc.target))


def _ci_nll_build(doc: Doc) -> list[SequenceNLLRequest]:
    return [SequenceNLLRequest(text=doc.data["question"])]


def _ci_nll_score(doc: Doc, responses) -> Scored:
    nll, tokens = responses[0]["nll"], responses[0]["num_tokens"]
    return Scored(extracted=None, score=nll / tokens, weight=float(tokens))


CI_CHOICE = register(Task(
    name="ci:choice", description="CI: 4-way next-token choice", provenance="tests/test_gate.py",
    shots=0, data_files=("ci/items.jsonl",), load=_ci_load, build=_ci_choice_build,
    score=_ci_choice_score,
))
CI_PPL = register(Task(
    name="ci:ppl", description="CI: perplexity of the questions", provenance="tests/test_gate.py",
    shots=0, data_files=("ci/items.jsonl",), load=_ci_load, build=_ci_nll_build,
    score=_ci_nll_score, aggregation=Aggregation(metric="perplexity", transform="exp"),
))


def _ci_data(root: Path) -> DataDir:
    folder = root / "ci"
    folder.mkdir(parents=True)
    rows = [{"question": f"Which number is {i} times {i % 7 + 2}? A. {i} B. {i * 2} C. "
                         f"{i * (i % 7 + 2)} D. {i + 9}", "answer": "ABCD"[(i * 3) % 4]}
            for i in range(48)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DataDir(root)


def _ci_run(tmp_path: Path, model, tokenizer) -> Path:
    backend = HFBackend(model, tokenizer, batch_size=8,
                        identity={"model": "tiny-qwen2", "dtype": "float32"})
    out = tmp_path / "ci-results"
    for task in (CI_CHOICE, CI_PPL):
        run_task(task, backend, _ci_data(tmp_path / f"data-{task.name.replace(':', '_')}"), out,
                 "tiny-qwen2", RunOptions(progress=False))
    return out


def test_ci_gate_tiny_model(tmp_path, tiny_model, qwen2_tokenizer, capsys):
    out = _ci_run(tmp_path, tiny_model, qwen2_tokenizer)
    if os.environ.get("EVALUATE_UPDATE_BASELINE") == "1":
        BASELINE.parent.mkdir(exist_ok=True)
        # the choice accuracy must match exactly; perplexity may move by float rounding only
        data = write_baseline(BASELINE, _results(out), deterministic=True,
                              note="tiny random Qwen2 (tests/conftest.py) on the CI tasks of "
                                   "tests/test_gate.py; refresh: EVALUATE_UPDATE_BASELINE=1 "
                                   "pytest tests/test_gate.py -k ci_gate")
        data["tasks"]["ci:ppl"]["tolerance"] = round(data["tasks"]["ci:ppl"]["value"] * 1e-4, 6)
        BASELINE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    assert main(["gate", "--baseline", str(BASELINE), str(out)]) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert "ci:choice" in printed and "ci:ppl" in printed and "gate: passed" in printed
    baseline = json.loads(BASELINE.read_text())
    assert 0 < baseline["tasks"]["ci:choice"]["value"] < 100  # a score that can drop
    # The gate bites: one answer lost on the choice task fails it.
    run = out / "tiny-qwen2" / "ci_choice"
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    hit = next(s for s in samples if s["score"] == 1.0)
    hit["score"] = 0.0
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    results = json.loads((run / "results.json").read_text())
    results["metrics"]["accuracy"]["value"] -= 100 / len(samples)
    (run / "results.json").write_text(json.dumps(results))
    assert main(["gate", "--baseline", str(BASELINE), str(out)]) == 1
    assert "REGRESSION" in capsys.readouterr().out


def _results(out: Path) -> list[dict]:
    from evaluate.tables import load_results

    return load_results([out])
