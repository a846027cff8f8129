"""OpenCompass's chat configs as run for the Qwen1.5-Chat reference table (PROTOCOLS_MORE A2, C).

Rendering (A2, ``HuggingFacewithChatTemplate`` at OC@2954913d): no system message (the chat
template's default applies); every user turn built from a ``round`` template ends with an extra
``"\\n"`` (the empty SYSTEM entry of OpenCompass's default meta template, mapped to the user role
and merged into the HUMAN turn); shots are user/assistant turns; the final BOT slot is dropped.
Generation is greedy with the checkpoint's other generation settings left active (a repetition
penalty in ``generation_config.json`` applies: ``repetition_penalty=None``); the reply is cut at
the first stop word: ``<|im_end|>``, ``<|endoftext|>`` (the checkpoint's eos ids and eos token)
and the dataset's own (none here).

- ``mmlu:opencompass-chat`` (C1, ``mmlu_gen_4d595a``): 5 dev shots, ``first_option("ABCD")``,
  macro over 57 subjects.
- ``cmmlu:opencompass-chat`` (C2, ``cmmlu_gen_c13365``): 5 dev shots, ``first_capital``, macro
  over 67 subjects.
- ``ceval:opencompass-chat`` (C3, ``ceval_internal_gen_2daf24``): 5 dev shots, ``first_capital``,
  macro over 52 subjects, **val** split (the table's ceval-test answers are not public).
- ``gsm8k:opencompass-chat`` and ``humaneval:opencompass-chat``: :mod:`.opencompass_chat_gen`.
- ``math``, ``mbpp`` and ``bbh:opencompass-chat``: :mod:`.opencompass_chat_reasoning`;
- ``gaokao/triviaqa/nq:opencompass-chat``: :mod:`.opencompass_chat_knowledge`;
  ``race/winogrande/hellaswag/gpqa:opencompass-chat``: :mod:`.opencompass_chat_choice`.
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluate.chat import Conversation, conversation
from evaluate.data import DataDir
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.opencompass import first_capital, first_option
from evaluate.task import Aggregation, Doc, Scored, Task
from evaluate.tasks import ceval, cmmlu, mmlu
from evaluate.tasks.multiple_choice import read_csv_plain, require_answer
from evaluate.tasks.subjects import CMMLU_CHINESE_NAMES as CMMLU_NAMES

STOPS = ("<|im_end|>", "<|endoftext|>")
MAX_OUT_LEN = 1024  # the model config's max_out_len; the exam configs set none
SHOTS = 5
ENGINE = {"stops": STOPS, "system": None, "decoding": "greedy",
          "repetition_penalty": "checkpoint's generation_config",
          "user_turns": "round-built user turns end with an extra \\n (A2)"}


def round_conversation(turns: Sequence[str]) -> Conversation:
    """HUMAN, BOT, ..., HUMAN items of ``round`` templates as OC@2954913d sends them to a chat
    template: each user turn gets ``"\\n"`` appended, no system message."""
    humans, bots = turns[0::2], turns[1::2]
    return conversation(humans[-1] + "\n",
                        shots=[(h + "\n", b) for h, b in zip(humans, bots, strict=False)])


def chat_request(doc: Doc, max_new_tokens: int = MAX_OUT_LEN) -> list[GenerateRequest]:
    return [GenerateRequest(context="", chat=round_conversation(doc.data["turns"]), stop=STOPS,
                            max_new_tokens=max_new_tokens, repetition_penalty=None)]


def reply(responses: list[Response]) -> str:
    """The generated text cut at the first stop word (OpenCompass keeps special tokens)."""
    return cut_at_stops(responses[0]["text"], STOPS)


def _choices(q: str, a: str, b: str, c: str, d: str) -> str:
    return f"{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}"


# ---- MMLU, mmlu_gen_4d595a ---------------------------------------------------------------------
def mmlu_human(subject: str, cells: Sequence[str]) -> str:
    hint = (f"There is a single choice question about {subject.replace('_', ' ')}. "
            "Answer the question by replying A, B, C or D.")
    return f"{hint}\nQuestion: {_choices(*cells[:5])}\nAnswer: "


def load_mmlu(data: DataDir) -> list[Doc]:
    docs = []
    for subject in mmlu.SUBJECTS:
        dev = read_csv_plain(data.path(f"mmlu/dev/{subject}_dev.csv"), header=False)
        shots = [t for r in dev[:SHOTS] for t in (mmlu_human(subject, r), r[5] + "\n")]
        name = f"mmlu/test/{subject}_test.csv"
        for number, cells in enumerate(read_csv_plain(data.path(name), header=False), 1):
            require_answer(cells[5] if len(cells) == 6 else "", f"{name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=cells[5],
                            meta={"subject": subject},
                            data={"turns": (*shots, mmlu_human(subject, cells))}))
    return docs


def score_mmlu(doc: Doc, responses: list[Response]) -> Scored:
    text = reply(responses)
    guess = first_option(text, "ABCD")
    return Scored(extracted=guess, score=float(guess == doc.target), extra={"reply": text})


# ---- CMMLU, cmmlu_gen_c13365 -------------------------------------------------------------------


def cmmlu_human(chinese: str, row: Sequence[str]) -> str:
    return (f"以下是关于{chinese}的单项选择题，请直接给出正确答案的选项。\n"
            f"题目：{_choices(*row[1:6])}")


def load_cmmlu(data: DataDir) -> list[Doc]:
    """OpenCompass's CMMLUDataset: ``csv.reader``, header skipped, columns 1-6."""
    docs = []
    for subject, chinese in CMMLU_NAMES.items():
        dev = read_csv_plain(data.path(f"cmmlu/dev/{subject}.csv"), header=True)
        shots = [t for r in dev[:SHOTS] for t in (cmmlu_human(chinese, r), "答案是: " + r[6])]
        name = f"cmmlu/test/{subject}.csv"
        for number, row in enumerate(read_csv_plain(data.path(name), header=True), 1):
            require_answer(row[6] if len(row) == 7 else "", f"{name}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row[6],
                            meta={"subject": subject},
                            data={"turns": (*shots, cmmlu_human(chinese, row))}))
    return docs


