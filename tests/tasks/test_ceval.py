"""C-Eval: exact prompts on real rows (Qwen and OpenCompass), counts, aggregation, e2e."""

from __future__ import annotations

import json
import math

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.metrics import aggregate
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.tasks import ceval

# ceval/dev/logic_dev.csv is long; use a small subject: the query row written out by hand.
QUERY_Q = "下列关于法律推理的表述，能够成立的是____。"
QUERY_CHOICES = ("演绎推理是一种或然性推理", "归纳推理是从一般知识推出个别知识的推理",
                 "类比推理是判例法国家运用的一种基本的法律推理方法", "辩证推理实际上是一种立法活动")


@pytest.fixture(scope="module")
def docs(data_dir):
    return {d.id: d for d in ceval.QWEN.load(DataDir(data_dir))}


@pytest.fixture(scope="module")
def oc_docs(data_dir):
    return {d.id: d for d in ceval.OPENCOMPASS.load(DataDir(data_dir))}


def test_counts(docs, oc_docs, data_dir):
    assert len(docs) == len(oc_docs) == 1346
    assert len({d.meta["subject"] for d in docs.values()}) == 52
    assert len(ceval.SUBJECTS) == 52 and len(ceval.CATEGORIES["Hard"]) == 8
    assert sum(len(ceval.CATEGORIES[c]) for c in ("STEM", "Social Science", "Humanities",
                                                   "Other")) == 52
    test = ceval.TEST.load(DataDir(data_dir))
    assert len(test) == 12342 and all(d.target is None for d in test)


def test_qwen_prompt(docs, data_dir):
    import csv

    with open(f"{data_dir}/ceval/dev/law_dev.csv", encoding="utf-8", newline="") as handle:
        dev = list(csv.DictReader(handle))[:5]
    shots = "".join(f"问题：{r['question']}\nA. {r['A']}\nB. {r['B']}\nC. {r['C']}\nD. {r['D']}"
                    f"\n答案：{r['answer']}\n\n" for r in dev)
    a, b, c, d = QUERY_CHOICES
    query = f"问题：{QUERY_Q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n答案："
    doc = docs["law/0"]
    assert doc.data["prompt"] == shots + query
    assert doc.data["prompt"].endswith(
        "问题：下列关于法律推理的表述，能够成立的是____。\nA. 演绎推理是一种或然性推理\n"
        "B. 归纳推理是从一般知识推出个别知识的推理\n"
        "C. 类比推理是判例法国家运用的一种基本的法律推理方法\n"
        "D. 辩证推理实际上是一种立法活动\n答案：")
    assert doc.target == "C"
    (request,) = ceval.QWEN.build(doc)
    assert request.candidates == ("A", "B", "C", "D") and request.max_context_tokens is None


def test_opencompass_prompt(oc_docs, data_dir):
    import csv

    with open(f"{data_dir}/ceval/dev/law_dev.csv", encoding="utf-8", newline="") as handle:
        dev = list(csv.DictReader(handle))[:5]
    head = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n"
    shots = [f"{head}{r['question']}\nA. {r['A']}\nB. {r['B']}\nC. {r['C']}\nD. {r['D']}"
             f"\n答案: \n{r['answer']}" for r in dev]
    a, b, c, d = QUERY_CHOICES
    query = f"{head}{QUERY_Q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n答案: \n"
    doc = oc_docs["law/0"]
    # separator and end token are items of their own: 3 newlines between shots, 5 before the query
    assert doc.data["prompt"] == "\n\n\n".join(shots) + "\n\n\n\n\n" + query
    assert "答案: \n" + dev[0]["answer"] + "\n\n\n以下是中国关于法学考试" in doc.data["prompt"]
    assert [r.text for r in ceval.OPENCOMPASS.build(doc)] == [doc.data["prompt"] + x
                                                               for x in "ABCD"]
    letters, context = get_task("ceval:opencompass-unbatched").build(doc)
    assert letters.candidates == ("A", "B", "C", "D") and context.text == doc.data["prompt"]


def test_macro_and_category_aggregation():
    records = ([{"score": 1.0, "meta": {"subject": "college_physics"}}] * 9
               + [{"score": 0.0, "meta": {"subject": "law"}}]
               + [{"score": 1.0, "meta": {"subject": "law"}}])
    metrics = aggregate(records, ceval.QWEN.aggregation, resamples=10)
    assert metrics["accuracy"]["value"] == pytest.approx(75.0)  # mean of 100 and 50, not 10/11
    assert metrics["category:STEM"]["value"] == pytest.approx(100.0)
    assert metrics["category:Hard"]["value"] == pytest.approx(100.0)
    assert metrics["category:Humanities"]["value"] == pytest.approx(50.0)


def test_test_split_predictions_and_submission(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=4, identity={"model": "tiny"})
    results = run_task(ceval.TEST, backend, DataDir(data_dir), tmp_path, "tiny",
                       RunOptions(limit=6, progress=False))
    assert math.isnan(results["metrics"]["accuracy"]["value"])  # cannot be scored
    out = ceval.write_submission(results["run_dir"])
    answers = json.loads(out.read_text(encoding="utf-8"))
    assert sum(len(v) for v in answers.values()) == 6
    assert all(x in "ABCD" for v in answers.values() for x in v.values())


def test_end_to_end_both_variants(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=4, identity={"model": "tiny"})
    for task, limit in ((ceval.QWEN, 12), (ceval.OPENCOMPASS, 3)):
        one = run_task(task, HFBackend(tiny_model, qwen2_tokenizer, batch_size=1,
                                       identity={"model": "tiny"}),
                       DataDir(data_dir), tmp_path / "one", "tiny",
                       RunOptions(limit=limit, progress=False))
        many = run_task(task, backend, DataDir(data_dir), tmp_path / "many", "tiny",
                        RunOptions(limit=limit, progress=False))
        assert one["samples"] == many["samples"] == limit
        assert one["metrics"]["accuracy"]["value"] == many["metrics"]["accuracy"]["value"]
        for path in ("one", "many"):
            lines = (tmp_path / path / "tiny" / task.name.replace(":", "_") / "samples.jsonl")
            assert lines.is_file()
        a = [json.loads(x)["extracted"] for x in open(
            tmp_path / "one" / "tiny" / task.name.replace(":", "_") / "samples.jsonl")]
        b = [json.loads(x)["extracted"] for x in open(
            tmp_path / "many" / "tiny" / task.name.replace(":", "_") / "samples.jsonl")]
        assert a == b
