"""GSM8K: Qwen's 8-shot protocol, a variant with a correct numeric comparison, and OpenCompass's.

``gsm8k`` (QwenLM/Qwen ``eval/evaluate_gsm8k.py``; PROTOCOLS.md "GSM8K, 8-shot"):

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

``gsm8k:opencompass`` (OpenCompass ``configs/datasets/gsm8k/gsm8k_gen_17d0dc.py``, rendered by
:mod:`evaluate.tasks.opencompass`): 4 fixed shots as HUMAN ``"Question: {q}\\nLet's think step by
step\\nAnswer:"`` / BOT answer turns, then the question's HUMAN turn; a base model has no meta
template, so the turns are joined with ``"\\n"`` (``Answer:\\n<answer>``, and a blank line before
each next ``Question:``, as each answer ends ``"\\n"``). 512 new tokens, stop at ``Question``;
the output is decoded without special tokens (``<|im_end|>`` is dropped, the text after it kept)
and cut at ``Question``; prediction = the last match of ``-?\\d+\\.\\d+|-?\\d+`` in the text before
``Question:`` (``NULL`` if none); gold = ``answer.split("#### ")[1]`` without commas; correct if
``pred == gold`` or ``abs(float(pred) - int(gold)) < 1e-6``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.task import Aggregation, Doc, Scored, Task
from evaluate.tasks import opencompass as oc

DATA_FILE = "gsm8k/test.jsonl"
PROMPT_FILE = "gsm8k/qwen_8shot_prompt.txt"
STOPS = ("<|endoftext|>", "\n\n\n", "\n\n", "Question:")
MAX_NEW_TOKENS = 512
QUESTION_TEMPLATE = "\nQuestion: {question}\nLet's think step by step\n"
GOLD_RE = re.compile(r"#### (\-?[0-9\.\,]+)")  # Qwen's ANS_RE

# ---- OpenCompass gsm8k_gen_17d0dc --------------------------------------------------------------
OC_STOPS = ("Question",)  # the config's stopping_criteria; EOS still ends decoding
OC_TURN = "Question: {question}\nLet's think step by step\nAnswer:"
OC_NUMBER_RE = re.compile(r"\-?\d+\.\d+|\-?\d+")
# The four (question, answer) shots of gsm8k_gen_17d0dc, verbatim from the OpenCompass config.
OC_SHOTS = (
    (
        "Angelo and Melanie want to plan how many hours over the next week they should study "
        "together for their test next week. They have 2 chapters of their textbook to study and "
        "4 worksheets to memorize. They figure out that they should dedicate 3 hours to each "
        "chapter of their textbook and 1.5 hours for each worksheet. If they plan to study no "
        "more than 4 hours each day, how many days should they plan to study total over the next "
        "week if they take a 10-minute break every hour, include 3 10-minute snack breaks each "
        "day, and 30 minutes for lunch each day?",
        "Angelo and Melanie think they should dedicate 3 hours to each of the 2 chapters, 3 hours "
        "x 2 chapters = 6 hours total.\nFor the worksheets they plan to dedicate 1.5 hours for "
        "each worksheet, 1.5 hours x 4 worksheets = 6 hours total.\nAngelo and Melanie need to "
        "start with planning 12 hours to study, at 4 hours a day, 12 / 4 = 3 days.\nHowever, they "
        "need to include time for breaks and lunch. Every hour they want to include a 10-minute "
        "break, so 12 total hours x 10 minutes = 120 extra minutes for breaks.\nThey also want to "
        "include 3 10-minute snack breaks, 3 x 10 minutes = 30 minutes.\nAnd they want to include "
        "30 minutes for lunch each day, so 120 minutes for breaks + 30 minutes for snack breaks + "
        "30 minutes for lunch = 180 minutes, or 180 / 60 minutes per hour = 3 extra hours.\nSo "
        "Angelo and Melanie want to plan 12 hours to study + 3 hours of breaks = 15 hours total."
        "\nThey want to study no more than 4 hours each day, 15 hours / 4 hours each day = 3.75\n"
        "They will need to plan to study 4 days to allow for all the time they need.\nThe answer "
        "is 4\n",
    ),
    (
        "Mark's basketball team scores 25 2 pointers, 8 3 pointers and 10 free throws.  Their "
        "opponents score double the 2 pointers but half the 3 pointers and free throws.  What's "
        "the total number of points scored by both teams added together?",
        "Mark's team scores 25 2 pointers, meaning they scored 25*2= 50 points in 2 pointers.\n"
        "His team also scores 6 3 pointers, meaning they scored 8*3= 24 points in 3 pointers\n"
        "They scored 10 free throws, and free throws count as one point so they scored 10*1=10 "
        "points in free throws.\nAll together his team scored 50+24+10= 84 points\nMark's "
        "opponents scored double his team's number of 2 pointers, meaning they scored 50*2=100 "
        "points in 2 pointers.\nHis opponents scored half his team's number of 3 pointers, "
        "meaning they scored 24/2= 12 points in 3 pointers.\nThey also scored half Mark's team's "
        "points in free throws, meaning they scored 10/2=5 points in free throws.\nAll together "
        "Mark's opponents scored 100+12+5=117 points\nThe total score for the game is both team's "
        "scores added together, so it is 84+117=201 points\nThe answer is 201\n",
    ),
    (
        "Bella has two times as many marbles as frisbees. She also has 20 more frisbees than deck "
        "cards. If she buys 2/5 times more of each item, what would be the total number of the "
        "items she will have if she currently has 60 marbles?",
        "When Bella buys 2/5 times more marbles, she'll have increased the number of marbles by "
        "2/5*60 = 24\nThe total number of marbles she'll have is 60+24 = 84\nIf Bella currently "
        "has 60 marbles, and she has two times as many marbles as frisbees, she has 60/2 = 30 "
        "frisbees.\nIf Bella buys 2/5 times more frisbees, she'll have 2/5*30 = 12 more frisbees."
        "\nThe total number of frisbees she'll have will increase to 30+12 = 42\nBella also has "
        "20 more frisbees than deck cards, meaning she has 30-20 = 10 deck cards\nIf she buys 2/5 "
        "times more deck cards, she'll have 2/5*10 = 4 more deck cards.\nThe total number of deck "
        "cards she'll have is 10+4 = 14\nTogether, Bella will have a total of 14+42+84 = 140 "
        "items\nThe answer is 140\n",
    ),
    (
        "A group of 4 fruit baskets contains 9 apples, 15 oranges, and 14 bananas in the first "
        "three baskets and 2 less of each fruit in the fourth basket. How many fruits are there?",
        "For the first three baskets, the number of apples and oranges in one basket is 9+15=24\n"
        "In total, together with bananas, the number of fruits in one basket is 24+14=38 for the "
        "first three baskets.\nSince there are three baskets each having 38 fruits, there are "
        "3*38=114 fruits in the first three baskets.\nThe number of apples in the fourth basket "
        "is 9-2=7\nThere are also 15-2=13 oranges in the fourth basket\nThe combined number of "
        "oranges and apples in the fourth basket is 13+7=20\nThe fourth basket also contains "
        "14-2=12 bananas.\nIn total, the fourth basket has 20+12=32 fruits.\nThe four baskets "
        "together have 32+114=146 fruits.\nThe answer is 146\n",
    ),
)


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


def python_int_literal(digits: str) -> int | None:
    """``eval`` of a run of digits as Python 3 reads it: ``08`` is a syntax error (None)."""
    if len(digits) > 1 and digits[0] == "0" and digits.strip("0"):
        return None
    return int(digits)


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


def qwen_prediction(completion: str) -> int | None:
    """Qwen's ``extract_answer``: the last run of digits, or None (``[invalid]``)."""
    runs = re.findall(r"\d+", completion)
    return python_int_literal(runs[-1]) if runs else None


