"""EvalPlus's differential testing (evalplus 0.3.1) on HumanEval+ / MBPP+, in the sandbox.

A solution passes a test set (``base_input`` or ``plus_input``) when, for every input, its output
equals the canonical solution's, as ``evalplus.eval.unsafe_execute`` compares them:

- ``out == expected``; else, with a tolerance (the problem's ``atol``, or ``1e-6`` once a float
  output has been met while ``atol`` is 0 -- the change sticks for the later inputs, as there),
  same type, same length for a list or tuple, and ``numpy.allclose(out, exp, rtol=1e-7, atol)``;
- EvalPlus's special oracles: HumanEval/32 ``find_zero`` (``|poly(xs, out)| <= atol``), and for
  MBPP ``are_equivalent`` (any output), ``sum_div`` (or 0), ``surface_Area`` and
  ``digit_distance_nums`` (their reference formulas), set equality for
  :data:`MBPP_SET_EQUAL`, and "is not None" for :data:`MBPP_NOT_NONE` (whose expected outputs
  are recorded as booleans).

Time limits as EvalPlus sets them: each input may take ``max(1 s, 4 x the canonical solution's
time on it)`` and the whole set ``min(60 s, sum of those) + 2 s``; the canonical solution is
timed in the same sandboxed process, just before the candidate runs (EvalPlus times it once,
outside any sandbox, and caches it). Base and plus tests are two programs (two processes, as in
EvalPlus), stopping at the first failing input (EvalPlus's default ``fast_check``); memory is
capped at 4 GiB (``EVALPLUS_MAX_MEMORY_BYTES``'s default).

MBPP+ inputs are stored as JSON; :func:`mbpp_inputs` restores the tuples, sets and complex
numbers some problems take (``evalplus.data.mbpp.mbpp_deserialize_inputs``).
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Sequence
from typing import Any

MIN_TIME_LIMIT_S = 1.0  # evalplus.config.DEFAULT_MIN_TIME_LIMIT
TIME_LIMIT_FACTOR = 4.0  # evalplus.config.DEFAULT_GT_TIME_LIMIT_FACTOR
TASK_TIME_CAP_S = 60.0  # EVALPLUS_TIMEOUT_PER_TASK's default
MEMORY_MB = 4096
MBPP_NOT_NONE = ("check_str", "text_match_three", "text_starta_endb")
MBPP_SET_EQUAL = ("similar_elements", "find_char_long", "common_in_nested_lists",
                  "extract_singly", "larg_nnum", "intersection_array", "find_dissimilar", "Diff")

# MBPP+ problem number -> how its JSON inputs become the Python values the problem takes.
_MBPP_TUPLES = {
    "args": (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616,
             630, 726, 740, 744, 809),
    "args_items": (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780),
    "first_items": (75, 413, 444, 753),
    "second": (106, 750),
    "first": (250, 405, 446, 617, 720, 763, 808),
    "args_items_then_args": (259, 401, 445),
    "deep": (580, 615, 791),
}


def _deep_tuple(value: Any) -> Any:
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, list) else value


def mbpp_inputs(task_id: str, inputs: list) -> list:
    """MBPP+ inputs as the problem takes them (see the module docstring)."""
    n = int(task_id.split("/")[-1])
    kind = next((k for k, ids in _MBPP_TUPLES.items() if n in ids), None)
    if kind == "args":
        return [[tuple(a) for a in inp] for inp in inputs]
    if kind == "args_items":
        return [[[tuple(x) for x in a] for a in inp] for inp in inputs]
    if kind == "first_items":
        return [[[tuple(x) for x in inp[0]]] + [inp[1]] for inp in inputs]
    if kind == "second":
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if kind == "first":
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if kind == "args_items_then_args":
        return [[tuple(a) for a in [[tuple(x) for x in arg] for arg in inp]] for inp in inputs]
    if kind == "deep":
        return [_deep_tuple(inp) for inp in inputs]
    if n == 115:
        return [[[set(x) if isinstance(x, list) and len(x) else {} for x in inp[0]]]
                for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n == 278:
        staged = [[[tuple(x) if isinstance(x, list) else x for x in inp[0]]] for inp in inputs]
        return [[tuple(a) for a in inp] for inp in staged]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    return inputs


# The checking program: canonical solution timed first, then the candidate, input by input.
_HARNESS = '''
import base64, contextlib, copy, io, math, pickle, signal, time
import numpy as np
DATASET, ENTRY, ATOL, NOT_NONE = {dataset!r}, {entry!r}, {atol!r}, {not_none!r}
SET_EQUAL, MIN_LIMIT, FACTOR, CAP = {set_equal!r}, {min_limit!r}, {factor!r}, {cap!r}
INPUTS = pickle.loads(base64.b64decode({inputs!r}))
def quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack
def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    if isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False
def poly(xs, x):
    return sum([c * math.pow(x, i) for i, c in enumerate(xs)])
def surface_area(b, h):
    return round(b ** 2 + 4 * (b * math.sqrt((b / 2) ** 2 + h ** 2)) / 2)
def digit_distance(a, b):
    a, b = str(a), str(b)
    w = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(w), b.zfill(w)))
class Timeout(Exception):
    pass
def alarm(signum, frame):
    raise Timeout()
signal.signal(signal.SIGALRM, alarm)
reference = {{}}
with quiet():
    exec({reference!r}, reference)
expected, limits = [], []
for inp in INPUTS:
    args = copy.deepcopy(inp)
    start = time.time()
    with quiet():
        expected.append(reference[ENTRY](*args))
    limits.append(max(MIN_LIMIT, FACTOR * (time.time() - start)))
if NOT_NONE:
    expected = [e is not None for e in expected]
budget, start = min(CAP, sum(limits)) + 2, time.time()
signal.setitimer(signal.ITIMER_REAL, budget)
candidate = {{}}
with quiet():
    exec({code!r}, candidate)
signal.setitimer(signal.ITIMER_REAL, 0)
fn, atol = candidate[ENTRY], ATOL
for i, inp in enumerate(INPUTS):
    left = budget - (time.time() - start)
    if left <= 0:
        raise Timeout("time budget of the test set spent")
    signal.setitimer(signal.ITIMER_REAL, min(limits[i], left))
    try:
        with quiet():
            out = fn(*inp)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    exp = expected[i]
    exact = out == exp
    if DATASET == "mbpp":
        if ENTRY == "are_equivalent":
            exact = True
        elif ENTRY == "sum_div":
            exact = exact or out == 0
        elif ENTRY == "surface_Area":
            exact = exact or abs(out - surface_area(*inp)) <= atol
        elif ENTRY == "digit_distance_nums":
            exact = exact or out == digit_distance(*inp)
        elif ENTRY in SET_EQUAL:
            exact = set(out) == set(exp)
        elif NOT_NONE:
            exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    if DATASET == "humaneval" and ENTRY == "find_zero":
        assert abs(poly(*inp, out)) <= atol, f"input {{i}}"
        continue
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        assert type(out) == type(exp), f"input {{i}}: type"
        if isinstance(exp, (list, tuple)):
            assert len(out) == len(exp), f"input {{i}}: length"
        assert np.allclose(out, exp, rtol=1e-07, atol=atol), f"input {{i}}"
    else:
        assert exact, f"input {{i}}"
'''


def harness(dataset: str, reference: str, code: str, entry_point: str, inputs: list,
            atol: float) -> str:
    """The sandbox program checking ``code`` on ``inputs`` against ``reference``."""
    return _HARNESS.format(
        dataset=dataset, entry=entry_point, atol=atol,
        not_none=dataset == "mbpp" and entry_point in MBPP_NOT_NONE, set_equal=MBPP_SET_EQUAL,
        min_limit=MIN_TIME_LIMIT_S, factor=TIME_LIMIT_FACTOR, cap=TASK_TIME_CAP_S,
        inputs=base64.b64encode(pickle.dumps(inputs)).decode("ascii"),
        reference=reference, code=code)


def check(dataset: str, problems: Sequence[dict[str, Any]], solutions: Sequence[str],
          progress: bool = False) -> list[dict[str, Any]]:
    """Base and plus verdicts of each solution (``problems``: rows with inputs restored)."""
    from evaluate.sandbox import Limits, run_programs

    programs = []
    for problem, code in zip(problems, solutions, strict=True):
        reference = problem["prompt"] + problem["canonical_solution"]
        for field in ("base_input", "plus_input"):
            programs.append(harness(dataset, reference, code, problem["entry_point"],
                                    problem[field], problem["atol"]))
    limits = Limits(timeout_s=TASK_TIME_CAP_S * 3, memory_mb=MEMORY_MB, output_bytes=4096)
    results = run_programs(programs, limits, progress=progress)
    verdicts = []
    for base, plus in zip(results[0::2], results[1::2], strict=True):
        verdicts.append({"base": base.passed, "plus": base.passed and plus.passed,
                         "base_status": base.status, "plus_status": plus.status,
                         "detail": (base.detail if not base.passed else plus.detail)[:200]})
    return verdicts
