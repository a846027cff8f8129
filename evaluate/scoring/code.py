"""Code scoring: run generated programs in the sandbox and turn verdicts into scores.

A task builds each checked program (its prompt, the completion, its tests) and passes the
programs here; they run in parallel in :mod:`evaluate.sandbox` with a time limit.

- :func:`program_verdicts`: one program per sample (greedy pass@1): score 1/0, ``extra`` the
  sandbox status (``passed``, ``failed``, ``error``, ``timeout``, ...) and its detail.
- :func:`pass_fraction`: several programs per sample (sampled completions): score c / n (the
  unbiased pass@1 of that sample), ``extra`` n, c and every status and detail, in order.
"""

from __future__ import annotations

from evaluate.task import Scored


def program_verdicts(completions: list[str], programs: list[str], timeout_s: float,
                     progress: bool = True) -> list[Scored]:
    """Run ``programs[i]`` (built from ``completions[i]``); one Scored per program."""
    from evaluate.sandbox import Limits, run_programs

    results = run_programs(programs, Limits(timeout_s=timeout_s),
                           progress=progress and len(programs) > 1)
    return [
        Scored(extracted=completion, score=float(result.passed),
               extra={"status": result.status, "detail": result.detail})
        for completion, result in zip(completions, results, strict=True)
    ]


def pass_fraction(completions: list[list[str]], programs: list[list[str]], timeout_s: float,
                  progress: bool = True) -> list[Scored]:
    """Run every sample's programs; per sample, the fraction that pass and each verdict."""
    from evaluate.sandbox import Limits, run_programs

    flat = [p for ps in programs for p in ps]
    results = run_programs(flat, Limits(timeout_s=timeout_s), progress=progress and len(flat) > 1)
    scored, start = [], 0
    for cs, ps in zip(completions, programs, strict=True):
        mine = results[start : start + len(ps)]
        start += len(ps)
        passed = sum(r.passed for r in mine)
        scored.append(Scored(
            extracted=cs, score=passed / len(ps) if ps else 0.0,
            extra={"n": len(ps), "passed": passed, "status": [r.status for r in mine],
                   "detail": [r.detail for r in mine]},
        ))
    return scored
