"""GPQA diamond, 0-shot lowest-perplexity choice as OpenCompass ran it on base models
(``gpqa_ppl_6bf57a``; PROTOCOLS_MORE.md B7; EVALUATION.md "GPQA").

The data stays in the authors' password-protected ``gpqa/dataset.zip``: the CSV is read in memory
with their published password and never written out; the task is ``private_text``, so plan and
sample records keep ids, letters, scores and a sha256 of each prompt, not the question text.

Rows (``GPQADataset``): data row k (1-based) places ``[correct, incorrect 1-3]`` with the pattern
``["ABCD", "BCDA", "CDAB", "DABC"][k % 4]`` (so the gold letter cycles D, C, B, A); the answer is
the first letter whose text equals the correct one. Candidate X:
``"Question: {q}\\n(A){A}\\n(B){B}\\n(C){C}\\n(D){D}\\nAnswer: X"``; lowest average NLL over
the whole prompt wins, each prompt scored as a row of OpenCompass's left-padded batch of 8
(``gpqa:opencompass-unbatched``: each prompt alone).
"""

from __future__ import annotations

import zipfile

from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.scoring.choice import LETTERS, lowest_ppl_choice, ppl_requests
from evaluate.task import Doc, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks import opencompass_ppl as ppl
from evaluate.tasks.multiple_choice import SPACED_LETTERS

ARCHIVE = "gpqa/dataset.zip"
MEMBER = "dataset/gpqa_diamond.csv"
PASSWORD = b"deserted-untie-orchid"  # published in the GPQA README (idavidrein/gpqa)
PATTERNS = ("ABCD", "BCDA", "CDAB", "DABC")
TEMPLATE = {x: "Question: {question}\n(A){A}\n(B){B}\n(C){C}\n(D){D}\nAnswer: " + x
            for x in LETTERS}


def read_rows(data: DataDir) -> list[list[str]]:
    path = data.path(ARCHIVE)
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(MEMBER, pwd=PASSWORD)
    except (zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        raise MalformedDataError(f"{path}: cannot read {MEMBER} ({exc})") from None
    return oc.read_csv_bytes(raw, f"{ARCHIVE}:{MEMBER}")


def rows(data: DataDir) -> list[dict[str, str]]:
    """GPQADataset's rows: question, A-D in the rotating order, answer."""
    out = []
    count = 0
    for cells in read_rows(data):
        if len(cells) < 12:
            raise MalformedDataError(f"{ARCHIVE}: a row with {len(cells)} cells, expected 12+")
        if cells[7] == "Question":
            continue
        count += 1
        options = cells[8:12]
        row = {"question": cells[7]}
        for letter, source in zip(LETTERS, PATTERNS[count % 4], strict=True):
            row[letter] = options[ord(source) - ord("A")]
        row["answer"] = next(x for x in LETTERS if row[x] == options[0])
        out.append(row)
    return out


def load(data: DataDir) -> list[Doc]:
    docs = []
    for number, row in enumerate(rows(data)):
        docs.append(Doc(id=str(number), target=row["answer"],
                        data={"prompt": ppl.label_context(TEMPLATE, "", row, SPACED_LETTERS)}))
    return docs


def build(doc: Doc) -> list:
    return ppl_requests(doc.data["prompt"], SPACED_LETTERS)


UNBATCHED = Task(
    name="gpqa:opencompass",
    description="GPQA diamond, 0-shot lowest-perplexity choice (OpenCompass gpqa_ppl_6bf57a)",
    provenance='OpenCompass configs/datasets/gpqa/gpqa_ppl_6bf57a.py, GPQADataset, '
               'PPLInferencer; EVALUATION.md "GPQA"',
    shots=0,
    data_files=(ARCHIVE,),
    load=load,
    build=build,
    score=lowest_ppl_choice,
    params={"template": TEMPLATE, "patterns": PATTERNS, "letters": SPACED_LETTERS,
            "ppl": "sum NLL / all tokens, argmin, batch-independent"},
    metric_note="accuracy over 198",
    private_text=True,
)
# OpenCompass's left-padded batches of 8 per label (the default), and each prompt alone.
TASK = register(ppl.batched(UNBATCHED, SPACED_LETTERS))
register(ppl.unbatched(UNBATCHED))
