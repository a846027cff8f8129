"""WinoGrande 1.1 dev, 5-shot, as OpenCompass ran it on base models
(``winogrande_5shot_ll_252f01``; PROTOCOLS_MORE.md B12 and A1 "LL mode"; EVALUATION.md
"WinoGrande").

Rows (``WinograndeDatasetV3``): ``optN = sentence.replace("_", optionN)``, ``cont =
sentence.split("_")[1]``, label ``" AB"[int(answer)]``. Shots: rows 0, 2, 4, 6, 8 of
``train_xs.jsonl``, each the sentence filled with its correct option, joined by ``"\\n"`` plus a
final ``"\\n"`` (label-keyed string ice template ``{"A": "{opt1}", "B": "{opt2}"}``, rendered by
:mod:`evaluate.tasks.opencompass`). Candidate X = shots + ``optX``.

- ``winogrande:opencompass``: OpenCompass's "LL" score as it computes it: ``get_ppl`` with the
  token count L of ``cont`` used as a context mask, so a candidate's score is minus the mean NLL
  of its tokens L..N-1 (of all N; the whole prompt, shots included, less its first L tokens).
  Highest wins (first on ties). Each candidate is a row of OpenCompass's left-padded batch of 8:
  the mask counts positions of the padded row, so a row with p pads has its mask p tokens
  earlier in its text (all of it once p >= L) and the first token's loss from the last pad.
- ``winogrande:opencompass-unbatched``: the same score, each prompt alone (no padding terms).
- ``winogrande:opencompass-fixed``: the continuation's log-likelihood, log P(cont | shots +
  sentence up to the blank, filled with option X); highest wins.
"""

from __future__ import annotations

import dataclasses

from evaluate.data import DataDir, require_fields
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import LoglikelihoodRequest, Response, SequenceNLLRequest
from evaluate.scoring.choice import label_score
from evaluate.task import Doc, Scored, ScoreInput, Task
from evaluate.tasks import opencompass as oc
from evaluate.tasks import opencompass_ppl as ppl

LABELS = ("A", "B")
SHOT_ROWS = (0, 2, 4, 6, 8)
ICE = {"A": "{opt1}", "B": "{opt2}"}
PROMPT = {"A": "</E>{opt1}", "B": "</E>{opt2}"}


def rows(data: DataDir, name: str) -> list[dict[str, str]]:
    out = []
    for number, row in enumerate(data.read_jsonl(name), 1):
        require_fields(row, ("sentence", "option1", "option2", "answer"), f"{name}:{number}")
        sentence = row["sentence"]
        if "_" not in sentence or row["answer"] not in ("1", "2"):
            raise MalformedDataError(f"{name}:{number}: no blank, or answer not 1/2")
        out.append({"prompt": sentence, "only_option1": row["option1"],
                    "only_option2": row["option2"],
                    "opt1": sentence.replace("_", row["option1"]),
                    "opt2": sentence.replace("_", row["option2"]),
                    "answer": " AB"[int(row["answer"])], "cont": sentence.split("_")[1]})
    return out


def load(data: DataDir) -> list[Doc]:
    train = rows(data, "winogrande/train_xs.jsonl")
    ice = oc.string_ice(ICE, [train[i] for i in SHOT_ROWS], "answer")
    docs = []
    for number, row in enumerate(rows(data, "winogrande/dev.jsonl")):
        prefix = row["prompt"].split("_")[0]
        docs.append(Doc(id=str(number), target=row["answer"], data={
            "prompts": [oc.string_prompt(PROMPT[x], ice, row) for x in LABELS],
            "cont": row["cont"],
            "contexts": [ice + prefix + row[f"only_option{n}"] for n in (1, 2)]}))
    return docs


def build(doc: Doc) -> list:
    """Each candidate's per-token NLLs, and ``cont`` alone (its token count is the mask)."""
    requests = [SequenceNLLRequest(text=p, per_token=True) for p in doc.data["prompts"]]
    if doc.data["cont"]:
        requests.append(SequenceNLLRequest(text=doc.data["cont"]))
    return requests


def ll_values(responses: list[Response]) -> list[float]:
    """OpenCompass's LL value per candidate: -(sum of label NLLs at row positions j >= L-1) /
    (N - L), N the row's non-pad tokens. A left-padded row (``left_pad`` p) has its labels
    from position max(p-1, 0) on, so the mask cuts p positions earlier into the text."""
    mask = responses[2]["num_tokens"] + 1 if len(responses) > 2 else 0
    values = []
    for response in responses[:2]:
        nlls = response["nlls"]
        first = max(response.get("left_pad", 0) - 1, 0)  # row position of nlls[0]
        tokens = response.get("nonpad_tokens", len(nlls) + 1)
        values.append(-sum(nlls[max(mask - 1 - first, 0):]) / (tokens - mask))
    return values


def score(sample: ScoreInput, responses: list[Response]) -> Scored:
    values = ll_values(responses)
    guess = LABELS[values.index(max(values))]
    return Scored(extracted=guess, score=label_score(guess, sample.target),
                  extra={"ll": values})


def build_fixed(doc: Doc) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(context=c, candidates=(doc.data["cont"],))
            for c in doc.data["contexts"]]


def score_fixed(sample: ScoreInput, responses: list[Response]) -> Scored:
    values = [r["logprobs"][0] for r in responses]
    guess = LABELS[values.index(max(values))]
    return Scored(extracted=guess, score=label_score(guess, sample.target),
                  extra={"logprob": values})


UNBATCHED = Task(
    name="winogrande:opencompass",
    description="WinoGrande dev, 5-shot, OpenCompass's whole-prompt 'LL' score "
                "(winogrande_5shot_ll_252f01)",
    provenance='OpenCompass configs/datasets/winogrande/winogrande_5shot_ll_252f01.py, '
               'LLInferencer; EVALUATION.md "WinoGrande"',
    shots=len(SHOT_ROWS),
    data_files=("winogrande/dev.jsonl", "winogrande/train_xs.jsonl"),
    load=load,
    build=build,
    score=score,
    params={"ice": ICE, "prompt": PROMPT, "shots": SHOT_ROWS,
            "ll": "-(NLL of tokens L..N-1)/(N-L), L = tokens of cont; argmax; "
                  "batch-independent"},
    metric_note="accuracy over 1,267",
)
# OpenCompass's left-padded batches of 8 per label (the default; the padding moves the mask),
# and each prompt alone.
TASK = register(ppl.batched(dataclasses.replace(UNBATCHED, params={
    **UNBATCHED.params, "ll": "-(NLL of row labels j >= L-1)/(N-L), L = tokens of cont, in "
                              "left-padded batches of 8; argmax"}), rows=2))
register(ppl.unbatched(UNBATCHED))

FIXED = register(dataclasses.replace(
    UNBATCHED, name="winogrande:opencompass-fixed",
    description="WinoGrande dev, 5-shot, log-likelihood of the continuation after the blank "
                "(fix of OpenCompass's LL score)",
    provenance='OpenCompass winogrande_5shot_ll_252f01 prompts, continuation log-likelihood; '
               'EVALUATION.md "WinoGrande"',
    build=build_fixed,
    score=score_fixed,
    params={"ice": ICE, "prompt": PROMPT, "shots": SHOT_ROWS,
            "ll": "log P(cont | shots + prefix + option), argmax"},
))
