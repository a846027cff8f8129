"""OpenCompass's MATH answer rules: ``math_postprocess`` (v1, v2) and ``MATHEvaluator`` v2.

- :func:`postprocess_v1`: ``math_postprocess`` as of OC@2c915218 (Sept 2023, the Qwen-7B
  reproduction): the first ``.``-separated piece that mentions "final answer" (else the first
  piece), through :func:`normalize_final_answer`. Its comparison is Hendrycks's
  (:func:`evaluate.scoring.math_equiv.hendrycks_equiv`).
- :func:`postprocess_v2` and :func:`equiv_v2`: ``math_postprocess_v2`` and
  ``MATHEvaluator(version='v2').is_equiv`` as of OC@2954913d (2024-05-28; PROTOCOLS_MORE X3).

Quirks kept: the split on ``.`` cuts decimals (``$2.5$`` reads as ``2``); v2's
``_fix_a_slash_b`` raises on ``x/2``, which abandons the stripped comparison for that pair.
"""

from __future__ import annotations

import re

from evaluate.scoring.math_equiv import last_boxed_only_string, remove_boxed

SUBSTITUTIONS = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), (" ", ""), ("mbox", "text"),
    (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"), ("\\le", "<"),
)
REMOVED = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples", "\\text{s}",
    "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}",
    "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}", '"', "\\dots", "\n", "\r", "\f",
)


def _last(pattern: str, text: str) -> str:
    found = re.findall(pattern, text)
    return found[-1] if found else text


def normalize_final_answer(answer: str, v2: bool = True) -> str:
    """OpenCompass's ``normalize_final_answer`` (v2 adds the ``\\text{(X)}`` and ``answer is``
    rules); unlike Minerva's it does not keep only the part after ``=``."""
    s = answer
    for before, after in SUBSTITUTIONS:
        s = s.replace(before, after)
    for removed in REMOVED:
        s = s.replace(removed, "")
    if v2:
        s = re.sub(r"(\\text\{)\((.*?)\)(\})", "\\2", s)
    s = re.sub(r"(\\text\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", s)
    s = _last(r"finalansweris(.*)", s)
    if v2:
        s = _last(r"answer?is:?(.*)", s)
    s = _last(r"oxed\{(.*?)\}", s)
    s = _last(r"\$(.*?)\$", s).strip()
    if "rac" in s and "\\frac" not in s:
        s = s.replace("rac", "\\frac")
    s = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", s)
    s = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", s).replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    return s


def postprocess_v1(text: str) -> str:
    """``math_postprocess`` (OC@2c915218)."""
    for piece in text.split("."):
        if "final answer" in piece.lower():
            return normalize_final_answer(piece, v2=False)
    return normalize_final_answer(text.split(".")[0], v2=False)


def extract_boxed_answer(text: str, strip_double_curly_brace: bool = False) -> str | None:
    """OpenCompass's reference / v2 extraction: the last ``\\boxed{...}`` (or ``\\fbox``: then
    None) without the wrapper; optionally one outer ``{...}`` pair removed."""
    answer = remove_boxed(last_boxed_only_string(text))
    if answer is None:
        return None
    if strip_double_curly_brace:
        match = re.match(r"^\{(.*)\}$", answer)
        if match:
            answer = match.group(1)
    return answer


def postprocess_v2(text: str) -> str:
    """``math_postprocess_v2`` (OC@2954913d)."""
    boxed = extract_boxed_answer(text, strip_double_curly_brace=True)
    if boxed:
        return boxed
    for piece in text.split("."):
        if re.search("final answer|answer is", piece.lower()):
            return normalize_final_answer(piece)
    return normalize_final_answer(text.split(".")[0])


def _fix_fracs_v2(text: str) -> str:
    pieces = text.split("\\frac")
    out = pieces[0]
    for piece in pieces[1:]:
        out += "\\frac"
        if piece[:1] == "{":
            out += piece
            continue
        if len(piece) < 2:
            return text
        a, b, rest = piece[0], piece[1], piece[2:]
        out += "{" + a + "}{" + b + "}" + rest if b != "{" else "{" + a + "}" + b + rest
    return out


def _fix_a_slash_b(text: str) -> str:
    parts = text.split("/")
    if len(parts) != 2:
        return text
    a, b = int(parts[0]), int(parts[1])  # raises on "x/2", as the original does
    return f"\\frac{{{a}}}{{{b}}}" if text == f"{a}/{b}" else text


def strip_v2(text: str) -> str:
    """``MATHEvaluator._strip_string_v2`` (OC@2954913d; may raise, see :func:`equiv_v2`)."""
    s = str(text).strip().replace("\n", "").rstrip(".")
    s = s.replace("\\!", "").replace("\\ ", "").replace("\\\\", "\\").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    unitless = re.sub(r"\\text{.*?}$", "", s).strip()
    if unitless != "" and unitless != s:
        s = unitless
    for removed in ("^{\\circ}", "^\\circ", "\\$", "$", "\\text", "x\\in", "\\%", "%"):
        s = s.replace(removed, "")
    s = s.replace(" .", " 0.").replace("{.", "{0.").replace("\\cdot", "")
    s = s.replace("infinity", "\\infty")
    if "\\infty" not in s:
        s = s.replace("inf", "\\infty")
    s = s.replace("+\\inity", "\\infty").replace("and", "").replace("\\mathbf", "")
    s = re.sub(r"\\mbox{.*?}", "", s)
    if "j" in s and "i" not in s:
        s = s.replace("j", "i")
    s = re.sub(r"(\d+)\.0+([^\d])", r"\1\2", s)
    s = re.sub(r"(\d+)\.0+$", r"\1", s)
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    if len(s.split("=")) == 2 and len(s.split("=")[0]) <= 2:
        s = s.split("=")[1]
    s = re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", s).replace(" ", "")
    return _fix_a_slash_b(_fix_fracs_v2(s))


def equiv_v2(pred: str | None, ref: str | None) -> bool:
    """``MATHEvaluator(version='v2').is_equiv``."""
    if pred is None and ref is None:
        return True
    if pred is None or ref is None:
        return False
    try:
        a, b = strip_v2(pred), strip_v2(ref)
        if a == b or normalize_final_answer(a) == normalize_final_answer(b):
            return True
    except Exception:  # the original's except: fall through to the next rule
        pass
    try:
        if normalize_final_answer(pred) == normalize_final_answer(ref):
            return True
    except Exception:
        pass
    return pred == ref
