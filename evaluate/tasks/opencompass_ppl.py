"""OpenCompass's perplexity multiple choice (PROTOCOLS_MORE.md A1): the shared context of a
question's per-label prompts, the per-subject loader of ``mmlu_ppl``/``cmmlu_ppl``, and the
faithful batch-of-8 form of a perplexity task with its named ``-unbatched`` variant
(``Task.request_batching``; :mod:`evaluate.left_padding`, :mod:`evaluate.backends.left_padded`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluate.data import DataDir
from evaluate.scoring.choice import row_ppl_choice, row_ppl_requests
from evaluate.task import Doc, LeftPaddedBatches, Task
from evaluate.tasks.multiple_choice import require_answer
from evaluate.tasks.opencompass import Fields, shared_context, string_ice, string_prompt


def label_context(template: Mapping[str, str], ice: str, row: Fields,
                  endings: Sequence[str]) -> str:
    """A PPL question: the context its per-label string prompts (the shots in place of
    ``</E>``, filled with ``row``; labels in ``template``'s order) share before their endings."""
    prompts = [string_prompt(template[label], ice, row) for label in template]
    return shared_context(prompts, endings)


def subject_ppl_docs(data: DataDir, subjects: Iterable[str],
                     files: Callable[[str], tuple[str, str]],
                     read_rows: Callable[[Path], list[dict[str, str]]],
                     ice: Mapping[str, str], prompt: Callable[[str], Mapping[str, str]],
                     answer: str, shots: int, endings: Sequence[str]) -> list[Doc]:
    """Per-subject few-shot PPL multiple choice (``mmlu_ppl``, ``cmmlu_ppl``): for each subject,
    ``files(subject)`` names its dev and test files; dev rows ``0..shots-1`` are the shots of
    the label-keyed ``ice`` template, and each test row is one question over ``prompt(subject)``
    (id ``subject/row``, target the ``answer`` column)."""
    docs = []
    for subject in subjects:
        dev, test = files(subject)
        context = string_ice(ice, read_rows(data.path(dev))[:shots], answer)
        template = prompt(subject)
        for number, row in enumerate(read_rows(data.path(test)), 1):
            require_answer(row[answer], f"{test}:{number}")
            docs.append(Doc(id=f"{subject}/{number - 1}", target=row[answer],
                            meta={"subject": subject},
                            data={"prompt": label_context(template, context, row, endings)}))
    return docs


ENGINE = ("OpenCompass HuggingFaceBaseModel.get_ppl (PPL/LL inferencer), batch_size=8 in dataset "
          "order per label, left padding with the tokenizer's pad token, no position ids")
BATCHED_PPL = "get_ppl in left-padded batches of 8 per label: sum NLL of non-pad labels / non-pad"


def row_build(doc: Doc, endings: tuple[str, ...]) -> list[Any]:
    """One whole-prompt request per label: the doc's shared context + each ending."""
    return row_ppl_requests(doc.data["prompt"], endings)


def batched(task: Task, endings: tuple[str, ...] | None = None, rows: int = 4,
            by: str | None = None) -> Task:
    """``task`` (a batch-independent perplexity task) scored in OpenCompass's batches.

    With ``endings`` the task's requests become one whole prompt per label
    (:func:`row_build`, scored by :func:`~evaluate.scoring.choice.row_ppl_choice`); without,
    its own first ``rows`` requests are the batched rows. ``by``: the meta key of the datasets
    OpenCompass ran separately (one per subject).
    """
    changes: dict[str, Any] = {}
    if endings is not None:
        changes = {"build": functools.partial(row_build, endings=endings),
                   "score": row_ppl_choice,
                   "params": {**task.params, "ppl": BATCHED_PPL}}
    return dataclasses.replace(task, request_batching=LeftPaddedBatches(8, rows, by, ENGINE),
                               **changes)


def unbatched(task: Task) -> Task:
    """``task`` as it is (each prompt alone), named ``NAME-unbatched``."""
    return dataclasses.replace(
        task, name=task.name + "-unbatched",
        description=task.description + "; each prompt alone (batch-independent variant)")
