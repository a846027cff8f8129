"""race:opencompass / race-middle:opencompass: prompts on real rows, counts, scoring, tiny run."""

import json

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput


def test_counts_and_prompt(data_dir):
    high = {d.id: d for d in get_task("race:opencompass").load(DataDir(data_dir))}
    middle = get_task("race-middle:opencompass").load(DataDir(data_dir))
    assert len(high) == 3498 and len(middle) == 1436
    article = json.loads((data_dir / "race/RACE/test/high/10001.txt").read_text("utf-8"))
    doc = high["high10001/1"]
    options = article["options"][1]
    assert doc.target == article["answers"][1]
    assert doc.data["prompt"] == (
        "Read the article, and answer the question by replying A, B, C or D.\n\n"
        + article["article"] + "\n\nQ: " + article["questions"][1] + "\n\n"
        + f"A. {options[0]}\nB. {options[1]}\nC. {options[2]}\nD. {options[3]}\n\nAnswer:")


def test_scoring_picks_the_lowest_average_nll():
    task = get_task("race:opencompass-unbatched")
    # context NLL 10 over 9 tokens (+1 letter): the letter with the highest log-prob wins
    responses = [{"logprobs": [-3.0, -1.0, -2.0, -4.0]}, {"nll": 10.0, "num_tokens": 9}]
    assert task.score(ScoreInput(id="0", target="B"), responses).score == 1.0
    assert task.score(ScoreInput(id="0", target="A"), responses).extracted == "B"


def test_batched_rows_score_sum_over_nonpad_tokens():
    task = get_task("race:opencompass")
    assert task.request_batching is not None and task.request_batching.size == 8
    # rows of a padded batch: the value is nll / nonpad tokens (the first token's loss included)
    responses = [{"nll": 12.0, "num_tokens": 10, "left_pad": 3, "nonpad_tokens": 10},
                 {"nll": 11.0, "num_tokens": 10, "left_pad": 3, "nonpad_tokens": 10},
                 {"nll": 10.0, "num_tokens": 9, "left_pad": 0, "nonpad_tokens": 10},
                 {"nll": 10.5, "num_tokens": 9}]  # unpadded: 9 labels of 10 tokens
    scored = task.score(ScoreInput(id="0", target="C"), responses)
    assert scored.extracted == "C" and scored.extra["avg_nll"] == [1.2, 1.1, 1.0, 1.05]


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    results = run_task(get_task("race-middle:opencompass"), backend, DataDir(data_dir),
                       tmp_path, "tiny", RunOptions(limit=2, progress=False))
    assert results["complete"] and results["samples"] == 2
