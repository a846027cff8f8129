"""Tables shaped like the reported ones (rows = benchmarks, columns = models), CSV, the
protocol-hash mark, the reported lookups per table, and the score-vs-size plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from evaluate.cli import main
from evaluate.errors import EvaluateError
from evaluate.reported import lookup, lookup_in, model_key, table_models, table_name
from evaluate.tables import load_results, model_size, pivot, pivot_csv, pivot_markdown


def _result(model: str, task: str, value: float, protocol: str = "p1", stderr: float = 0.5,
            complete: bool = True) -> dict:
    return {"task": task, "headline": "accuracy", "samples": 100, "complete": complete,
            "metrics": {"accuracy": {"value": value, "stderr": stderr, "n": 100}},
            "protocol": {"hash": protocol}, "model": {"model": model}}


def _write(root: Path, result: dict) -> Path:
    folder = root / result["model"]["model"].replace("/", "_") / result["task"].replace(":", "_")
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(result))
    return folder


def test_reported_lookups_per_table():
    assert lookup("Qwen/Qwen-7B", "mmlu") == (58.2, "Qwen GitHub README performance table")
    assert lookup_in("qwen_base", "/models/qwen-72b", "gsm8k") == 78.9
    assert lookup_in("opencompass_qwen_base", "Qwen/Qwen-7B", "ceval:opencompass") == 62.06
    assert lookup_in("opencompass_qwen1.5_base.csv", "Qwen/Qwen1.5-0.5B", "humaneval:opencompass"
                     ) == 8.54
    assert lookup_in("opencompass_qwen1.5_chat", "Qwen/Qwen1.5-110B-Chat", "mmlu:opencompass"
                     ) == 77.95
    assert lookup_in("qwen_chat", "Qwen/Qwen-14B-Chat", "gsm8k") == 59.3  # the 8-shot column
    assert lookup_in("qwen_model_cards", "Qwen/Qwen-7B", "ceval") == 60.8  # val, not test
    assert lookup_in("qwen_base", "Qwen/Qwen-7B", "mmlu:opencompass") is None
    assert model_key("Qwen-7B (original Aug 2023)") == "qwen-7b"
    assert table_models("opencompass_qwen_base")[0] == "qwen-1.8b"
    with pytest.raises(EvaluateError, match="unknown reported table 'nope'"):
        table_name("nope")


def test_pivot_rows_are_tasks_columns_are_models():
    results = [_result("Qwen/Qwen-7B", "mmlu", 57.9), _result("Qwen/Qwen-1.8B", "mmlu", 44.0),
               _result("Qwen/Qwen-7B", "gsm8k", 50.0), _result("Qwen/Qwen-1.8B", "gsm8k", 33.3)]
    table = pivot(results, "qwen_base")
    assert table.tasks == ["mmlu", "gsm8k"] and table.columns == ["Qwen/Qwen-7B", "Qwen/Qwen-1.8B"]
    cell = table.cells[("mmlu", "Qwen/Qwen-7B")]
    assert cell.reported == 58.2 and cell.diff == pytest.approx(-0.3)
    text = pivot_markdown(table)
    assert text.splitlines()[0] == "| task | Qwen/Qwen-7B | Qwen/Qwen-1.8B |"
    assert "| mmlu | 57.90 ± 0.50 (rep. 58.20, -0.30) | 44.00 ± 0.50 (rep. 45.30, -1.30) |" in text
    assert "†" not in text
    rows = list(csv.DictReader(io.StringIO(pivot_csv(table))))
    assert [r["task"] for r in rows] == ["mmlu", "gsm8k"]
    assert float(rows[1]["Qwen/Qwen-1.8B:reported"]) == 32.3
    assert float(rows[1]["Qwen/Qwen-1.8B:diff"]) == pytest.approx(1.0)
    assert rows[0]["Qwen/Qwen-7B:protocol_differs"] == "0"


def test_a_differing_protocol_hash_is_marked():
    results = [_result("a/Qwen-7B", "mmlu", 57.0, "p1"), _result("b/Qwen-14B", "mmlu", 66.0, "p1"),
               _result("c/Qwen-72B", "mmlu", 77.0, "p2"), _result("c/Qwen-72B", "gsm8k", 70.0)]
    table = pivot(results)
    assert [c for (t, c), cell in table.cells.items() if cell.hash_differs] == ["c/Qwen-72B"]
    text = pivot_markdown(table)
    assert "77.00 ± 0.50 † (rep. 77.40" in text
    assert "mmlu: c/Qwen-72B has protocol p2" in text
    assert "| gsm8k | - | - | 70.00" in text  # a model without that task: an empty cell


def test_partial_runs_and_duplicates():
    table = pivot([_result("m", "mmlu", 10.0, complete=False)])
    assert "(partial)" in pivot_markdown(table)
    with pytest.raises(EvaluateError, match="two runs of m on mmlu"):
        pivot([_result("m", "mmlu", 1.0), _result("m", "mmlu", 2.0)])


def test_load_results_from_files_and_folders(tmp_path):
    one = _write(tmp_path / "r", _result("Qwen/Qwen-7B", "mmlu", 1.0))
    _write(tmp_path / "r", _result("Qwen/Qwen-7B", "gsm8k", 2.0))
    assert len(load_results([tmp_path / "r"])) == 2
    assert load_results([one / "results.json"])[0]["run_dir"] == str(one)
    with pytest.raises(EvaluateError, match="does not exist"):
        load_results([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluateError, match="holds no results.json"):
        load_results([tmp_path / "empty"])


@pytest.mark.parametrize("name,size", [("Qwen/Qwen1.5-0.5B-Chat", 0.5), ("qwen-7b-turbomind", 7.0),
                                       ("Qwen/Qwen-1.8B", 1.8), ("Qwen1.5-110B", 110.0),
                                       ("/tmp/tiny-qwen2", None)])
def test_model_size_from_name(name, size):
    assert model_size(name) == size


def test_cli_table_writes_markdown_and_csv(tmp_path, capsys):
    for model, value in (("Qwen/Qwen1.5-0.5B", 40.5), ("Qwen/Qwen1.5-7B", 61.0)):
        _write(tmp_path / "r", _result(model, "mmlu:opencompass", value))
    md, sheet = tmp_path / "t.md", tmp_path / "t.csv"
    assert main(["table", str(tmp_path / "r"), "--reported", "opencompass_qwen1.5_base",
                 "--markdown", str(md), "--csv", str(sheet)]) == 0
    out = capsys.readouterr().out
    assert "40.50 ± 0.50 (rep. 39.98, +0.52)" in out and md.read_text().strip() == out.strip()
    assert "mmlu:opencompass" in sheet.read_text()
    assert main(["table", str(tmp_path / "r"), "--reported", "bogus"]) == 2


def test_cli_table_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    for model, value in (("Qwen/Qwen-1.8B", 44.0), ("Qwen/Qwen-7B", 57.0), ("/tmp/tiny", 1.0)):
        _write(tmp_path / "r", _result(model, "mmlu", value))
        _write(tmp_path / "r", _result(model, "gsm8k", value / 2))
    png = tmp_path / "sizes.png"
    assert main(["table", str(tmp_path / "r"), "--reported", "qwen_base", "--plot", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_reported_rows_not_shown_are_named():
    from evaluate.reported import missing_rows

    rows = missing_rows("opencompass_qwen1.5_base", ["mmlu:opencompass", "gpqa:opencompass",
                                                     "ceval:opencompass"])
    assert "mmlu (no run)" not in rows and not any(r.startswith("GPQA") for r in rows)
    assert "bbh (no run)" in rows
    assert any(r.startswith("ceval-test (C-Eval's test answers are private") for r in rows)
    assert missing_rows("qwen_base", ["mmlu"]) == []
