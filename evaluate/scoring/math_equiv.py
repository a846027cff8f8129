"""MATH answers: ``\\boxed`` extraction, the published normalisations, and equivalence.

Three published rule sets, each reproduced as written (quirks included):

- Hendrycks et al.'s string equivalence (``is_equiv`` / ``_strip_string`` of the MATH release),
  as OpenCompass's 2023 ``MATHEvaluator`` (OC@2c915218) runs it: :func:`hendrycks_equiv`.
- Minerva (Lewkowycz et al. 2022, appendix D) as lm-evaluation-harness ``minerva_math``
  (LM@0348ed97) runs it: the ``Final Answer: ...`` line (:func:`minerva_answer`),
  :func:`minerva_normalize`, and SymPy equivalence of the two LaTeX strings parsed by SymPy's
  ``parse_latex`` (ANTLR backend): :class:`SympyJudge`.
- OpenCompass's ``math_postprocess`` v1 and v2 and ``MATHEvaluator(version='v2')`` live in
  :mod:`evaluate.scoring.math_opencompass`.

:class:`SympyJudge` runs every comparison in a worker process under a wall-clock limit (the
protocol's 5 s): a comparison that hangs (SymPy can spend minutes, or block in C on a huge power)
is killed and reads as not equal, and every outcome is named (``equal``, ``different``,
``unparsable``, ``timeout``, ``error``) so a run can count them.
"""

from __future__ import annotations

import atexit
import json
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

# ---- \boxed{...} ---------------------------------------------------------------------------------


def last_boxed_only_string(text: str, boxed_space: bool = False) -> str | None:
    """The last ``\\boxed{...}`` (else ``\\fbox{...}``) with matched braces, wrapper included.

    ``boxed_space``: Minerva's extra rule: if ``"\\boxed "`` occurs, return ``"\\boxed "`` + the
    text after its last occurrence up to the next ``$``.
    """
    if boxed_space and "\\boxed " in text:
        return "\\boxed " + text.split("\\boxed ")[-1].split("$")[0]
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def remove_boxed(boxed: str | None, boxed_space: bool = False) -> str | None:
    """``\\boxed{X}`` -> ``X`` (with ``boxed_space``, also ``\\boxed X`` -> ``X``); None for
    any other form (``\\fbox{X}``, no box)."""
    if boxed is None:
        return None
    if boxed_space and boxed.startswith("\\boxed "):
        return boxed[len("\\boxed ") :]
    if boxed.startswith("\\boxed{") and boxed.endswith("}"):
        return boxed[len("\\boxed{") : -1]
    return None


def boxed_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (OpenCompass 2023 reference: no ``\\fbox``)."""
    return remove_boxed(last_boxed_only_string(text))


# ---- Hendrycks et al. (MATH release), as OpenCompass's 2023 MATHEvaluator ----------------------


def _fix_fracs(text: str) -> str:
    pieces = text.split("\\frac")
    out = pieces[0]
    for piece in pieces[1:]:
        out += "\\frac"
        if piece[0] == "{":  # an empty piece raises IndexError, as in the original
            out += piece
            continue
        if len(piece) < 2:
            return text
        a, b, rest = piece[0], piece[1], piece[2:]
        out += "{" + a + "}{" + b + "}" + rest if b != "{" else "{" + a + "}" + b + rest
    return out


def _fix_a_slash_b(text: str) -> str:
    """``3/4`` -> ``\\frac{3}{4}``; int() of a non-integer side raises (as the original does)."""
    parts = text.split("/")
    if len(parts) != 2:
        return text
    a, b = int(parts[0]), int(parts[1])
    return f"\\frac{{{a}}}{{{b}}}" if text == f"{a}/{b}" else text


def _remove_right_units(text: str) -> str:
    if "\\text{ " in text:
        parts = text.split("\\text{ ")
        if len(parts) != 2:  # the original asserts; the caller falls back to raw equality
            raise ValueError("more than one '\\text{ '")
        return parts[0]
    return text


def _fix_sqrt(text: str) -> str:
    if "\\sqrt" not in text:
        return text
    parts = text.split("\\sqrt")
    out = parts[0]
    for part in parts[1:]:
        out += "\\sqrt{" + part[0] + "}" + part[1:] if part[0] != "{" else "\\sqrt" + part
    return out  # part[0] of an empty part raises IndexError, as in the original


def hendrycks_strip(text: str) -> str:
    """``_strip_string`` of the MATH release (may raise: see :func:`hendrycks_equiv`)."""
    s = text.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "")
    s = _remove_right_units(s)
    s = s.replace("\\%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    if len(s.split("=")) == 2 and len(s.split("=")[0]) <= 2:
        s = s.split("=")[1]
    s = _fix_sqrt(s).replace(" ", "")
    s = _fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _fix_a_slash_b(s)


def hendrycks_equiv(pred: str | None, ref: str | None) -> bool:
    """Equal after :func:`hendrycks_strip`; if stripping raises, raw string equality."""
    if pred is None and ref is None:
        return True
    if pred is None or ref is None:
        return False
    try:
        return hendrycks_strip(pred) == hendrycks_strip(ref)
    except Exception:  # the original's bare except: any failure compares the raw strings
        return pred == ref


# ---- Minerva (Lewkowycz et al. 2022, appendix D; lm-eval minerva_math) -------------------------

INVALID_ANSWER = "[invalidanswer]"
MINERVA_ANSWER_RE = re.compile(r"Final Answer: The final answer is(.*?). I hope it is correct.")
MINERVA_SUBSTITUTIONS = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), (" ", ""), ("mbox", "text"),
    (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
)
MINERVA_REMOVED = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples", "\\text{s}",
    "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}",
    "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}", '"', "\\dots",
)


def minerva_answer(completion: str) -> str:
    """The text between ``Final Answer: The final answer is`` and ``. I hope it is correct.``"""
    match = MINERVA_ANSWER_RE.search(completion + "I hope it is correct.")
    return match.group(1).strip() if match else INVALID_ANSWER


def minerva_normalize(answer: str) -> str:
    """Minerva's ``normalize_final_answer`` (keeps the part after the last ``=``)."""
    s = answer.split("=")[-1]
    for before, after in MINERVA_SUBSTITUTIONS:
        s = s.replace(before, after)
    for removed in MINERVA_REMOVED:
        s = s.replace(removed, "")
    s = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", s)
    s = re.sub(r"(\\text\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", s)
    s = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", s)
    s = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", s)
    s = s.replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    return s


