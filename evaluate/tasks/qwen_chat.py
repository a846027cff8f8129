"""Qwen's own 0-shot chat scripts (QwenLM/Qwen ``eval/evaluate_chat_*.py``; PROTOCOLS_MORE D1-D5).

Every prompt is ``model.chat(tokenizer, query, history=None)``: a system turn "You are a helpful
assistant." and one user turn, rendered by the run's chat template (ChatML for Qwen-Chat). Greedy,
512 new tokens (Qwen-7B-Chat's ``generation_config.json``), repetition penalty 1.0 (the scripts
set it); the reply is cut at the first ``<|im_end|>`` / ``<|im_start|>`` and stripped, as
``_decode_chatml`` does. Extraction: :mod:`evaluate.scoring.qwen_chat`.

- ``mmlu:qwen-chat`` (D2): every test question (pandas ``astype(str)``: the NA quirk), micro
  average, Qwen's categories.
- ``ceval:qwen-chat`` (D3): val split, macro over 52 subjects, categories and Hard.
- ``gsm8k:qwen-chat`` (D4): the question alone; ``gsm8k:qwen-chat-4shot``: the script's
  ``--use-fewshot`` prompt (4 shots and the question in one user turn).
- ``humaneval:qwen-chat`` (D5): the HumanEvalPack-style instruction; the function body is taken
  from the reply and appended to the original prompt; run in the sandbox.
"""

from __future__ import annotations

import re
from functools import partial

from evaluate.chat import END_OF_TURN, conversation
from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.qwen_chat import (  # by name: they enter the protocol fingerprint
    GSM8K_NUMBER,
    ceval_choice,
    gsm8k_equal,
    gsm8k_number,
    humaneval_body,
    mmlu_choice,
)
from evaluate.task import Aggregation, Doc, Scored, Task
from evaluate.tasks import ceval, gsm8k, humaneval, mmlu
from evaluate.tasks.multiple_choice import LETTERS, read_csv_pandas, require_answer

SYSTEM = "You are a helpful assistant."
STOPS = END_OF_TURN  # <|im_end|>, <|im_start|>, <|endoftext|>
MAX_NEW_TOKENS = 512
PARAMS = {"system": SYSTEM, "stops": STOPS, "max_new_tokens": MAX_NEW_TOKENS,
          "decoding": "greedy", "repetition_penalty": 1.0, "reply": "cut at stops, strip()"}

MMLU_HEADER = ("The following is a multiple-choice question. Please choose the most suitable one "
               "among A, B, C and D as the answer to this question.\n\n")
FEWSHOT_TURN = "Question: {question}\nLet's think step by step"


def chat_request(query: str) -> list[GenerateRequest]:
    """``model.chat(tokenizer, query)``: default system turn, one user turn, greedy."""
    return [GenerateRequest(context="", chat=conversation(query, system=SYSTEM), stop=STOPS,
                            max_new_tokens=MAX_NEW_TOKENS, repetition_penalty=1.0)]


def reply(responses: list[Response]) -> str:
    """The reply as ``_decode_chatml`` returns it: up to the first end-of-turn token, stripped."""
    return cut_at_stops(responses[0]["text"], STOPS).strip()


def choice_lines(row: dict[str, str]) -> str:
    return "".join(f"{letter}. {row[letter]}\n" for letter in LETTERS)


# ---- MMLU (D2) ---------------------------------------------------------------------------------
def load_mmlu(data: DataDir) -> list[Doc]:
    docs = []
    for subject in mmlu.SUBJECTS:
        name = f"mmlu/test/{subject}_test.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name), mmlu.COLUMNS), 1):
            require_answer(row["answer"], f"{name}:{number}")
            docs.append(Doc(
                id=f"{subject}/{number - 1}", target=row["answer"],
                meta={"subject": subject, "choices": [row[x] for x in LETTERS]},
                data={"query": MMLU_HEADER + row["question"] + "\n" + choice_lines(row)}))
    return docs


def build_query(doc: Doc) -> list[GenerateRequest]:
    return chat_request(doc.data["query"])


def score_mmlu(doc: Doc, responses: list[Response]) -> Scored:
    text = reply(responses)
    letter, rule = mmlu_choice(text, doc.meta["choices"])
    return Scored(extracted=letter, score=float(letter == doc.target),
                  extra={"reply": text, "rule": rule})


# ---- C-Eval (D3) -------------------------------------------------------------------------------
def load_ceval(data: DataDir) -> list[Doc]:
    docs = []
    for subject in ceval.SUBJECTS:
        name = f"ceval/val/{subject}_val.csv"
        for number, row in enumerate(read_csv_pandas(data.path(name)), 1):
            require_answer(row.get("answer", ""), f"{name}:{number}")
            docs.append(Doc(
                id=f"{subject}/{row['id']}", target=row["answer"],
                meta={"subject": subject, "question": row["question"],
                      "choices": [row[x] for x in LETTERS]},
                data={"query": row["question"] + "\n\n" + choice_lines(row)}))
    return docs


def score_ceval(doc: Doc, responses: list[Response]) -> Scored:
    text = reply(responses)
    letter, rule = ceval_choice(text, doc.meta["question"], doc.meta["choices"])
    return Scored(extracted=letter, score=float(letter == doc.target),
                  extra={"reply": text, "rule": rule})


# ---- GSM8K (D4) --------------------------------------------------------------------------------
def fewshot_query(question: str) -> str:
    """The ``--use-fewshot`` context: the 4 shots of C11, then the question."""
    shots = "".join(FEWSHOT_TURN.format(question=q) + "\n" + a + "\n" for q, a in gsm8k.OC_SHOTS)
    return shots + FEWSHOT_TURN.format(question=question)


