"""TheoremQA answer extraction and comparison as OpenCompass ran them (PROTOCOLS_MORE.md B3).

``TheoremQA_postprocess_v3`` (:func:`answer_clean`) and ``TheoremQAEvaluatorV3``'s
``compare_answer_with_groundtruth`` (:func:`is_correct`) as of OC@2954913d. Both ``eval`` text
derived from the model's reply, so this module is **never imported by the harness**: it is
standalone (standard library, SymPy) and its source is sent to the sandbox as a program
(:mod:`evaluate.scoring.theoremqa`), which prints one JSON line of verdicts.

Kept quirks: after the answer trigger, any text containing ``yes``/``true`` reads as ``True``
and any containing ``no``/``false`` (``not``, ``number``, ``know``) as ``False``; ``eval`` runs
in the namespaces OpenCompass's modules gave it (``number_it`` sees ``math``'s ``sqrt``, ``pi``,
... and ``E = 2.718``); floats match within 4 %, integers after ``round``. ``whole_words=True``
(the fixed variant) reads yes/true/no/false only as whole words.

LaTeX parser: OpenCompass called ``latex2sympy2.latex2sympy``; that package pins the ANTLR
runtime 4.7.2, which cannot share an environment with SymPy's own ``parse_latex`` (ANTLR 4.11).
:func:`latex2sympy` uses ``latex2sympy2`` when it imports and works, else SymPy's
``parse_latex``; which one ran is reported (``parser``).
"""

import json
import math
import re
import signal

TRIGGERS = ("The answer is:", "The answer is", "the answer is")
OPTIONS = ("(a)", "(b)", "(c)", "(d)", "(e)", "(f)")
NUMBER_NAMES = {name: getattr(math, name)
                for name in ("sqrt", "sin", "cos", "log", "pi", "factorial", "exp", "e")}
NUMBER_NAMES.update(math=math, E=2.718)  # number_utils.py's module globals
_PARSER: list = []  # [(name, parse function)], filled on first use


def latex2sympy(text):
    """The LaTeX parser OpenCompass used when available, else SymPy's (see module docstring)."""
    if not _PARSER:
        try:
            from latex2sympy2 import latex2sympy as parse  # noqa: I001
            parse("1")
            _PARSER.append(("latex2sympy2", parse))
        except Exception:
            from sympy.parsing.latex import parse_latex
            _PARSER.append(("sympy.parse_latex", parse_latex))
    return _PARSER[0][1](text)


class _Alarm:
    """OpenCompass's ``time_limit``: ``ITIMER_REAL`` raising ValueError."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        def handler(signum, frame):
            raise ValueError("time limit")
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


def clean_units(text):
    text = text.replace("\\pi", "π")
    text = re.sub(r"(?<![\d}])\\?π", "3.14", text)
    text = re.sub(r"(\d)(\\?π)", r"\1*3.14", text)
    text = re.sub(r"\{(\\?π)\}", "3.14", text)
    text = re.sub(r"\*(\\?π)", "*3.14", text)
    for old, new in (("%", "/100"), ("$", ""), ("¥", ""), ("°C", ""), (" C", ""), ("°", "")):
        text = text.replace(old, new)
    return text


def _has(text, words, whole_words):
    if whole_words:
        return any(re.search(r"\b" + w + r"\b", text.lower()) for w in words)
    return any(w in text.lower() for w in words)


def extract(pred, answer_flag, whole_words=False):
    """``extract_theoremqa_answer``."""
    if _has(pred, ("yes", "true"), whole_words):
        return "True"
    if _has(pred, ("no", "false"), whole_words):
        return "False"
    if any(option in pred.lower() for option in OPTIONS):
        return pred
    if not answer_flag:
        numbers = re.findall(r"-?\d*\.?\d+", pred)
        return numbers[-1] if numbers else ""
    pred = clean_units(pred.split("=")[-1].strip())
    try:
        with _Alarm(1):
            pred = str(eval(str(latex2sympy(pred)), {}))
    except Exception:
        if re.match(r"-?[\d\.]+\s\D+$", pred) or re.match(r"-?[\d\.]+\s[^\s]+$", pred):
            pred = pred.split(" ")[0]
    return pred


def answer_clean(text, whole_words=False):
    """``TheoremQA_postprocess_v3``: the prediction string."""
    text = text.strip("\n")
    if any(text.count(trigger) > 1 for trigger in TRIGGERS):
        text = text.split("\n\n")[0]
    pieces = re.split("|".join(TRIGGERS), text)
    answer_flag = len(pieces) > 1
    if answer_flag:
        text = pieces[-1]
    text = text.strip("\n").rstrip(".").rstrip("/").strip(" ")
    return extract(text, answer_flag, whole_words).rstrip(".").rstrip("/")


def floatify(value):
    try:
        number = float(value)
    except Exception:
        return None
    return round(number) if number.is_integer() else number


def number_it(value):
    if isinstance(value, (int, float)):
        return value
    value = clean_units(value)
    try:
        value = str(latex2sympy(value))
    except Exception:
        pass
    if floatify(value) is not None:
        return floatify(value)
    try:
        value = eval(value, dict(NUMBER_NAMES))
        if isinstance(value, (list, tuple)):
            value = value[0]
        return floatify(value)
    except Exception:
        return None


def compare_numbers(pred, truth):
    try:
        if math.isnan(pred):
            return False
        if isinstance(truth, int):
            return round(pred) == truth
        return truth - abs(truth) * 0.04 <= pred <= truth + abs(truth) * 0.04
    except Exception:
        return False


def compare_lists(pred, truth):
    if not isinstance(pred, list) or len(pred) != len(truth):
        return False
    if any(not isinstance(x, (int, float)) for x in pred):
        return False
    return all(compare_numbers(p, g) for p, g in zip(sorted(pred), sorted(truth), strict=True))


def is_correct(answer, truth, truth_num=None):
    """``compare_answer_with_groundtruth``."""
    if truth.lower() in OPTIONS:
        return truth.lower() in answer.lower()
    if answer.lower() == truth.lower():
        return True
    if truth_num is None:
        return False
    if isinstance(truth_num, (int, float)):
        return compare_numbers(number_it(answer), truth_num)
    if answer.startswith("(") and answer.endswith(")"):
        try:
            values = [number_it(a) for a in list(eval(answer, {}))]
        except Exception:
            return False
        return compare_lists(values, truth_num)
    return False


class _TooLong(BaseException):
    """Raised by the CPU-time guard; a BaseException so OpenCompass's ``except Exception``
    blocks do not swallow it."""


def _cpu_guard(signum, frame):
    raise _TooLong()


def score_items(items, whole_words=False, guard_s=10):
    """Verdicts for ``[{"text", "answer", "answer_type"}]``; a comparison over ``guard_s`` CPU
    seconds (OpenCompass had no limit there) is wrong and marked ``"timeout"``."""
    signal.signal(signal.SIGVTALRM, _cpu_guard)
    verdicts = []
    for item in items:
        pred, status = "", "ok"
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, guard_s)
            pred = answer_clean(item["text"], whole_words)
            truth = item["answer"]
            truth_num = (eval(truth, dict(NUMBER_NAMES))
                         if item["answer_type"] in ("float", "integer", "bool") else None)
            correct = bool(is_correct(pred, truth, truth_num))
        except _TooLong:
            correct, status = False, "timeout"
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        verdicts.append({"pred": pred, "correct": correct, "status": status})
    parser = _PARSER[0][0] if _PARSER else None
    print(json.dumps({"verdicts": verdicts, "parser": parser}))