# ---- SymPy equivalence in a worker process, under a time limit ---------------------------------

OUTCOMES = ("equal", "different", "unparsable", "timeout", "error")
STARTUP_TIMEOUT_S = 120.0


def sympy_outcome(a: str, b: str) -> str:
    """Minerva's ``is_equiv`` on two normalised LaTeX strings, in this process, untimed.

    ``parse_latex`` both, then ``simplify(a - b) == 0``. A parse failure (LaTeXParsingError,
    SympifyError, TypeError) is ``unparsable``; any other exception is ``error``.
    """
    import sympy
    from sympy.parsing.latex import parse_latex
    from sympy.parsing.latex.errors import LaTeXParsingError

    try:
        left, right = parse_latex(a), parse_latex(b)
    except (LaTeXParsingError, sympy.SympifyError, TypeError):
        return "unparsable"
    except Exception:
        return "error"
    try:
        return "equal" if sympy.simplify(left - right) == 0 else "different"
    except Exception:
        return "error"


def serve() -> None:
    """The worker's loop: one JSON ``[a, b]`` per stdin line, one JSON outcome per stdout line."""
    import os
    import sys

    out = sys.stdout
    sys.stdout = sys.stderr = open(os.devnull, "w")  # ANTLR prints parse errors
    for line in sys.stdin:
        a, b = json.loads(line)
        out.write(json.dumps(sympy_outcome(a, b)) + "\n")
        out.flush()


_WORKER_CODE = ("import sys; sys.path.insert(0, {root!r}); "
                "from evaluate.scoring.math_equiv import serve; serve()")


class SympyJudge:
    """Compares LaTeX answers with SymPy in a worker process, ``timeout_s`` per comparison.

    A comparison that runs out of time kills the worker (the next one starts a fresh worker)
    and returns ``timeout``; a worker that dies or cannot start returns ``error``. Thread-safe
    (one comparison at a time).
    """

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE.format(root=root)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        # import SymPy and the parser outside any comparison's time
        if self._ask("1", "1", STARTUP_TIMEOUT_S) != "equal":
            self.close()
            raise RuntimeError("the SymPy worker did not start")

    def _ask(self, a: str, b: str, timeout_s: float) -> str | None:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps([a, b]) + "\n")
        self._proc.stdin.flush()
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self._proc.stdout.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
        self._proc = None

    def compare(self, a: str, b: str) -> str:
        """One of :data:`OUTCOMES`."""
        with self._lock:
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                outcome = self._ask(a, b, self.timeout_s)
            except (OSError, ValueError, RuntimeError):
                self.close()
                return "error"
            if outcome is None:  # out of time, or the worker died
                timed_out = self._proc is not None and self._proc.poll() is None
                self.close()
                return "timeout" if timed_out else "error"
            return outcome


_JUDGES: dict[float, SympyJudge] = {}


def judge(timeout_s: float = 5.0) -> SympyJudge:
    """The process-wide judge for ``timeout_s`` (started on first use, stopped at exit)."""
    if timeout_s not in _JUDGES:
        _JUDGES[timeout_s] = SympyJudge(timeout_s)
    return _JUDGES[timeout_s]


@atexit.register
def _stop_judges() -> None:
    for instance in _JUDGES.values():
        instance.close()
