"""CMMLU: exact prompt on a real row, counts, categories, end to end."""

from __future__ import annotations

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.metrics import aggregate
from evaluate.runner import RunOptions, run_task
from evaluate.tasks import cmmlu


@pytest.fixture(scope="module")
def docs(data_dir):
    return {d.id: d for d in cmmlu.TASK.load(DataDir(data_dir))}


def test_counts(docs):
    assert len(docs) == 11582
    assert len({d.meta["subject"] for d in docs.values()}) == 67 == len(cmmlu.SUBCATEGORIES)
    assert "ancient_chinese" in cmmlu.CATEGORIES["Social Science"]
    assert "ancient_chinese" in cmmlu.CATEGORIES["China specific"]


def test_prompt(docs, data_dir):
    import csv

    with open(f"{data_dir}/cmmlu/dev/agronomy.csv", encoding="utf-8", newline="") as handle:
        dev = list(csv.DictReader(handle))[:5]
    shots = "".join(f"问题：{r['Question']}\nA. {r['A']}\nB. {r['B']}\nC. {r['C']}\nD. {r['D']}"
                    f"\n答案：{r['Answer']}\n\n" for r in dev)
    query = ("问题：在农业生产中被当作极其重要的劳动对象发挥作用，"
             "最主要的不可替代的基本生产资料是\n"
             "A. 农业生产工具\nB. 土地\nC. 劳动力\nD. 资金\n答案：")
    doc = docs["agronomy/0"]
    assert doc.data["prompt"] == shots + query and doc.target == "B"
    (request,) = cmmlu.TASK.build(doc)
    assert request.candidates == ("A", "B", "C", "D") and request.next_token


def test_macro_aggregation():
    records = ([{"score": 1.0, "meta": {"subject": "agronomy"}}] * 3
               + [{"score": 0.0, "meta": {"subject": "chinese_history"}}])
    metrics = aggregate(records, cmmlu.TASK.aggregation, resamples=10)
    assert metrics["accuracy"]["value"] == pytest.approx(50.0)
    assert metrics["category:Other"]["value"] == pytest.approx(100.0)
    assert metrics["category:China specific"]["value"] == pytest.approx(0.0)


def test_end_to_end_batched_equals_batch_one(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    results = []
    for size in (1, 8):
        backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=size,
                            identity={"model": "tiny"})
        results.append(run_task(cmmlu.TASK, backend, DataDir(data_dir), tmp_path / str(size),
                                "tiny", RunOptions(limit=16, progress=False)))
    assert results[0]["samples"] == 16
    assert results[0]["metrics"]["accuracy"]["value"] == results[1]["metrics"]["accuracy"]["value"]