def build_gsm8k(doc: Doc, fewshot: bool = False) -> list[GenerateRequest]:
    question = doc.data["question"]
    return chat_request(fewshot_query(question) if fewshot else question)


def score_gsm8k(doc: Doc, responses: list[Response]) -> Scored:
    text = reply(responses)
    gold = gsm8k_number(doc.target)
    predicted = gsm8k_number(text)
    correct = gold is not None and gsm8k_equal(gold, predicted)
    return Scored(extracted=predicted, score=float(correct), extra={"reply": text, "gold": gold})


# ---- HumanEval (D5) ----------------------------------------------------------------------------
def humaneval_query(prompt: str, entry_point: str) -> str:
    """HumanEvalPack's instruction: the signature, the docstring's lines stripped, the prompt."""
    signature = re.search(rf"def\s+({entry_point}.*?):\s*\n", prompt)
    docstring = re.search(r"(?:\"\"\"|''')(.*?)(?:\"\"\"|''')", prompt, re.DOTALL)
    if signature is None or docstring is None:
        raise MalformedDataError(f"no signature or docstring of {entry_point!r} in the prompt")
    description = "\n".join(line.strip() for line in docstring.group(1).split("\n"))
    return (f"Write a Python function `{signature.group(1)}` to solve the following problem:\n"
            f"{description}\n{prompt}")


def load_humaneval(data: DataDir) -> list[Doc]:
    """HumanEval's problems; ``target`` is the test harness (prompt, test, entry point)."""
    docs = humaneval.load(data)
    for doc in docs:
        doc.target = {key: doc.data[key] for key in ("prompt", "test", "entry_point")}
    return docs


def build_humaneval(doc: Doc) -> list[GenerateRequest]:
    return chat_request(humaneval_query(doc.target["prompt"], doc.target["entry_point"]))


def score_humaneval(docs: list[Doc], responses: list[list[Response]]) -> list[Scored]:
    from evaluate.sandbox import Limits, run_programs

    replies = [reply(r) for r in responses]
    bodies = [humaneval_body(text, doc.target["entry_point"])
              for doc, text in zip(docs, replies, strict=True)]
    programs = [humaneval.program(doc.target, body) for doc, body in zip(docs, bodies, strict=True)]
    results = run_programs(programs, Limits(timeout_s=humaneval.TIMEOUT_S),
                           progress=len(programs) > 1)
    return [Scored(extracted=body, score=float(result.passed),
                   extra={"reply": text, "status": result.status, "detail": result.detail})
            for body, text, result in zip(bodies, replies, results, strict=True)]


def score_humaneval_one(doc: Doc, responses: list[Response]) -> Scored:
    return score_humaneval([doc], [responses])[0]


def _task(name: str, description: str, script: str, **fields) -> Task:
    return register(Task(name=name, description=description,
                         provenance=f"QwenLM/Qwen eval/{script} (PROTOCOLS_MORE.md D)",
                         shots=fields.pop("shots", 0), chat=True, **fields))


_task("mmlu:qwen-chat", "MMLU 0-shot chat, Qwen's regex cascade with a fuzzy fallback",
      "evaluate_chat_mmlu.py", data_files=("mmlu/test/*_test.csv",), load=load_mmlu,
      build=build_query, score=score_mmlu,
      aggregation=Aggregation(average="micro", by="subject", categories=mmlu.CATEGORIES,
                              per_group=True),
      params={**PARAMS, "header": MMLU_HEADER, "csv": "pandas astype(str) (NA quirk)"},
      metric_note="micro over questions; categories; per subject")
_task("ceval:qwen-chat", "C-Eval 0-shot chat on val, Qwen's Chinese regex cascade with a fuzzy "
      "fallback", "evaluate_chat_ceval.py", data_files=("ceval/val/*_val.csv",),
      load=load_ceval, build=build_query, score=score_ceval, aggregation=ceval.AGGREGATION,
      params={**PARAMS, "split": "val", "csv": "pandas defaults"},
      metric_note="macro over 52 subjects; STEM/Social Science/Humanities/Other/Hard")
_task("gsm8k:qwen-chat", "GSM8K 0-shot chat (the question alone), last number within 1e-4",
      "evaluate_chat_gsm8k.py", data_files=(gsm8k.DATA_FILE,),
      load=partial(gsm8k.load, with_prompt=False), build=build_gsm8k, score=score_gsm8k,
      params={**PARAMS, "number": GSM8K_NUMBER.pattern, "abs_tol": 1e-4},
      metric_note="greedy")
_task("gsm8k:qwen-chat-4shot", "GSM8K chat with the script's --use-fewshot prompt (4 shots in "
      "one user turn)", "evaluate_chat_gsm8k.py --use-fewshot", shots=4,
      data_files=(gsm8k.DATA_FILE,), load=partial(gsm8k.load, with_prompt=False),
      build=partial(build_gsm8k, fewshot=True), score=score_gsm8k,
      params={**PARAMS, "shots": gsm8k.OC_SHOTS, "turn": FEWSHOT_TURN,
              "number": GSM8K_NUMBER.pattern, "abs_tol": 1e-4},
      metric_note="greedy; not the 8-shot column of Table 5 (no such chat prompt exists)")
_task("humaneval:qwen-chat", "HumanEval 0-shot chat (HumanEvalPack instruction), body "
      "extracted from the reply", "evaluate_chat_humaneval.py",
      data_files=(humaneval.DATA_FILE,), load=load_humaneval, build=build_humaneval,
      score=score_humaneval_one, score_many=score_humaneval,
      aggregation=Aggregation(metric="pass@1"),
      params={**PARAMS, "timeout_s": humaneval.TIMEOUT_S,
              "program": "prompt+body+\\n+test+\\n+check(entry_point)"},
      metric_note="greedy, 1 sample", results_extra=humaneval.run_facts)
