"""Run records: torn last lines, atomic writes, and the typed records' round trip."""

from __future__ import annotations

import json
import os

import pytest

from evaluate import records
from evaluate.records import (
    MalformedRecordError,
    PlanRecord,
    ResponseLog,
    SampleRecord,
    read_jsonl,
    read_plan,
    read_responses,
    read_samples,
    run_dir_for,
    write_json,
    write_plan,
    write_samples,
)

SAMPLE = {"id": "s/1", "prompt": "Q?\nAnswer:", "requests": [{"hash": "ab", "kind": "x"}],
          "responses": [{"logprobs": [-1.0, -2.0]}], "target": "A", "extracted": "B",
          "score": 0.0, "weight": 1.0, "meta": {"subject": "s"}}


def test_run_dir_names_are_file_system_safe(tmp_path):
    assert run_dir_for(tmp_path, "Qwen/Qwen-7B", "mmlu:opencompass") == (
        tmp_path / "Qwen_Qwen-7B" / "mmlu_opencompass")


def test_a_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text('{"hash": "a", "response": {"text": "x"}}\n{"hash": "b", "resp')
    assert list(read_responses(path)) == ["a"]
    with ResponseLog(path) as log:
        log.add("c", {"text": "y"})
    assert list(read_responses(path)) == ["a", "c"]
    assert path.read_text().count("\n") == 2


def test_read_jsonl_names_a_broken_line_that_is_not_the_torn_tail(tmp_path):
    path = tmp_path / "plan.jsonl"
    path.write_text('{"id": 1}\nnot json\n{"id": 2}\n')
    with pytest.raises(MalformedRecordError, match=r"plan.jsonl:2"):
        list(read_jsonl(path))
    path.write_text('{"id": 1}\n{"id": 2')  # torn: tolerated
    assert [row["id"] for row in read_jsonl(path)] == [1]


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json(path, {"v": 1})

    def crash(src, dst):
        raise OSError("killed mid-rename")

    monkeypatch.setattr(records.os, "replace", crash)
    with pytest.raises(OSError):
        write_json(path, {"v": 2})
    monkeypatch.setattr(records.os, "replace", os.replace)
    assert json.loads(path.read_text()) == {"v": 1}  # the old file, whole


def test_sample_record_round_trips_with_the_same_json_layout(tmp_path):
    write_samples(tmp_path, [SampleRecord.from_dict(SAMPLE)])
    line = (tmp_path / "samples.jsonl").read_text().splitlines()[0]
    assert list(json.loads(line)) == list(SAMPLE)  # same keys, same order, no "extra" when empty
    assert json.loads(line) == SAMPLE
    with_extra = {**SAMPLE, "extra": {"probs": [0.5, 0.5]}}
    assert SampleRecord.from_dict(with_extra).to_dict() == with_extra
    assert read_samples(tmp_path)[0] == SampleRecord.from_dict(SAMPLE)


def test_plan_record_writes_reference_only_when_present(tmp_path):
    plain = PlanRecord("1", "A", {"subject": "s"}, [{"hash": "h"}])
    harness = PlanRecord("2", "sol", {}, [], reference={"test": "assert f()"})
    write_plan(tmp_path, [plain, harness])
    rows = [json.loads(line) for line in (tmp_path / "plan.jsonl").read_text().splitlines()]
    assert list(rows[0]) == ["id", "target", "meta", "requests"]
    assert rows[1]["reference"] == {"test": "assert f()"}
    assert read_plan(tmp_path) == [plain, harness]