def score(doc: Doc, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], STOPS)
    predicted = qwen_prediction(completion)
    gold = qwen_gold(doc.target)
    correct = predicted is not None and predicted == gold
    return Scored(extracted=predicted, score=float(correct),
                  extra={"completion": completion, "gold": gold})


# ---- gsm8k:fixed ---------------------------------------------------------------------------------
# A number: an optional sign (a minus right after a letter, digit or bracket is subtraction, not
# a sign), then a fraction of plain integers, thousands-grouped digits, or plain digits, with
# optional decimals; never starting inside another number.
NUMBER_RE = re.compile(
    r"(?:(?<![\w)\]])(?P<sign>-))?(?<![\d.])"
    r"(?P<body>\d+/\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)


def parse_number(text: str) -> Fraction | None:
    """A number written with sign, thousands separators, decimals or as a fraction; else None."""
    match = NUMBER_RE.fullmatch(text.strip().replace("$", ""))
    if match is None:
        return None
    return _to_fraction(match)


def _to_fraction(match: re.Match[str]) -> Fraction | None:
    body = match.group("body").replace(",", "")
    try:
        value = Fraction(body)
    except ZeroDivisionError:
        return None
    return -value if match.group("sign") else value


def last_number(completion: str) -> Fraction | None:
    """The last number in the completion (see :data:`NUMBER_RE`), exactly; None if none."""
    found = None
    for match in NUMBER_RE.finditer(completion):
        value = _to_fraction(match)
        if value is not None:
            found = value
    return found


def fixed_gold(answer: str) -> Fraction:
    text = answer.split("#### ", 1)[1].strip()
    value = parse_number(text)
    if value is None:
        raise MalformedDataError(f"gold {text!r} is not a number")
    return value


def score_fixed(doc: Doc, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], STOPS)
    predicted = last_number(completion)
    gold = fixed_gold(doc.target)
    correct = predicted is not None and predicted == gold
    return Scored(extracted=None if predicted is None else str(predicted), score=float(correct),
                  extra={"completion": completion, "gold": str(gold)})


