# ruff: noqa: E501  (Chinese prompt literals)
"""gaokao:opencompass: prompts, counts, the per-type answer reading and the weighted average."""

import json

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.metrics import aggregate
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import gaokao

MATH = ("请你做一道数学选择题\n请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的"
        "答案，并写在【答案】和<eoa>之间。\n例如：【答案】: A <eoa>\n完整的题目回答的格式如下：\n【解析】 ... <eoe>\n"
        "【答案】 ... <eoa>\n请你严格按照上述格式作答。\n题目如下：")


def test_counts_and_prompts(data_dir):
    docs = {d.id: d for d in get_task("gaokao:opencompass").load(DataDir(data_dir))}
    assert len(docs) == 1781 and len(gaokao.SUBSETS) == 14
    folder = data_dir / "GAOKAO-BENCH/data/Multiple-choice_Questions"
    row = json.loads((folder / "2010-2022_Math_II_MCQs.json").read_text("utf-8"))["example"][0]
    doc = docs["2010-2022_Math_II_MCQs/0"]
    assert doc.data["prompt"] == MATH + row["question"]
    assert doc.target == row["answer"] and doc.meta["type"] == "single_choice"
    cloze = json.loads((folder / "2012-2022_English_Cloze_Test.json").read_text("utf-8"))
    assert docs["2012-2022_English_Cloze_Test/0"].data["prompt"] == (
        "请回答下面的问题，将符合题意的五个选项的字母写在【答案】和<eoa>之间，例如“【答案】 A B C D E <eoa>\n"
        "请严格按照上述格式作答。\n" + cloze["example"][0]["question"])


def _score(kind, text, answer):
    return get_task("gaokao:opencompass").score(
        ScoreInput(id="x", target=answer, meta={"type": kind}), [{"text": text}])


@pytest.mark.parametrize(("kind", "text", "answer", "points", "extracted"), [
    ("single_choice", "【解析】选A不对<eoe>\n【答案】 C <eoa>", ["C"], 1, ["C"]),
    ("single_choice", "no letters", ["C"], 0, []),
    ("multi_question_choice", "（1）【答案】 A <eoa>\n（2）【答案】：B <eoa>", ["A", "C"], 1, ["A", "B"]),
    ("multi_question_choice", "A then D, and B", ["A", "D"], 2, ["A", "D"]),
    ("multi_choice", "【解析】 ... 【答案】 B C <eoa>", ["BC"], 2, ["BC"]),
    ("multi_choice", "【解析】 ... 【答案】 B <eoa>", ["BC"], 1, ["B"]),
    ("multi_choice", "【解析】 ... 【答案】 AB <eoa>", ["BC"], 0, ["AB"]),
    ("multi_choice", "I choose BD", ["BD"], 2, ["BD"]),
    ("five_out_of_seven", "【答案】 A G C D E F <eoa>", ["A", "G", "C", "D", "F"], 4,
     ["A", "G", "C", "D", "E"]),
])
def test_scoring(kind, text, answer, points, extracted):
    result = _score(kind, text, answer)
    assert result.extra["points"] == points and result.extracted == extracted
    assert result.weight == (2 if kind == "multi_choice" else 1) * len(answer)


def test_weighted_average():
    task = get_task("gaokao:opencompass")
    records = [{"score": 1.0, "weight": 1, "meta": {"subset": "2010-2022_Math_II_MCQs"}},
               {"score": 0.0, "weight": 2, "meta": {"subset": "2010-2013_English_MCQs"}}]
    value = aggregate(records, task.aggregation, resamples=10)["score"]["value"]
    assert value == pytest.approx(100 * 1090 / (1090 + 105))


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(gaokao, "MAX_NEW_TOKENS", 4)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("gaokao:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
