"""GSM8K: Qwen's 8-shot protocol, a variant with a correct numeric comparison, and OpenCompass's.

``gsm8k`` (QwenLM/Qwen ``eval/evaluate_gsm8k.py``; EVALUATION.md "GSM8K"):

- Prompt: the fixed file ``gsm8k/qwen_8shot_prompt.txt`` + ``"\\nQuestion: " + question +
  "\\nLet's think step by step\\n"``. Greedy, 512 new tokens.
- Completion cut, in order, at ``<|endoftext|>``, ``\\n\\n\\n``, ``\\n\\n``, ``Question:``. The
  stop strings also end decoding early; the kept text is what the full 512-token run keeps.
- Prediction: the last run of digits (``\\d+``) read as a Python literal (the script ``eval``-s
  it, so a run with a leading zero such as ``08`` is invalid). Gold: the text after ``#### ``
  with commas removed, read the same way. Correct if equal as numbers.
- Quirks kept: ``20,800`` reads as 800, ``-5`` as 5, ``3.75`` as 75; negative and decimal golds
  can never match; ``08`` is no answer.

``gsm8k:fixed``: the same prompts and cuts; the prediction is the last number written with an
optional sign, thousands separators, decimals or a fraction (``-1,234.5``, ``3/4``), compared
with the gold exactly as rational numbers (:class:`fractions.Fraction`: exact for every such
form, so sympy adds nothing here).

``gsm8k:opencompass`` (OpenCompass ``configs/datasets/gsm8k/gsm8k_gen_17d0dc.py``): 4 fixed
shots, each ``"Question: {q}\\nLet's think step by step\\nAnswer:"`` joined directly to its
answer text (no separator, as OpenCompass renders HUMAN/BOT rounds for a base model without a
meta template); 512 new tokens, stop at ``Question``; prediction = the last match of
``-?\\d+\\.\\d+|-?\\d+`` in the text before ``Question:`` (``NULL`` if none); gold =
``answer.split("#### ")[1]`` without commas; correct if ``pred == gold`` or
``abs(float(pred) - int(gold)) < 1e-6``. The end-of-text markers ``<|endoftext|>`` and
``<|im_end|>`` are cut first (OpenCompass decodes with ``skip_special_tokens``).
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from functools import partial
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.extract import (
    NUMBER_RE,
    last_digit_run,
    last_number,
    parse_number,
    python_int_literal,
)
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task
from evaluate.tasks.gsm8k_prompts import OC_SHOTS

DATA_FILE = "gsm8k/test.jsonl"
PROMPT_FILE = "gsm8k/qwen_8shot_prompt.txt"
STOPS = ("<|endoftext|>", "\n\n\n", "\n\n", "Question:")
MAX_NEW_TOKENS = 512
QUESTION_TEMPLATE = "\nQuestion: {question}\nLet's think step by step\n"
GOLD_RE = re.compile(r"#### (\-?[0-9\.\,]+)")  # Qwen's ANS_RE

# ---- OpenCompass gsm8k_gen_17d0dc --------------------------------------------------------------
OC_STOPS = ("<|endoftext|>", "<|im_end|>", "Question")
OC_TURN = "Question: {question}\nLet's think step by step\nAnswer:"
OC_NUMBER_RE = re.compile(r"\-?\d+\.\d+|\-?\d+")  # OC_SHOTS: evaluate/tasks/gsm8k_prompts.py


# ---- loading -----------------------------------------------------------------------------------
def load(data: DataDir, with_prompt: bool = True) -> list[Doc]:
    """Test problems; ``target`` is the full gold answer text (``... #### N``)."""
    shots = data.read_text(PROMPT_FILE) if with_prompt else ""
    docs = []
    for number, row in enumerate(data.read_jsonl(DATA_FILE), 1):
        require_fields(row, ("question", "answer"), f"{DATA_FILE}:{number}")
        if "#### " not in row["answer"]:
            raise MalformedDataError(f"{DATA_FILE}:{number}: answer has no '#### ' gold number")
        docs.append(Doc(id=str(number - 1), target=row["answer"],
                        data={"question": row["question"], "shots": shots}))
    return docs


# ---- gsm8k (Qwen) ------------------------------------------------------------------------------
def build(doc: Doc) -> list[GenerateRequest]:
    prompt = doc.data["shots"] + QUESTION_TEMPLATE.format(question=doc.data["question"])
    return [GenerateRequest(context=prompt, stop=STOPS, max_new_tokens=MAX_NEW_TOKENS)]


def qwen_gold(answer: str) -> int | float:
    """Qwen's ``extract_answer_hf``: ``eval`` of the ``#### `` number without commas."""
    match = GOLD_RE.search(answer)
    if match is None:
        raise MalformedDataError(f"no '#### ' gold number in {answer[-80:]!r}")
    text = match.group(1).strip().replace(",", "")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("-")
    try:
        if "." in body:
            return sign * float(body)
        value = python_int_literal(body)
    except ValueError:
        value = None
    if value is None:
        raise MalformedDataError(f"gold {text!r} is not a number")
    return sign * value


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], STOPS)
    predicted = last_digit_run(completion)
    gold = qwen_gold(doc.target)
    correct = predicted is not None and predicted == gold
    return Scored(extracted=predicted, score=float(correct),
                  extra={"completion": completion, "gold": gold})