# ---- gsm8k:opencompass ---------------------------------------------------------------------------
def opencompass_prompt(row: dict[str, str]) -> str:
    """The round (4 HUMAN/BOT shots, then the question) filled in generation mode and rendered."""
    turns: list[oc.Item] = []
    for question, answer in OC_SHOTS:
        turns += [oc.Turn("HUMAN", OC_TURN.format(question=question)), oc.Turn("BOT", answer)]
    turns.append(oc.Turn("HUMAN", OC_TURN))
    return oc.render(oc.fill_items(turns, oc.gen_row(row, "answer")))


def load_opencompass(data: DataDir) -> list[Doc]:
    """Test problems (GSM8KDataset's rows: the JSON fields in file order)."""
    docs = load(data, with_prompt=False)
    for doc, row in zip(docs, data.read_jsonl(DATA_FILE), strict=True):
        doc.data = {"prompt": opencompass_prompt(row)}
    return docs


def build_opencompass(doc: Doc) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=OC_STOPS,
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


def score_opencompass(doc: Doc, responses: list[Response]) -> Scored:
    completion = oc.base_output(responses[0]["text"], OC_STOPS)
    predicted = opencompass_prediction(completion)
    gold = opencompass_gold(doc.target)
    return Scored(extracted=predicted, score=float(opencompass_equal(predicted, gold)),
                  extra={"completion": completion, "gold": gold})


def _params(**extra: Any) -> dict[str, Any]:
    return {"max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy", **extra}


register(Task(
    name="gsm8k",
    description="GSM8K 8-shot, greedy, Qwen's cut rules and last-digit-run extraction "
                "(quirks kept)",
    provenance="QwenLM/Qwen eval/evaluate_gsm8k.py (PROTOCOLS.md)",
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

register(Task(
    name="gsm8k:fixed",
    description="GSM8K 8-shot as `gsm8k`, numbers compared exactly (signs, decimals, "
                "thousands separators, fractions)",
    provenance="QwenLM/Qwen eval/evaluate_gsm8k.py prompts; extraction fixed here",
    shots=8,
    data_files=(DATA_FILE, PROMPT_FILE),
    load=load,
    build=build,
    score=score_fixed,
    aggregation=Aggregation(metric="accuracy"),
    params=_params(stops=STOPS, question_template=QUESTION_TEMPLATE, prompt_file=PROMPT_FILE,
                   prediction=NUMBER_RE.pattern, comparison="exact rational"),
    metric_note="greedy; exact numeric comparison",
))

register(Task(
    name="gsm8k:opencompass",
    description="GSM8K 4-shot, OpenCompass gsm8k_gen_17d0dc",
    provenance="OpenCompass configs/datasets/gsm8k/gsm8k_gen_17d0dc.py, "
               "opencompass/datasets/gsm8k.py (PROTOCOLS.md)",
    shots=4,
    data_files=(DATA_FILE,),
    load=load_opencompass,
    build=build_opencompass,
    score=score_opencompass,
    aggregation=Aggregation(metric="accuracy"),
    params=_params(stops=OC_STOPS, turn=OC_TURN, shots=OC_SHOTS, prediction=OC_NUMBER_RE.pattern,
                   rendering="round joined by \\n (no meta template)",
                   output=f"drop {oc.SPECIAL_TOKENS}, then cut at the stops",
                   comparison="pred == gold or abs(float(pred) - int(gold)) < 1e-6"),
    metric_note="greedy",
))
