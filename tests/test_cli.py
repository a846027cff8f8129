"""The command line end to end on the tiny model, and its one-line errors."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_list_tasks_shows_protocol_shots_metric_and_files(capsys):
    assert main(["--list-tasks"]) == 0
    out = capsys.readouterr().out
    assert "humaneval" in out and "pass@1" in out and "HumanEval.jsonl.gz" in out
    assert "shots: 0" in out


def test_unknown_task_suggests_close_names(capsys):
    assert main(["--model", "x", "--task", "humaneva"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean humaneval" in err
    assert "Traceback" not in err


def test_missing_data_file_names_file_and_place(tmp_path, capsys, monkeypatch):
    import evaluate.tasks.humaneval as humaneval

    monkeypatch.setattr(humaneval, "packaged_copy", lambda: None)
    assert main(["--model", "x", "--task", "humaneval", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "humaneval/HumanEval.jsonl.gz" in err and str(tmp_path) in err
    assert "github.com/openai/human-eval" in err and err.count("\n") == 1


def test_malformed_row_names_file_and_line(tmp_path, capsys):
    folder = tmp_path / "humaneval"
    folder.mkdir()
    with gzip.open(folder / "HumanEval.jsonl.gz", "wt") as handle:
        handle.write('{"task_id": "a", "prompt": "", "test": "", "entry_point": "f"}\n{oops\n')
    assert main(["--model", "x", "--task", "humaneval", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "HumanEval.jsonl.gz:2" in err and "not valid JSON" in err


@pytest.mark.parametrize("model", ["/nonexistent/model/dir", "./nope"])
def test_model_path_that_does_not_exist(model, capsys, data_dir):
    assert main(["--model", model, "--task", "humaneval", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


def test_folder_without_a_model(tmp_path, capsys, data_dir):
    assert main(["--model", str(tmp_path), "--task", "humaneval",
                 "--data-dir", str(data_dir)]) == 2
    assert "holds no Transformers model" in capsys.readouterr().err


def test_verbose_shows_traceback(capsys):
    assert main(["--model", "x", "--task", "nope", "--verbose"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_run_end_to_end_on_tiny_model_then_rescore(tiny_model_dir, data_dir, tmp_path, capsys,
                                                   monkeypatch):
    import evaluate.tasks.humaneval as humaneval

    monkeypatch.setattr(humaneval, "MAX_NEW_TOKENS", 16)
    out = tmp_path / "results"
    argv = ["--model", str(tiny_model_dir), "--task", "humaneval", "--limit", "3",
            "--data-dir", str(data_dir), "--output", str(out), "--batch-size", "2",
            "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| humaneval | pass@1 |" in printed
    [results_file] = list(out.glob("*/humaneval/results.json"))
    results = json.loads(results_file.read_text())
    assert results["samples"] == 3 and results["complete"]
    assert results["model"]["architecture"] == "Qwen2ForCausalLM"
    assert results["model"]["dtype"] == "float32" and results["batch_size"] == 2
    assert results["data_files"]["humaneval/HumanEval.jsonl.gz"]
    samples = [json.loads(x) for x in (results_file.parent / "samples.jsonl").open()]
    assert all(s["extra"]["status"] for s in samples)
    assert main(["rescore", str(results_file.parent)]) == 0
    assert "| humaneval | pass@1 |" in capsys.readouterr().out


def test_a_subject_selection_from_the_command_line(tiny_model_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["--model", str(tiny_model_dir), "--task", "mmlu/abstract_algebra+anatomy",
                 "--limit", "4", "--data-dir", str(data_dir), "--output", str(out),
                 "--no-progress", "--no-cache"]) == 0
    assert "| mmlu/abstract_algebra+anatomy | accuracy |" in capsys.readouterr().out
    [results_file] = list(out.glob("*/mmlu_abstract_algebra_anatomy/results.json"))
    results = json.loads(results_file.read_text())
    assert results["selection"]["subjects"] == ["abstract_algebra", "anatomy"]
    samples = [json.loads(x) for x in (results_file.parent / "samples.jsonl").open()]
    assert {s["meta"]["subject"] for s in samples} <= {"abstract_algebra", "anatomy"}
    assert main(["--model", "m", "--task", "mmlu/geology"]) == 2
    assert "neither a subject nor a category" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "evaluate", "--list-tasks"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "humaneval" in done.stdout


def test_rerun_is_answered_from_the_cache_without_loading_the_model(
        tiny_model_dir, data_dir, tmp_path, capsys, monkeypatch):
    import evaluate.backends.hf as hf
    import evaluate.tasks.humaneval as humaneval

    monkeypatch.setattr(humaneval, "MAX_NEW_TOKENS", 8)
    monkeypatch.setenv("EVALUATE_CACHE", str(tmp_path / "cache"))
    argv = ["--model", str(tiny_model_dir), "--task", "humaneval", "--limit", "2",
            "--data-dir", str(data_dir), "--no-progress"]
    assert main([*argv, "--output", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded although every request was cached")

    monkeypatch.setattr(hf.HFBackend, "load", no_loading)
    assert main([*argv, "--output", str(tmp_path / "b")]) == 0
    second = capsys.readouterr().out
    assert first.splitlines()[-1].split("|")[4] == second.splitlines()[-1].split("|")[4]
    [results] = list((tmp_path / "b").glob("*/humaneval/results.json"))
    assert json.loads(results.read_text())["model_loaded"] is False
    assert main(["cache", "info"]) == 0
    assert "2 cached responses" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 2" in capsys.readouterr().out


def test_max_memory_needs_a_device_map_and_a_valid_spec(tiny_model_dir, data_dir, capsys):
    base = ["--model", str(tiny_model_dir), "--task", "mmlu", "--data-dir", str(data_dir)]
    assert main([*base, "--max-memory", "0=1GiB,cpu=2GiB"]) == 2
    err = capsys.readouterr().err
    assert "--max-memory needs --device-map" in err and err.count("\n") == 1
    assert main([*base, "--device-map", "auto", "--max-memory", "lots"]) == 2
    err = capsys.readouterr().err
    assert "DEVICE=SIZE" in err and err.count("\n") == 1


def test_parse_max_memory():
    from evaluate.evaluation import parse_max_memory

    assert parse_max_memory("0=70GiB, 1=70GiB,cpu=200GiB") == {0: "70GiB", 1: "70GiB",
                                                                "cpu": "200GiB"}


def test_backend_vllm_without_vllm_is_one_line(tiny_model_dir, data_dir, capsys, monkeypatch):
    """vLLM is an optional extra: the harness imports without it, and asking for it says so."""
    import evaluate.backends.vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "vllm_available", lambda: False)
    assert main(["--model", str(tiny_model_dir), "--task", "humaneval", "--backend", "vllm",
                 "--data-dir", str(data_dir), "--tensor-parallel-size", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--backend vllm needs vLLM" in err and "[vllm]" in err


def test_vllm_engine_options_reach_the_spec():
    from evaluate.cli import _engine_options, _run_parser

    args = _run_parser().parse_args(["--backend", "vllm", "--tensor-parallel-size", "4",
                                     "--enforce-eager", "--vllm-args", '{"quantization": "fp8"}'])
    assert _engine_options(args) == {"tensor_parallel_size": 4, "enforce_eager": True,
                                     "top_logprobs": 20,
                                     "engine_args": {"quantization": "fp8"}}
    args = _run_parser().parse_args(["--tensor-parallel-size", "4"])
    assert _engine_options(args) == {}  # only the vllm backend reads them
