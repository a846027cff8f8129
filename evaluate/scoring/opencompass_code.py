"""OpenCompass's code-answer cleaners (PROTOCOLS_MORE.md B4 and B6), without ``eval``.

Both cleaners begin with ``try: x = eval(text)`` and keep ``x`` when it is a ``str`` (meant for a
reply that is one quoted string). Here that step is :func:`decode_string_literal`:
``ast.literal_eval``, which decodes every Python literal ``eval`` would (implicitly concatenated
literals, escapes, prefixes) and never runs anything. A reply that is a non-literal expression
evaluating to a string (``"a" * 3``) is the one difference: ``eval`` would decode it, this keeps
the text; model code is never that.

- :func:`humaneval_postprocess_v2`: OpenCompass's ``humaneval_postprocess_v2`` as it was from
  OC@b03d5dc5 (2024-03-04) to OC@a32f21a3 (2024-06-28), the one of the Qwen1.5 table.
- :func:`lcbench_answer`: ``LCEvaluator._process_answer`` (OC@704853e5, first public version).
"""

from __future__ import annotations

import ast
import re


def decode_string_literal(text: str) -> str:
    """``eval(text)`` if that is a ``str``, else ``text``; by ``ast.literal_eval`` only."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, str) else text


def first_fenced_block(text: str) -> str:
    """Steps shared by both cleaners: the first ```...``` block, its info line dropped."""
    blocks = re.findall(r"```(.*?)```", text, re.DOTALL)
    if not blocks:
        return text.split("```")[1]
    block = blocks[0]
    if not block.startswith("\n"):  # "```python\n...": drop the first line
        block = block[max(block.find("\n") + 1, 0):]
    return block


def humaneval_postprocess_v2(text: str) -> str:
    """The completion OpenCompass appended to the HumanEval prompt (B4, steps 1-8)."""
    text = decode_string_literal(text).lstrip("\n")
    if "```" in text:
        text = first_fenced_block(text)
    if text.strip().startswith("from") or text.strip().startswith("import"):
        def_at = text.find("def")  # any "def", also inside "defaultdict"
        if def_at != -1:
            text = text[max(text.find("\n", def_at) + 1, 0):]
    text = "\n".join(line for line in text.split("\n") if line != "").lstrip("\n")
    if text.strip().startswith("def"):
        text = "\n".join(text.split("\n")[1:])
    if text.startswith(" "):  # only the first line is re-indented (to four spaces)
        text = "    " + text.lstrip()
    else:
        text = "\n".join("    " + line for line in text.split("\n"))
    lines = text.split("\n")
    min_leading, end = None, None
    for index, line in enumerate(lines):
        if line.strip() == "" or line.strip()[0] in ("'", '"', "#"):
            continue
        leading = len(line.rstrip()) - len(line.strip())
        if min_leading is None:
            min_leading = leading
        elif leading < min_leading:
            end = index
            break
    return "\n".join(lines[:end] if end is not None else lines)


def lcbench_answer(text: str) -> str:
    """The program text LCBench runs before its tests (B6)."""
    text = decode_string_literal(text)
    if "```" in text:
        text = first_fenced_block(text)
    text = text.strip()
    match = re.search(r"('\s*|)(\[DONE\]|DONE)", text)
    if match:
        text = text[:match.start()]
    match = re.search(r"(\[BEGIN\]|BEGIN)('\s*|)", text)
    if match:
        text = text[match.end():]
    text = text.strip()
    if text.startswith("'"):
        text = text[1:]
    if text.endswith("'"):
        text = text[:-1]
    text = text.replace("\\", "")  # every backslash, also inside string literals
    match = re.search(r"```python(.*)```", text, re.DOTALL)
    if match:
        text = match.group(1).strip().split("```")[0].strip()
    return text
