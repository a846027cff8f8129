"""HellaSwag, 10-shot lowest-perplexity choice as OpenCompass ran it on base models
(``hellaswag_10shot_ppl_59c85e``; PROTOCOLS_MORE.md B13; EVALUATION.md "HellaSwag").

Rows (``HellaswagDatasetwithICE``): ``ctx = query.split(": ", 1)[-1]``, ``A``-``D`` the choices,
label ``"ABCD"[gold]``. Shots: rows 0-9 of ``hellaswag_train_sampled25.jsonl``, each
``"{ctx}\\nA) {A}\\nB) {B}\\nC) {C}\\nD) {D}\\nWhat is the right option?\\n{label}\\n"``, joined
by ``"\\n"`` plus a final ``"\\n"`` (label-keyed string ice template, rendered by
:mod:`evaluate.tasks.opencompass`). Candidate X: ``"Continue the following text without adding
any additional information or formatting:\\n" + shots + ctx + options + "\\nWhat is the right
option?\\n" + X``; lowest average NLL over the whole prompt wins, each prompt scored as a row of
OpenCompass's left-padded batch of 8 (``hellaswag:opencompass-unbatched``: each prompt alone).
"""

from __future__ import annotations

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.scoring.choice import LETTERS, lowest_ppl_choice, ppl_requests
from evaluate.task import Doc, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks import opencompass_ppl as ppl

SHOTS = 10
HINT = "Continue the following text without adding any additional information or formatting:"
QUESTION = "{ctx}\nA) {A}\nB) {B}\nC) {C}\nD) {D}\nWhat is the right option?"
ICE = {x: f"{QUESTION}\n{x}\n" for x in LETTERS}
PROMPT = {x: f"{HINT}\n</E>{QUESTION}\n{x}" for x in LETTERS}


def rows(data: DataDir, name: str) -> list[dict[str, str]]:
    out = []
    for number, row in enumerate(data.read_jsonl(name), 1):
        require_fields(row, ("query", "choices", "gold"), f"{name}:{number}")
        if len(row["choices"]) != 4 or row["gold"] not in (0, 1, 2, 3):
            raise MalformedDataError(f"{name}:{number}: expected 4 choices and gold 0-3")
        out.append({"ctx": row["query"].split(": ", 1)[-1],
                    **dict(zip(LETTERS, row["choices"], strict=True)),
                    "label": LETTERS[row["gold"]]})
    return out


def load(data: DataDir) -> list[Doc]:
    ice = oc.string_ice(ICE, rows(data, "hellaswag/hellaswag_train_sampled25.jsonl")[:SHOTS],
                        "label")
    docs = []
    for number, row in enumerate(rows(data, "hellaswag/hellaswag.jsonl")):
        docs.append(Doc(id=str(number), target=row["label"],
                        data={"prompt": ppl.label_context(PROMPT, ice, row, LETTERS)}))
    return docs


def build(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], LETTERS)


UNBATCHED = Task(
    name="hellaswag:opencompass",
    description="HellaSwag validation, 10-shot lowest-perplexity choice (OpenCompass "
                "hellaswag_10shot_ppl_59c85e)",
    provenance='OpenCompass configs/datasets/hellaswag/hellaswag_10shot_ppl_59c85e.py, '
               'PPLInferencer; EVALUATION.md "HellaSwag"',
    shots=SHOTS,
    data_files=("hellaswag/hellaswag.jsonl", "hellaswag/hellaswag_train_sampled25.jsonl"),
    load=load,
    build=build,
    score=lowest_ppl_choice,
    params={"ice": ICE, "prompt": PROMPT, "shots": "train_sampled25 rows 0-9",
            "ppl": "sum NLL / all tokens, argmin, batch-independent"},
    metric_note="accuracy over 10,042",
)
# OpenCompass's left-padded batches of 8 per label (the default), and each prompt alone.
TASK = register(ppl.batched(UNBATCHED, LETTERS))
register(ppl.unbatched(UNBATCHED))