# ---- gsm8k:fixed ---------------------------------------------------------------------------------
def fixed_gold(answer: str) -> Fraction:
    text = answer.split("#### ", 1)[1].strip()
    value = parse_number(text)
    if value is None:
        raise MalformedDataError(f"gold {text!r} is not a number")
    return value


def score_fixed(doc: ScoreInput, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], STOPS)
    predicted = last_number(completion)
    gold = fixed_gold(doc.target)
    correct = predicted is not None and predicted == gold
    return Scored(extracted=None if predicted is None else str(predicted), score=float(correct),
                  extra={"completion": completion, "gold": str(gold)})


# ---- gsm8k:opencompass ---------------------------------------------------------------------------
def opencompass_prompt(question: str) -> str:
    shots = "".join(OC_TURN.format(question=q) + a for q, a in OC_SHOTS)
    return shots + OC_TURN.format(question=question)


def build_opencompass(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=opencompass_prompt(doc.data["question"]), stop=OC_STOPS,
                            max_new_tokens=MAX_NEW_TOKENS)]


def opencompass_prediction(text: str) -> str:
    """OpenCompass ``gsm8k_postprocess``."""
    text = text.split("Question:")[0]
    numbers = OC_NUMBER_RE.findall(text)
    return numbers[-1] if numbers else "NULL"


def opencompass_gold(answer: str) -> str:
    """OpenCompass ``gsm8k_dataset_postprocess``."""
    return answer.split("#### ")[1].replace(",", "")


def opencompass_equal(pred: str, gold: str) -> bool:
    """OpenCompass ``Gsm8kEvaluator.is_equal``."""
    try:
        return pred == gold or abs(float(pred) - int(gold)) < 1e-6
    except (ValueError, OverflowError):
        return False


def score_opencompass(doc: ScoreInput, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], OC_STOPS)
    predicted = opencompass_prediction(completion)
    gold = opencompass_gold(doc.target)
    return Scored(extracted=predicted, score=float(opencompass_equal(predicted, gold)),
                  extra={"completion": completion, "gold": gold})


def _params(**extra: Any) -> dict[str, Any]:
    return {"max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy", **extra}


GSM8K = register(Task(
    name="gsm8k",
    description="GSM8K 8-shot, greedy, Qwen's cut rules and last-digit-run extraction "
                "(quirks kept)",
    provenance='QwenLM/Qwen eval/evaluate_gsm8k.py; EVALUATION.md "GSM8K"',
    shots=8,
    data_files=(DATA_FILE, PROMPT_FILE),
    load=load,
    build=build,
    score=score,
    aggregation=Aggregation(metric="accuracy"),
    params=_params(stops=STOPS, question_template=QUESTION_TEMPLATE, prompt_file=PROMPT_FILE,
                   prediction=r"last \d+ (Python literal)", gold=GOLD_RE.pattern),
    metric_note="greedy; 20,800 reads as 800, -5 as 5, 3.75 as 75",
))

register(dataclasses.replace(
    GSM8K,
    name="gsm8k:fixed",
    description="GSM8K 8-shot as `gsm8k`, numbers compared exactly (signs, decimals, "
                "thousands separators, fractions)",
    provenance='QwenLM/Qwen eval/evaluate_gsm8k.py prompts; extraction fixed here; '
               'EVALUATION.md "GSM8K"',
    score=score_fixed,
    params=_params(stops=STOPS, question_template=QUESTION_TEMPLATE, prompt_file=PROMPT_FILE,
                   prediction=NUMBER_RE.pattern, comparison="exact rational"),
    metric_note="greedy; exact numeric comparison",
))

register(Task(
    name="gsm8k:opencompass",
    description="GSM8K 4-shot, OpenCompass gsm8k_gen_17d0dc",
    provenance="OpenCompass configs/datasets/gsm8k/gsm8k_gen_17d0dc.py, "
               'opencompass/datasets/gsm8k.py; EVALUATION.md "GSM8K"',
    shots=4,
    data_files=(DATA_FILE,),
    load=partial(load, with_prompt=False),
    build=build_opencompass,
    score=score_opencompass,
    aggregation=Aggregation(metric="accuracy"),
    params=_params(stops=OC_STOPS, turn=OC_TURN, shots=OC_SHOTS, prediction=OC_NUMBER_RE.pattern,
                   comparison="pred == gold or abs(float(pred) - int(gold)) < 1e-6"),
    metric_note="greedy",
))
