"""score-completions for any generation task: {"id", "completion"} rows scored as a run would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.cli import main
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, plan, score


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _read(run_dir: Path) -> tuple[dict, list[dict]]:
    results = json.loads((run_dir / "results.json").read_text())
    samples = [json.loads(line) for line in open(run_dir / "samples.jsonl", encoding="utf-8")]
    return results, samples


def test_gsm8k_gold_answers_score_100_and_match_the_runner(data_dir, tmp_path, capsys):
    task = get_task("gsm8k")
    docs = task.load(DataDir(data_dir))[:12]
    rows = [{"id": d.id, "completion": " The answer is " + d.target.split("#### ")[-1]}
            for d in docs[:10]]
    rows += [{"id": docs[10].id, "completion": " The answer is 123456789"},  # wrong
             {"id": docs[11].id, "completion": "no number here"}]
    source = _write(tmp_path / "gsm.jsonl", rows)
    assert main(["score-completions", "--task", "gsm8k", str(source), "--data-dir",
                 str(data_dir), "--output", str(tmp_path / "out")]) == 0
    results, samples = _read(tmp_path / "out" / "completions" / "gsm" / "gsm8k")
    assert results["samples"] == 12 and results["completions"] == 12
    assert results["metrics"]["accuracy"]["value"] == pytest.approx(100 * 10 / 12)
    assert "accuracy 83.33" in capsys.readouterr().out
    # exactly what the runner's own scoring gives for the same responses
    records = [r for r in plan(task, DataDir(data_dir), RunOptions(progress=False))
               if r.id in {row["id"] for row in rows}]
    responses = {r.requests[0]["hash"]: {"text": row["completion"]}
                 for r, row in zip(records, rows, strict=True)}
    expected = [s.to_dict() for s in score(task, records, responses)]
    for got, want in zip(samples, expected, strict=True):
        assert (got["id"], got["score"], got["extracted"], got["extra"]) == (
            want["id"], want["score"], want["extracted"], want["extra"])


def test_humaneval_by_id_uses_the_task_scorer(data_dir, tmp_path):
    task = get_task("humaneval")
    docs = task.load(DataDir(data_dir))[:3]
    # HumanEval/0's canonical body has no blank line; the cut rules apply as in a run
    rows = [{"id": docs[0].id, "completion": docs[0].target},
            {"id": docs[1].id, "completion": "    return []\n"},
            {"id": docs[2].id, "completion": "    return number % 1.0\n"}]
    source = _write(tmp_path / "he.jsonl", rows)
    assert main(["score-completions", "--task", "humaneval", str(source), "--data-dir",
                 str(data_dir), "--output", str(tmp_path / "out")]) == 0
    results, samples = _read(tmp_path / "out" / "completions" / "he" / "humaneval")
    assert [s["id"] for s in samples] == [d.id for d in docs]
    assert [s["extra"]["status"] for s in samples][1:] == ["failed", "passed"]
    assert results["metrics"]["pass@1"]["n"] == 3
    assert results["task_extra"]["sandbox"]["probe_status"] == "passed"


def test_bad_rows_are_one_line(data_dir, tmp_path, capsys):
    cases = [
        ([{"id": "no-such-id", "completion": "x"}], "not samples of gsm8k"),
        ([{"id": "0"}], "bad.jsonl:1"),
        ([{"id": "0", "completion": 5}], "not a string"),
        ([{"id": "0", "completion": "a"}, {"id": "0", "completion": "b"}], "generates 1"),
    ]
    for rows, message in cases:
        source = _write(tmp_path / "bad.jsonl", rows)
        assert main(["score-completions", "--task", "gsm8k", str(source), "--data-dir",
                     str(data_dir), "--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    first = get_task("mmlu").load(DataDir(data_dir))[0].id
    source = _write(tmp_path / "mmlu.jsonl", [{"id": first, "completion": "A"}])
    assert main(["score-completions", "--task", "mmlu", str(source), "--data-dir",
                 str(data_dir), "--output", str(tmp_path / "out")]) == 2
    assert "mmlu is not a generation task" in capsys.readouterr().err
