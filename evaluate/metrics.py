"""Aggregate per-sample scores into metrics, with bootstrap standard errors.

The aggregation is declarative (:class:`evaluate.task.Aggregation`), which lets one vectorised
bootstrap serve every task: each resample is a vector of multinomial counts over the samples, and
every metric (micro mean, macro mean over groups, category means) is a ratio of count-weighted
sums, so B resamples cost a few matrix products instead of B Python loops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluate.task import Aggregation

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 1234


def aggregate(
    records: Sequence[dict[str, Any]],
    aggregation: Aggregation,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, dict[str, float]]:
    """Metrics from per-sample records (each with ``score``, ``weight`` and ``meta``).

    Returns ``{name: {"value", "stderr", "n"}}``: the headline under ``aggregation.metric``, each
    category as ``"category:NAME"`` and, with ``per_group``, each group as ``"BY:VALUE"``.
    """
    if not records:
        return {}
    scores = np.array([float(r["score"]) for r in records])
    weights = np.array([float(r.get("weight", 1.0)) for r in records])
    by = aggregation.by
    groups = [str(r["meta"].get(by)) for r in records] if by else ["all"] * len(records)

    # Each metric is a function of per-group weighted sums: sum(w*s) and sum(w) per group.
    names = sorted(set(groups))
    group_index = {name: i for i, name in enumerate(names)}
    membership = np.zeros((len(records), len(names)))
    membership[np.arange(len(records)), [group_index[g] for g in groups]] = 1.0

    def metrics_from(counts: np.ndarray) -> dict[str, np.ndarray]:
        # counts: (B, n) multiplicities of each sample; returns {metric: (B,) values}
        num = (counts * (weights * scores)) @ membership  # (B, G)
        den = (counts * weights) @ membership
        with np.errstate(invalid="ignore", divide="ignore"):
            group_mean = num / den
        out: dict[str, np.ndarray] = {}

        def combine(selected: list[int]) -> np.ndarray:
            if aggregation.average == "macro" and aggregation.group_weights:
                w = np.array([aggregation.group_weights.get(names[i], 1.0) for i in selected])
                values = group_mean[:, selected]
                known = np.isfinite(values)
                with np.errstate(invalid="ignore", divide="ignore"):
                    return (np.where(known, values, 0.0) * w).sum(axis=1) / (known * w).sum(axis=1)
            if aggregation.average == "macro":
                with np.errstate(invalid="ignore"):
                    return np.nanmean(group_mean[:, selected], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return num[:, selected].sum(axis=1) / den[:, selected].sum(axis=1)

        out[aggregation.metric] = combine(list(range(len(names))))
        for category, members in aggregation.categories.items():
            selected = [group_index[m] for m in members if m in group_index]
            if selected:
                out[f"category:{category}"] = combine(selected)
        if aggregation.per_group and by:
            for name, i in group_index.items():
                out[f"{by}:{name}"] = group_mean[:, i]
        return out

    def finish(values: np.ndarray) -> np.ndarray:
        if aggregation.transform == "exp":
            return np.exp(values)
        return values * aggregation.scale

    point = {k: finish(v)[0] for k, v in metrics_from(np.ones((1, len(records)))).items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in point}
    n = len(records)
    for start in range(0, resamples, 100):
        size = min(100, resamples - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        for key, values in metrics_from(counts).items():
            draws[key].append(finish(values))

    sizes = _counts_per_metric(groups, aggregation)
    result = {}
    for key, value in point.items():
        samples = np.concatenate(draws[key])
        samples = samples[np.isfinite(samples)]
        stderr = float(np.std(samples, ddof=1)) if len(samples) > 1 else math.nan
        result[key] = {"value": float(value), "stderr": stderr, "n": sizes.get(key, n)}
    return result


def _counts_per_metric(groups: list[str], aggregation: Aggregation) -> dict[str, int]:
    sizes: dict[str, int] = {aggregation.metric: len(groups)}
    for category, members in aggregation.categories.items():
        wanted = set(members)
        sizes[f"category:{category}"] = sum(1 for g in groups if g in wanted)
    if aggregation.per_group and aggregation.by:
        for g in set(groups):
            sizes[f"{aggregation.by}:{g}"] = groups.count(g)
    return sizes
