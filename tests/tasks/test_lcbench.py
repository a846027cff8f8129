"""lcbench:opencompass: the prompt to the character (PROTOCOLS_MORE.md B6), reference code as
replies, grouping by contest, and end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import lcbench

EN_Q = ("You are an expert Python programmer, and here is your task: {text} Your code should "
        "pass these tests:\n\n {test_list}  \n")
CN_Q = ("你是一名专业的 Python 程序员，下面是你的任务: {text} "
        "你的代码需要通过以下测试:\n\n {test_list}  \n")


@pytest.fixture(scope="module")
def docs(data_dir):
    return {d.id: d for d in get_task("lcbench:opencompass").load(DataDir(data_dir))}


def test_loads_rows_5_on_of_both_languages(docs, data_dir):
    assert len(docs) == 2 * 576 and "en/5" in docs and "en/4" not in docs and "cn/580" in docs
    meta = docs["en/5"].meta
    assert (meta["lang"], meta["contest"], meta["difficulty"]) == ("en", "en/377/2976", "MEDIUM")
    contests = {d.meta["contest"] for d in docs.values()}
    assert sum(c.startswith("en/") for c in contests) == 575  # one en contest id has two rows
    assert sum(c.startswith("cn/") for c in contests) == 576
    # the weights make the weighted mean the mean of the two languages' grouped pass@1
    for lang in ("en", "cn"):
        assert sum(d.meta["weight"] for d in docs.values() if d.meta["lang"] == lang
                   ) == pytest.approx(1.0)


def test_prompt_to_the_character(docs):
    doc = docs["en/5"]
    row = doc.data["row"]
    tests = ('assert minimumCost(source = "abcd", target = "acbe", original = ["a","b","c","c",'
             '"e","d"], changed = ["b","c","b","e","b","e"], cost = [2,5,5,1,2,20]) == 28\n'
             'assert minimumCost(source = "aaaa", target = "bbbb", original = ["a","c"], '
             'changed = ["c","b"], cost = [1,2]) == 12\nassert minimumCost(source = "abcd", '
             'target = "abce", original = ["a"], changed = ["e"], cost = [10000]) == -1')
    assert row["test_list"] == tests
    shots = "\n".join(prompt for _, prompt in lcbench.EN[:6])
    expected = (shots + "\n" + EN_Q.replace("{text}", row["text"]).replace("{test_list}", tests)
                + "\n[BEGIN]\n")
    [request] = lcbench.build(doc)
    assert request.context == expected and request.stop == () and request.max_new_tokens == 512
    # the shots' joints: each BOT shot ends "[DONE] \n\n " and the next turn follows a "\n"
    assert "return list(accumulate(A))' \n[DONE] \n\n \nYou are an expert" in request.context
    assert request.context.startswith("You are an expert Python programmer, and here is your "
                                      "task: You are given three positive integers n, x, and y.")
    cn = lcbench.build(docs["cn/5"])[0].context
    # the first Chinese shot has a full-width colon, the others and the question do not
    assert cn.startswith("你是一名专业的 Python 程序员，下面是你的任务： 给你三个")
    assert cn.endswith(CN_Q.replace("{text}", docs["cn/5"].data["row"]["text"]).replace(
        "{test_list}", docs["cn/5"].data["row"]["test_list"]) + "\n[BEGIN]\n")


def _score(docs, ids, replies):
    task = get_task("lcbench:opencompass")
    samples = [ScoreInput(i, docs[i].target, docs[i].meta, docs[i].reference) for i in ids]
    return task.score_all(samples, [[{"text": r}] for r in replies])


def test_reference_code_passes(docs):
    """The first 30 English test problems' reference code passes. Known misses elsewhere are the
    data's and the protocol's: solutions that rely on LeetCode's implicit imports (en/90:
    defaultdict) and the cleaner's dropping of a trailing quote (en/85)."""
    ids = [f"en/{n}" for n in range(5, 35)] + ["en/85", "en/90"]
    scored = _score(docs, ids, [docs[i].target for i in ids])
    assert [s.extra["status"] for s in scored[:30]] == ["passed"] * 30
    # the cleaner drops one trailing "'": here the closing quote of the last line's literal
    assert "SyntaxError" in scored[30].extra["detail"] and docs["en/85"].target.endswith("'1'")
    assert "NameError: name 'defaultdict'" in scored[31].extra["detail"]


def test_shot_style_reply_and_grouping(docs):
    code = docs["en/6"].target
    reply = f" '{code}' \n[DONE] \n\n \nYou are an expert Python programmer"  # as the shots
    scored = _score(docs, ["en/6", "cn/6"], [reply, "[BEGIN]\n 'def x(:' \n[DONE]"])
    assert [s.score for s in scored] == [1.0, 0.0]
    records = [{"meta": docs[i].meta, "score": s.score, "extra": dict(s.extra)}
               for i, s in zip(["en/6", "cn/6"], scored, strict=True)]
    facts = get_task("lcbench:opencompass").results_extra(records)
    assert facts["pass@1_by_language"] == {"cn": 0.0, "en": 100.0}
    assert facts["row_mean_of_languages"] == 50.0


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(lcbench, "MAX_NEW_TOKENS", 8)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("lcbench:opencompass"), backend, DataDir(data_dir), tmp_path,
                       "tiny", RunOptions(limit=3, progress=False))
    assert results["complete"] and results["samples"] == 3
    samples = [json.loads(line) for line in open(Path(results["run_dir"]) / "samples.jsonl")]
    assert all(s["responses"][0]["num_tokens"] <= 8 for s in samples)
    assert results["metrics"]["pass@1"]["value"] == pytest.approx(
        100 * sum(s["score"] * s["weight"] for s in samples) / sum(s["weight"] for s in samples))
    assert "uncertain" in get_task("lcbench:opencompass").metric_note


def test_reported_rows():
    from evaluate.reported import lookup_in

    assert lookup_in("opencompass_qwen1.5_base", "Qwen/Qwen1.5-72B", "lcbench:opencompass") == 15.29
