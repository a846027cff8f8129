"""Aggregation math on synthetic per-sample scores."""

from __future__ import annotations

import math

import pytest

from evaluate.metrics import aggregate
from evaluate.task import Aggregation


def _records(groups_scores):
    return [{"score": s, "weight": 1.0, "meta": {"subject": g}} for g, s in groups_scores]


def test_micro_vs_macro_and_categories():
    # subject a: 3/4 right; subject b: 0/1; subject c: 1/1
    data = [("a", 1), ("a", 1), ("a", 1), ("a", 0), ("b", 0), ("c", 1)]
    micro = aggregate(_records(data), Aggregation(by="subject", per_group=True,
                                                  categories={"AB": ["a", "b"], "C": ["c"]}))
    assert micro["accuracy"]["value"] == pytest.approx(100 * 4 / 6)
    assert micro["category:AB"]["value"] == pytest.approx(100 * 3 / 5)
    assert micro["category:C"]["value"] == pytest.approx(100.0)
    assert micro["subject:a"]["value"] == pytest.approx(75.0)
    assert micro["subject:b"]["n"] == 1
    macro = aggregate(_records(data), Aggregation(average="macro", by="subject",
                                                  categories={"AB": ["a", "b"]}))
    assert macro["accuracy"]["value"] == pytest.approx(100 * (0.75 + 0 + 1) / 3)
    assert macro["category:AB"]["value"] == pytest.approx(100 * (0.75 + 0) / 2)


def test_bootstrap_stderr_matches_binomial_formula():
    n, p = 400, 0.3
    records = [{"score": 1.0 if i < n * p else 0.0, "meta": {}} for i in range(n)]
    result = aggregate(records, Aggregation())["accuracy"]
    analytic = 100 * math.sqrt(p * (1 - p) / n)
    assert result["value"] == pytest.approx(30.0)
    assert result["stderr"] == pytest.approx(analytic, rel=0.1)


def test_weighted_exp_transform_is_perplexity():
    # two windows: 10 tokens with mean NLL 1.0, 30 tokens with mean NLL 2.0
    records = [{"score": 1.0, "weight": 10, "meta": {}}, {"score": 2.0, "weight": 30, "meta": {}}]
    result = aggregate(records, Aggregation(metric="ppl", transform="exp"))["ppl"]
    assert result["value"] == pytest.approx(math.exp((10 * 1.0 + 30 * 2.0) / 40))


def test_empty_and_invalid():
    assert aggregate([], Aggregation()) == {}
    with pytest.raises(ValueError):
        Aggregation(average="macro")
