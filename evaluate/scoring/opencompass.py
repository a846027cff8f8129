"""OpenCompass's answer postprocessors as of OC@2954913d (2024-05-28; PROTOCOLS_MORE.md A4, B4, X5).

- :func:`first_capital` (``first_capital_postprocess``): the first upper-case character.
- :func:`first_option` (``first_option_postprocess``): the regexes of X5 in order; the first that
  matches gives its *whole match*, and the first letter of ``options`` (in that order) found in
  it is the answer; a match without any option letter moves on to the next regex. ``""`` if none.
  The later ``boxed`` patterns (2024-08) and ``group(1)`` change (2024-11) are not applied.
- :func:`humaneval_v2` (``humaneval_postprocess_v2`` of 2024-03-04..2024-06-28, the "advanced"
  one, not the later code-block extractor). Its first step ``eval``-s the text and keeps a string
  result; here :func:`ast.literal_eval` does that, which agrees on every string literal and never
  runs model text.
"""

from __future__ import annotations

import ast
import re

# X5, with "{options}" standing for the option letters. The entry starting '故选?' is two source
# literals fused by a missing comma in OpenCompass; kept fused.
FIRST_OPTION_PATTERNS = (
    "答案是?\\s*([{options}])",
    "答案是?\\s*：\\s*([{options}])",
    "答案是?\\s*:\\s*([{options}])",
    "答案应该?是\\s*([{options}])",
    "答案应该?选\\s*([{options}])",
    "答案为\\s*([{options}])",
    "答案选\\s*([{options}])",
    "选择?\\s*([{options}])",
    "故选?\\s*([{options}])只有选?项?\\s?([{options}])\\s?是?对",
    "只有选?项?\\s?([{options}])\\s?是?错",
    "只有选?项?\\s?([{options}])\\s?不?正确",
    "只有选?项?\\s?([{options}])\\s?错误",
    "说法不?对选?项?的?是\\s?([{options}])",
    "说法不?正确选?项?的?是\\s?([{options}])",
    "说法错误选?项?的?是\\s?([{options}])",
    "([{options}])\\s?是正确的",
    "([{options}])\\s?是正确答案",
    "选项\\s?([{options}])\\s?正确",
    "所以答\\s?([{options}])",
    "所以\\s?([{options}][.。$]?$)",
    "所有\\s?([{options}][.。$]?$)",
    "[\\s，：:,]([{options}])[。，,\\.]?$",
    "[\\s，,：:][故即]([{options}])[。\\.]?$",
    "[\\s，,：:]因此([{options}])[。\\.]?$",
    "[是为。]\\s?([{options}])[。\\.]?$",
    "因此\\s?([{options}])[。\\.]?$",
    "显然\\s?([{options}])[。\\.]?$",
    "答案是\\s?(\\S+)(?:。|$)",
    "答案应该是\\s?(\\S+)(?:。|$)",
    "答案为\\s?(\\S+)(?:。|$)",
    "[Tt]he answer is:?\\s+\\(?([{options}])\\)?",
    "[Tt]he answer is option:?\\s+\\(?([{options}])\\)?",
    "[Tt]he correct answer is:?\\s+\\(?([{options}])\\)?",
    "[Tt]he correct answer is option:?\\s+\\(?([{options}])\\)?",
    "[Tt]he answer to the question is:?\\s+\\(?([{options}])\\)?",
    "^选项\\s?([{options}])",
    "^([{options}])\\s?选?项",
    "(\\s|^)[{options}][\\s。，,：:\\.$]",
    "(\\s|^)[{options}](\\s|$)",
    "1.\\s?(.*?)$",
    "1.\\s?([{options}])[.。$]?$",
    "([{options}]):",
    "[{options}]",
)


def first_capital(text: str) -> str:
    """``first_capital_postprocess``: the first character with ``str.isupper()``, else ``""``."""
    for char in text:
        if char.isupper():
            return char
    return ""


def first_option(text: str, options: str) -> str:
    """``first_option_postprocess(text, options)`` with ``cushion=True``."""
    for pattern in FIRST_OPTION_PATTERNS:
        match = re.search(pattern.replace("{options}", options), text, re.DOTALL)
        if match is None:
            continue
        found = match.group(0)
        for letter in options:
            if letter in found:
                return letter
    return ""


def humaneval_v2(text: str) -> str:
    """``humaneval_postprocess_v2`` (2024-03..06): the completion to append to the prompt."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    else:
        if isinstance(value, str):
            text = value
    text = text.lstrip("\n")
    if "```" in text:
        blocks = re.findall(r"```(.*?)```", text, re.DOTALL)
        if not blocks:
            text = text.split("```")[1]
        else:
            text = blocks[0]
            if not text.startswith("\n"):  # a language tag on the fence line
                text = text[max(text.find("\n") + 1, 0):]
    if text.strip().startswith("from") or text.strip().startswith("import"):
        def_index = text.find("def")
        if def_index != -1:
            text = text[max(text.find("\n", def_index) + 1, 0):]
    text = "\n".join(line for line in text.split("\n") if line != "")
    text = text.lstrip("\n")
    if text.strip().startswith("def"):
        text = "\n".join(text.split("\n")[1:])
    if text.startswith(" "):
        text = "    " + text.lstrip()
    else:
        text = "\n".join("    " + line for line in text.split("\n"))
    lines = text.split("\n")
    least: int | None = None
    for index, line in enumerate(lines):
        if line.strip() == "" or line.strip()[0] in ("'", '"', "#"):
            continue
        leading = len(line.rstrip()) - len(line.strip())
        if least is None:
            least = leading
        elif leading < least:
            return "\n".join(lines[:index])
    return "\n".join(lines)
