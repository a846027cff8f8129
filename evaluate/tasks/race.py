"""RACE, 0-shot lowest-perplexity choice as OpenCompass ran it on base models
(``race_ppl_abed12``; PROTOCOLS_MORE.md B11; EVALUATION.md "RACE").

Candidate X (a label-keyed string template rendered by :mod:`evaluate.tasks.opencompass`):
``"Read the article, and answer the question by replying A, B, C or D.\\n\\n{article}\\n\\nQ:
{question}\\n\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\n\\nAnswer: X"``; the lowest average NLL over the
whole prompt wins, each prompt scored as a row of OpenCompass's left-padded batch of 8
(``NAME-unbatched``: each prompt alone; EVALUATION.md "OpenCompass perplexity batches").
``race:opencompass`` is RACE-high (the reported row), ``race-middle:opencompass`` RACE-middle;
both on the test split, read from the original release's ``RACE/test/<level>/<n>.txt`` files
(one article with its questions each), articles in file-number order.
"""

from __future__ import annotations

import dataclasses
import functools
import json

from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.scoring.choice import LETTERS, lowest_ppl_choice, ppl_requests
from evaluate.task import Doc, Task
from evaluate.tasks import opencompass_ppl as ppl
from evaluate.tasks.multiple_choice import SPACED_LETTERS, require_answer

TEMPLATE = {x: "Read the article, and answer the question by replying A, B, C or D.\n\n"
               "{article}\n\nQ: {question}\n\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n\nAnswer: " + x
            for x in LETTERS}


def rows(data: DataDir, level: str) -> list[dict[str, object]]:
    """RaceDataset's rows (HF ``race`` schema plus ``A``-``D``), one per question."""
    pattern = f"race/RACE/test/{level}/*.txt"
    out = []
    for path in sorted(data.glob(pattern), key=lambda p: (len(p.stem), p.stem)):
        try:
            article = json.loads(path.read_text(encoding="utf-8"))
            questions = zip(article["questions"], article["options"], article["answers"],
                            strict=True)
            for question, options, answer in questions:
                if len(options) != 4:
                    raise ValueError("a question without 4 options")
                out.append({"example_id": article["id"], "article": article["article"],
                            "answer": answer, "question": question, "options": options,
                            **dict(zip(LETTERS, options, strict=True))})
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedDataError(f"{path}: not a RACE article ({exc})") from None
    return out


def load(data: DataDir, level: str) -> list[Doc]:
    docs: list[Doc] = []
    seen: dict[str, int] = {}
    for row in rows(data, level):
        where = f"race/RACE/test/{level}/{row['example_id']}"
        article = str(row["example_id"]).removesuffix(".txt")
        seen[article] = number = seen.get(article, -1) + 1
        require_answer(str(row["answer"]), where)
        docs.append(Doc(id=f"{article}/{number}", target=row["answer"],
                        data={"prompt": ppl.label_context(TEMPLATE, "", row, SPACED_LETTERS)}))
    return docs


def build(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], SPACED_LETTERS)


HIGH_UNBATCHED = Task(
    name="race:opencompass",
    description="RACE-high test, 0-shot lowest-perplexity choice (OpenCompass race_ppl_abed12)",
    provenance='OpenCompass configs/datasets/race/race_ppl_abed12.py, PPLInferencer; '
               'EVALUATION.md "RACE"',
    shots=0,
    data_files=("race/RACE/test/high/*.txt",),
    load=functools.partial(load, level="high"),
    build=build,
    score=lowest_ppl_choice,
    params={"template": TEMPLATE, "letters": SPACED_LETTERS,
            "ppl": "sum NLL / all tokens, argmin, batch-independent"},
    metric_note="accuracy over 3,498 questions",
)

MIDDLE_UNBATCHED = dataclasses.replace(
    HIGH_UNBATCHED, name="race-middle:opencompass",
    description="RACE-middle test, 0-shot lowest-perplexity choice (OpenCompass "
                "race_ppl_abed12)",
    data_files=("race/RACE/test/middle/*.txt",),
    load=functools.partial(load, level="middle"),
    metric_note="accuracy over 1,436 questions",
)
# OpenCompass's left-padded batches of 8 per label (the defaults), and each prompt alone.
HIGH = register(ppl.batched(HIGH_UNBATCHED, SPACED_LETTERS))
MIDDLE = register(ppl.batched(MIDDLE_UNBATCHED, SPACED_LETTERS))
register(ppl.unbatched(HIGH_UNBATCHED))
register(ppl.unbatched(MIDDLE_UNBATCHED))
