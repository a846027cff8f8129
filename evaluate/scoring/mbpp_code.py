"""Code extraction from MBPP replies, as two published harnesses do it.

- :func:`lm_eval_code`: lm-evaluation-harness ``mbpp`` ``extract_code_blocks`` (LM@1a56f61a),
  applied after the ``[DONE]`` stop: strip; a reply opening a fence keeps what is inside it; an
  odd number of fences keeps what precedes the last one; an even number keeps the first block;
  no fence keeps the stripped text.
- :func:`opencompass_mbpp_code`: OpenCompass ``MBPPEvaluator._process_answer`` at OC@2954913d
  (PROTOCOLS_MORE B5): the first of :data:`OC_PATTERNS` that matches (greedy, DOTALL) gives its
  group; then cut at the first fence, at the first ``DONE``, un-escape ``\\_``, strip.
- :func:`opencompass_2023_code`: the same evaluator as of OC@2c915218 (Sept 2023), used by
  OpenCompass's reproduction of Qwen-7B (``mbpp_gen_1e1056``).
"""

from __future__ import annotations

import re


def lm_eval_code(text: str) -> str:
    text = text.strip()
    for opening in ("```python", "```"):
        if text.startswith(opening):
            end = text.find("```", len(opening))
            return (text[len(opening) : end] if end != -1 else text[len(opening) :]).strip()
    text = text.replace("```python", "```")
    fences = text.count("```")
    if fences % 2 == 1:
        return text[: text.rfind("```")].strip()
    if fences >= 2:
        first = text.find("```")
        return text[first + 3 : text.find("```", first + 3)].strip()
    return text


OC_PATTERNS = (
    r"\[BEGIN\]\s*'(.*)'\s*\[DONE\]", r"BEGIN\s*'(.*)'\s*\[DONE\]", r"\[BEGIN\]\s*'(.*)'\s*DONE",
    r"BEGIN\s*'(.*)'\s*DONE", r"\[BEGIN\]\s*'(.*)\s*\[DONE\]", r"BEGIN\s*'(.*)\s*\[DONE\]",
    r"\[BEGIN\]\s*'(.*)\s*DONE", r"BEGIN\s*'(.*)\s*DONE", r"\[BEGIN\]\s*(.*)\s*\[DONE\]",
    r"BEGIN\s*(.*)\s*\[DONE\]", r"\[BEGIN\]\s*(.*)\s*DONE", r"BEGIN\s*(.*)\s*DONE",
    r"```python\s*(.*)\s*```", r"```\s*(.*)\s*```", r"```python\s*(.*)\s*$", r"```\s*(.*)\s*$",
    r"(.*)\s*```.*", r"\[BEGIN\]\s*'(.*)", r"\[BEGIN\](.*)", r"'(.*)'\s*\[DONE\]",
)


def opencompass_mbpp_code(text: str) -> str:
    for pattern in OC_PATTERNS:
        match = re.search(pattern, text, re.DOTALL)
        if match:
            text = match.group(1)
            break
    text = text.split("```")[0]
    text = re.split(r"'?\s*\[?DONE\]?", text)[0]
    return text.replace("\\_", "_").strip()


def opencompass_2023_code(text: str) -> str:
    """``MBPPEvaluator._process_answer`` at OC@2c915218 (Sept 2023): strip; cut before the first
    ``DONE`` (with a quote and spaces before it); keep what follows the first ``BEGIN`` (and a
    quote after it); strip; drop one leading and one trailing ``'``."""
    text = text.strip()
    match = re.search(r"('\s*|)(\[DONE\]|DONE)", text)
    if match:
        text = text[: match.start()]
    match = re.search(r"(\[BEGIN\]|BEGIN)('\s*|)", text)
    if match:
        text = text[match.end() :]
    text = text.strip()
    text = text[1:] if text.startswith("'") else text
    return text[:-1] if text.endswith("'") else text
