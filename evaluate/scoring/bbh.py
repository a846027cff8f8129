"""BIG-Bench Hard answer extraction: the original CoT trigger and OpenCompass's post-processors.

- :func:`answer_after_trigger`: Suzgun et al. 2022 score the chain-of-thought replies by exact
  match of what follows ``"So the answer is "`` (the phrase every CoT shot ends with): here the
  rest of that line after the first occurrence, stripped, one trailing ``.`` removed; ``None``
  when the phrase is absent.
- :func:`opencompass_mcq` / :func:`opencompass_freeform`: ``bbh_mcq_postprocess`` and
  ``bbh_freeform_postprocess`` at OC@2954913d (PROTOCOLS_MORE B1). Both keep
  ``text.split("answer is ")[1]`` -- the text between the first and the second occurrence.
"""

from __future__ import annotations

import re

TRIGGER = "So the answer is "


def answer_after_trigger(text: str) -> str | None:
    if TRIGGER not in text:
        return None
    answer = text.split(TRIGGER, 1)[1].split("\n", 1)[0].strip()
    return answer[:-1] if answer.endswith(".") else answer


def opencompass_mcq(text: str) -> str:
    parts = text.split("answer is ")
    answer = parts[1].strip() if len(parts) != 1 else text
    match = re.search(r"\(([A-Z])\)*", answer) or re.search(r"([A-Z])", answer)
    return match.group(1) if match else answer


def opencompass_freeform(text: str) -> str:
    parts = text.split("answer is ")
    answer = parts[1].strip() if len(parts) != 1 else text
    answer = answer.split("\n")[0]
    return answer[:-1] if answer.endswith(".") else answer
