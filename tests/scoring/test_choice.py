"""Multiple-choice scorers: Qwen's softmax over the letters' probabilities, OpenCompass's PPL."""

from __future__ import annotations

import math

from evaluate.scoring.choice import (
    label_score,
    lowest_ppl_choice,
    next_token_choice,
    ppl_values,
    softmax_pick,
)
from evaluate.task import ScoreInput


def test_next_token_choice_softmax_over_probabilities():
    result = next_token_choice(ScoreInput(id="x", target="B"),
                               [{"logprobs": [-3.0, -1.0, -2.0, -5.0]}])
    assert result.extracted == "B" and result.score == 1.0
    assert math.isclose(sum(result.extra["probs"]), 1.0, rel_tol=1e-6)
    # Both probabilities underflow to 0 in float32: the scripts' argmax takes the first.
    assert softmax_pick([-200.0, -150.0, -300.0, -400.0])[0] == 0


def test_truncation_is_reported_and_an_unknown_gold_scores_nan():
    result = next_token_choice(ScoreInput(id="x", target=None),
                               [{"logprobs": [-1.0, -2.0, -3.0, -4.0], "truncated": True}])
    assert result.extracted == "A" and math.isnan(result.score) and result.extra["truncated"]
    assert label_score("A", "A") == 1.0 and label_score("A", "B") == 0.0


def test_ppl_scoring_is_average_over_all_prompt_tokens():
    # context of 9 tokens (8 predicted, NLL 16), then one letter token: n = 10 tokens.
    responses = [{"logprobs": [-1.0, -0.5, -4.0, -0.5]}, {"nll": 16.0, "num_tokens": 8}]
    assert ppl_values(responses) == [1.7, 1.65, 2.0, 1.65]
    result = lowest_ppl_choice(ScoreInput(id="x", target="D"), responses)
    assert result.extracted == "B" and result.score == 0.0  # first of the tied minimum