def score_capital(doc: Doc, responses: list[Response]) -> Scored:
    text = reply(responses)
    guess = first_capital(text)
    return Scored(extracted=guess, score=float(guess == doc.target), extra={"reply": text})


# ---- C-Eval, ceval_internal_gen_2daf24 ---------------------------------------------------------
def ceval_human(chinese: str, row: dict[str, str]) -> str:
    body = _choices(*(row[k] for k in ("question", "A", "B", "C", "D")))
    return f"以下是中国关于{chinese}考试的单项选择题，请选出其中的正确答案。\n{body}\n答案: "


def _dict_rows(path) -> list[dict[str, str]]:
    rows = read_csv_plain(path, header=False)
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]] if rows else []


def load_ceval(data: DataDir) -> list[Doc]:
    docs = []
    for subject, (_, chinese, _) in ceval.SUBJECTS.items():
        dev = _dict_rows(data.path(f"ceval/dev/{subject}_dev.csv"))
        shots = [t for r in dev[:SHOTS] for t in (ceval_human(chinese, r), r["answer"])]
        name = f"ceval/val/{subject}_val.csv"
        for number, row in enumerate(_dict_rows(data.path(name)), 1):
            require_answer(row.get("answer", ""), f"{name}:{number}")
            docs.append(Doc(id=f"{subject}/{row['id']}", target=row["answer"],
                            meta={"subject": subject},
                            data={"turns": (*shots, ceval_human(chinese, row))}))
    return docs


def chat_provenance(config: str) -> str:
    """Where a chat form comes from: the dataset config at the pinned commit, rendered as A2."""
    return (f"OpenCompass configs/datasets/{config}.py at 2954913d, HuggingFacewithChatTemplate "
            "(PROTOCOLS_MORE.md A2, C)")


def _exam(name: str, config: str, **fields) -> Task:
    return register(Task(name=name, provenance=chat_provenance(config), shots=SHOTS,
                         build=chat_request, chat=True, **fields))


_exam("mmlu:opencompass-chat", "mmlu/mmlu_gen_4d595a",
      description="MMLU 5-shot chat turns, first_option_postprocess (OpenCompass mmlu_gen_4d595a)",
      data_files=("mmlu/dev/*_dev.csv", "mmlu/test/*_test.csv"), load=load_mmlu,
      score=score_mmlu,
      aggregation=Aggregation(average="macro", by="subject", categories=mmlu.CATEGORIES,
                              per_group=True),
      params={**ENGINE, "max_out_len": MAX_OUT_LEN, "postprocess": "first_option ABCD",
              "csv": "csv module"},
      metric_note="macro over 57 subjects")
_exam("cmmlu:opencompass-chat", "cmmlu/cmmlu_gen_c13365",
      description="CMMLU 5-shot chat turns, first_capital_postprocess (OpenCompass "
      "cmmlu_gen_c13365)", data_files=("cmmlu/dev/*.csv", "cmmlu/test/*.csv"),
      load=load_cmmlu, score=score_capital,
      aggregation=Aggregation(average="macro", by="subject", categories=cmmlu.CATEGORIES,
                              per_group=True),
      params={**ENGINE, "max_out_len": MAX_OUT_LEN, "postprocess": "first_capital",
              "names": CMMLU_NAMES, "csv": "csv module"},
      metric_note="macro over 67 subjects")
_exam("ceval:opencompass-chat", "ceval/ceval_internal_gen_2daf24",
      description="C-Eval 5-shot chat turns on val, first_capital_postprocess (OpenCompass "
      "ceval_internal_gen_2daf24)", data_files=("ceval/dev/*_dev.csv", "ceval/val/*_val.csv"),
      load=load_ceval, score=score_capital, aggregation=ceval.AGGREGATION,
      params={**ENGINE, "max_out_len": MAX_OUT_LEN, "postprocess": "first_capital",
              "split": "val", "csv": "csv module"},
      metric_note="macro over 52 subjects (val; the table's ceval-test is not reproducible)")
