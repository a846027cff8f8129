"""The data dir: file hashes, readable errors, and the hub fallback."""

from __future__ import annotations

import json

import pytest

from evaluate import data as data_module
from evaluate.data import DataDir, sha256_file
from evaluate.errors import MalformedDataError, MissingDataError


def test_files_read_are_hashed(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    path = tmp_path / "gsm8k" / "test.jsonl"
    path.write_text('{"question": "q", "answer": "#### 1"}\n')
    data = DataDir(tmp_path)
    assert data.read_jsonl("gsm8k/test.jsonl") == [{"question": "q", "answer": "#### 1"}]
    assert data.files_read == {"gsm8k/test.jsonl": sha256_file(path)}


def test_malformed_jsonl_names_file_and_line(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(MalformedDataError, match=r"x.jsonl:2: expected a JSON object"):
        DataDir(tmp_path).read_jsonl("x.jsonl")


def test_missing_file_offline_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(MissingDataError, match="grade-school-math.*could not be fetched"):
        DataDir(tmp_path).path("gsm8k/test.jsonl")


def test_unreachable_hub_is_one_line_at_once(tmp_path, monkeypatch, capfd):
    """No network and no offline flag: the hub is probed once, quickly, and nothing is printed
    before the missing-file error (no retry chatter from the hub client)."""
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    data_module.hub_reachable.cache_clear()
    try:
        with pytest.raises(MissingDataError, match=r"no network: 127\.0\.0\.1:9 cannot be reached"):
            DataDir(tmp_path).path("mmlu/dev/abstract_algebra_dev.csv")
    finally:
        data_module.hub_reachable.cache_clear()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_hub_copy_is_written_in_release_layout(tmp_path, monkeypatch):
    """The conversion from a hub dataset (here a local datasets.Dataset) to the release file."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("EVALUATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_module, "hub_reachable", lambda: True)  # the hub stood in for below
    rows = datasets.Dataset.from_list([{"question": "1+1?", "answer": "2 #### 2"}])
    calls = []
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda *args, **kwargs: calls.append((args, kwargs)) or rows)
    data = DataDir(tmp_path / "empty")
    path = data.path("gsm8k/test.jsonl")
    assert calls == [(("openai/gsm8k", "main"), {"split": "test"})]
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {"question": "1+1?", "answer": "2 #### 2"}]
    assert list(data.files_read) == ["gsm8k/test.jsonl (from hub:openai/gsm8k/main/test)"]
    assert data_module.from_hub("gsm8k/test.jsonl")[0] == path and len(calls) == 1  # cached


def test_mmlu_from_its_hub_copy_gives_the_release_files_prompts(data_dir, tmp_path, monkeypatch):
    """cais/mmlu's "all" split, rebuilt into per-subject CSVs, prompts exactly as the release.

    The hub copy is stood in for by a datasets.Dataset made from the release files in cais/mmlu's
    schema (question, subject, choices, answer as 0-3): one download per split, 57 files each.
    """
    import csv

    datasets = pytest.importorskip("datasets")
    from evaluate.registry import get_task
    from evaluate.tasks.mmlu import SUBJECTS

    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("EVALUATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_module, "hub_reachable", lambda: True)  # the hub stood in for below

    def hub_split(split):
        rows = []
        for subject in SUBJECTS:
            path = data_dir / "mmlu" / split / f"{subject}_{split}.csv"
            with open(path, encoding="utf-8", newline="") as handle:  # keep "\r\n" in cells
                table = list(csv.reader(handle))
            for cells in table:
                rows.append({"question": cells[0], "subject": subject, "choices": cells[1:5],
                             "answer": "ABCD".index(cells[5].strip())})
        return datasets.Dataset.from_list(rows)

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config, split: calls.append(
        (name, config, split)) or hub_split(split))
    task = get_task("mmlu")
    local = task.load(DataDir(data_dir))
    hub_data = DataDir(tmp_path / "empty")
    rebuilt = task.load(hub_data)
    assert sorted(calls) == [("cais/mmlu", "all", "dev"), ("cais/mmlu", "all", "test")]
    assert len(rebuilt) == len(local) == 14042
    assert [(d.id, d.target, d.data) for d in rebuilt] == [(d.id, d.target, d.data) for d in local]
    assert "mmlu/dev/anatomy_dev.csv (from hub:cais/mmlu/all/dev)" in hub_data.files_read
