"""The viewer's reader and API without a browser: paging, filters, search, the comparison."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from evaluate.errors import EvaluateError
from evaluate.gate import compare, entry_from_results
from evaluate.viewer import records

from .runs import run_number


def test_runs_table_has_reported_values_and_dates(catalog):
    rows = {(r["model"], r["task"]): r for r in catalog.runs_table()}
    seven = rows[("Qwen/Qwen-7B", "mmlu")]
    assert seven["reported"] == 58.2 and seven["diff"] == pytest.approx(seven["value"] - 58.2)
    assert seven["date"] == "2026-01-02T03:04:05+0000" and seven["seconds"] == 12.5
    assert len(seven["protocol"]) == 16


def test_paging_filter_and_search(catalog):
    number = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    page = catalog.samples(number, offset=100, limit=50)
    assert page["total"] == 120 and [r["index"] for r in page["rows"]] == list(range(100, 120))
    wrong = catalog.samples(number, limit=500, verdict="wrong")
    assert wrong["total"] == 40 and {r["verdict"] for r in wrong["rows"]} == {"wrong"}
    found = catalog.samples(number, search="QUESTION 7:")
    assert [r["id"] for r in found["rows"]] == ["astronomy/7"]
    assert catalog.samples(number, search="candidates")["total"] == 0  # keys are not text
    assert catalog.samples(number, search="__pwned = 1")["total"] == 1


def test_one_sample_in_full(catalog, runs_dir):
    number = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    sample = catalog.sample(number, 5)
    stored = [json.loads(line) for line in
              (runs_dir / "Qwen_Qwen-7B/mmlu/samples.jsonl").read_text().splitlines()][5]
    assert sample["requests"] == stored["requests"] and sample["verdict"] == "correct"
    with pytest.raises(EvaluateError):
        catalog.sample(number, 120)


def test_diff_lists_changed_samples_first_with_gates_test(catalog):
    a = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    b = run_number(catalog, "Qwen/Qwen-14B", "mmlu")
    diff = catalog.diff(a, b, 0, None)
    flags = [r["changed"] for r in diff["rows"]]
    assert diff["changed"] == sum(flags) > 0 and flags == sorted(flags, reverse=True)
    expected = compare(entry_from_results(catalog.runs[a]), entry_from_results(catalog.runs[b]))
    assert (diff["verdict"], diff["detail"]) == (expected.verdict, expected.detail)
    assert "paired on 120 samples" in diff["detail"]
    with pytest.raises(EvaluateError, match="different tasks"):
        catalog.diff(a, run_number(catalog, "Qwen/Qwen-7B", "humaneval"))


def test_nan_in_results_becomes_null_in_strict_json(tmp_path):
    from evaluate.viewer.api import Catalog
    from evaluate.viewer.server import serve

    from .runs import mmlu_sample, write_run

    run_dir = write_run(tmp_path, "m", "mmlu", [mmlu_sample(0, True)])
    results = json.loads((run_dir / "results.json").read_text())
    results["metrics"]["accuracy"]["stderr"] = float("nan")  # as metrics.py writes for n < 2
    (run_dir / "results.json").write_text(json.dumps(results))
    assert records.load_run(run_dir)["samples"] == 1
    server, url = serve(Catalog([tmp_path]))
    try:
        with urllib.request.urlopen(url + "api/runs") as response:
            runs = json.loads(response.read(), parse_constant=lambda name: 1 / 0)["runs"]
    finally:
        server.shutdown()
        server.server_close()
    assert runs[0]["stderr"] is None
    (run_dir / "samples.jsonl").unlink()  # a run without samples still opens
    assert Catalog([tmp_path]).samples(0)["rows"] == []


def test_index_follows_a_rewritten_file(tmp_path):
    from .runs import mmlu_sample, write_run

    run_dir = write_run(tmp_path, "m", "mmlu", [mmlu_sample(i, True) for i in range(3)])
    assert records.iter_samples(run_dir, 0, 10)[0] == 3
    write_run(tmp_path, "m", "mmlu", [mmlu_sample(i, False) for i in range(5)])
    assert records.iter_samples(run_dir, 0, 10, "wrong")[0] == 5


def test_server_is_loopback_only_with_a_strict_policy(server_url):
    with urllib.request.urlopen(server_url + "api/runs") as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert server_url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(server_url + "api/runs", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 403


def test_view_command_serves_and_exports(runs_dir, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "evaluate", "view", str(runs_dir), "--export",
                           str(tmp_path / "site")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    names = {p.name for p in (tmp_path / "site").rglob("*")}
    assert {"index.html", "app.js", "style.css", "runs.js", "run-0.js", "run-2.js"} <= names
    assert 'src="data/runs.js"' in (tmp_path / "site/index.html").read_text()
    server = subprocess.Popen([sys.executable, "-m", "evaluate", "view", str(runs_dir)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line.startswith("viewer: http://127.0.0.1:"), line
        url = line.split()[1]
        with urllib.request.urlopen(url + "api/runs", timeout=30) as response:
            assert len(json.loads(response.read())["runs"]) == 3
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_real_run_of_the_tiny_model_reads_back(tmp_path, data_dir, tiny_model, qwen2_tokenizer):
    """The records the runner writes for a real MMLU run (tiny random Qwen2, 6 questions)."""
    from evaluate.backends.hf import HFBackend
    from evaluate.data import DataDir
    from evaluate.registry import get_task
    from evaluate.runner import RunOptions, run_task
    from evaluate.viewer.api import Catalog

    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=4,
                        identity={"model": "tiny-qwen2", "dtype": "float32"})
    run_task(get_task("mmlu"), backend, DataDir(data_dir), tmp_path, "tiny-qwen2",
             RunOptions(limit=6, progress=False, use_cache=False))
    catalog = Catalog([tmp_path])
    page = catalog.samples(0)
    assert page["total"] == 6 and len(page["rows"]) == 6
    sample = catalog.sample(0, 0)
    assert sample["prompt"] == sample["requests"][0]["context"]
    assert sample["verdict"] == ("correct" if sample["score"] == 1 else "wrong")
    assert catalog.run(0)["groups"] and catalog.runs_table()[0]["n"] == 6
