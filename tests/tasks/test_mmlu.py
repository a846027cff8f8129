"""MMLU: exact prompts on real rows (NA quirk, long professional_law), counts, scoring, e2e."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.backends.tokenized import CandidateTokenError
from evaluate.data import DataDir
from evaluate.errors import EvaluateError
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task, select_subset
from evaluate.task import Doc
from evaluate.tasks import mmlu

CM_SHOTS = [  # college_mathematics_dev.csv rows 0-4, written out by hand
    ("Let V be the set of all real polynomials p(x). Let transformations T, S be defined on V by "
     "T:p(x) -> xp(x) and S:p(x) -> p'(x) = d/dx p(x), and interpret (ST)(p(x)) as S(T(p(x))). "
     "Which of the following is true?",
     "ST = 0", "ST = T", "ST = TS", "ST - TS is the identity map of V onto itself.", "D"),
    ("A tank initially contains a salt solution of 3 grams of salt dissolved in 100 liters of "
     "water. A salt solution containing 0.02 grams of salt per liter of water is sprayed into the "
     "tank at a rate of 4 liters per minute. The sprayed solution is continually mixed with the "
     "salt solution in the tank, and the mixture flows out of the tank at a rate of 4 liters per "
     "minute. If the mixing is instantaneous, how many grams of salt are in the tank after 100 "
     "minutes have elapsed?", "2", "2 - e^-2", "2 + e^-2", "2 + e^-4", "D"),
    ("Let A be a real 2x2 matrix. Which of the following statements must be true?\r\n"  # CRLF
     "I. All of the entries of A^2 are nonnegative.\r\nII. The determinant of A^2 is "
     "nonnegative.\r\n"
     "III. If A has two distinct eigenvalues, then A^2 has two distinct eigenvalues.",
     "I only", "II only", "III only", "II and III only", "B"),
    ("Suppose that f(1 + x) = f(x) for all real x. If f is a polynomial and f(5) = 11, then "
     "f(15/2)", "-11", "0", "11", "33/2", "C"),
    ("Let A be the set of all ordered pairs of integers (m, n) such that 7m + 12n = 22. What is "
     "the greatest negative number in the set B = {m + n : (m, n) \\in A}?",
     "-5", "-4", "-3", "-2", "B"),
]
NA_QUESTION = ("For how many positive integers k does the ordinary decimal representation of the "
               "integer k! end in exactly 99 zeros?")  # test row 21; choice A is "None" in the CSV
LAW_QUERY = (
    "One afternoon, a pilot was flying a small airplane when it suddenly ran out of gas. As he was "
    "coming in for an emergency landing, the plane crossed into a neighboring state at a very low "
    "altitude. At this time, a 9-year-old boy was walking to school when he was struck and "
    "injured by an object, which may have fallen from the plane. In federal court, a negligence "
    "suit was brought against the pilot by the father of the boy for his son. Accompanied by his "
    "father, the boy had visited an attorney for preliminary discussions regarding the case. "
    "However, the father did not retain the attorney to represent his son in the lawsuit. "
    "Instead, the father hired another lawyer to handle the case. At trial, the pilot's attorney "
    "calls the consulting attorney to testify what the boy had said to him regarding his physical "
    "condition during the consultation that the attorney had had with the boy and his father. The "
    "attorney's testimony is\n"
    "A. admissible, because the attorney-client privilege was waived by the filing of the "
    "lawsuit.\n"
    "B. admissible, because there is no privilege of confidentiality when a person other than the "
    "client is present at the attorney-client consultation.\n"
    "C. inadmissible, because the attorney-client privilege prevents such a breach of "
    "confidential communications.\n"
    "D. inadmissible, because it was a statement of physical condition not made for the purpose "
    "of obtaining medical treatment."
)


@pytest.fixture(scope="module")
def qwen_docs(data_dir):
    return {d.id: d for d in mmlu.QWEN.load(DataDir(data_dir))}


@pytest.fixture(scope="module")
def oc_docs(data_dir):
    return {d.id: d for d in mmlu.OPENCOMPASS.load(DataDir(data_dir))}


def test_counts(qwen_docs, oc_docs):
    assert len(qwen_docs) == len(oc_docs) == 14042
    assert len({d.meta["subject"] for d in qwen_docs.values()}) == 57
    assert sorted(s for members in mmlu.CATEGORIES.values() for s in members) == list(
        mmlu.SUBJECTS)


def test_qwen_prompt_with_na_quirk(qwen_docs):
    shots = "".join(f"Question: {q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: {x}\n\n"
                    for q, a, b, c, d, x in CM_SHOTS)
    expected = ("The following are multiple choice questions (with answers) about college "
                "mathematics.\n\n" + shots + "Question: " + NA_QUESTION
                + "\nA. nan\nB. One\nC. Four\nD. Five\nAnswer:")
    doc = qwen_docs["college_mathematics/21"]
    assert doc.data["prompt"] == expected
    assert doc.target == "D"
    (request,) = mmlu.QWEN.build(doc)
    assert request.candidates == (" A", " B", " C", " D") and request.next_token
    assert request.max_context_tokens == 2047


def test_na_quirk_count(qwen_docs, oc_docs):
    """10 test choices read as NaN (EVALUATION.md "MMLU"); OpenCompass's csv loader keeps them."""
    def nan_choices(prompt: str) -> int:
        query = prompt.rsplit("\n\n", 1)[-1]
        return sum(line[3:] == "nan" for line in query.split("\n") if line[:3] in
                   ("A. ", "B. ", "C. ", "D. "))
    assert sum(nan_choices(d.data["prompt"]) for d in qwen_docs.values()) == 10
    assert oc_docs["college_mathematics/21"].data["prompt"].endswith(
        NA_QUESTION + "\nA. None\nB. One\nC. Four\nD. Five\nAnswer:")


def test_long_professional_law_prompt(qwen_docs, oc_docs, qwen2_tokenizer):
    doc = qwen_docs["professional_law/0"]
    prompt = doc.data["prompt"]
    assert prompt.startswith("The following are multiple choice questions (with answers) about "
                             "professional law.\n\nQuestion: ")
    assert prompt.endswith("\n\nQuestion: " + LAW_QUERY + "\nAnswer:")
    assert prompt.count("\nAnswer: ") == 5
    assert len(qwen2_tokenizer(prompt)["input_ids"]) > 1500
    oc = oc_docs["professional_law/0"].data["prompt"]
    assert oc.startswith("The following are multiple choice questions (with answers) about  "
                         "professional law.\n\n")
    assert oc.endswith("\n\n" + LAW_QUERY + "\nAnswer:")


def test_opencompass_prompt(oc_docs):
    """OpenCompass's loader reads the CSV in text mode: the shot's CRLF reads as LF."""
    shots = "\n".join(f"{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: {x}\n"
                      for q, a, b, c, d, x in CM_SHOTS).replace("\r\n", "\n")
    expected = ("The following are multiple choice questions (with answers) about  college "
                "mathematics.\n\n" + shots + "\n" + NA_QUESTION
                + "\nA. None\nB. One\nC. Four\nD. Five\nAnswer:")
    doc = oc_docs["college_mathematics/21"]
    assert doc.data["prompt"] == expected
    assert [r.text for r in mmlu.OPENCOMPASS.build(doc)] == [expected + x
                                                              for x in (" A", " B", " C", " D")]
    letters, context = get_task("mmlu:opencompass-unbatched").build(doc)
    assert letters.candidates == (" A", " B", " C", " D") and letters.next_token
    assert letters.context == context.text == expected


def test_aggregation_micro_and_categories():
    from evaluate.metrics import aggregate

    records = ([{"score": 1.0, "meta": {"subject": "anatomy"}}] * 3
               + [{"score": 0.0, "meta": {"subject": "philosophy"}}])
    qwen = aggregate(records, mmlu.QWEN.aggregation, resamples=10)
    assert qwen["accuracy"]["value"] == pytest.approx(75.0)  # micro: 3 of 4
    assert qwen["category:STEM"]["value"] == pytest.approx(100.0)
    assert qwen["category:Humanities"]["value"] == pytest.approx(0.0)
    assert qwen["subject:anatomy"]["n"] == 3
    oc = aggregate(records, mmlu.OPENCOMPASS.aggregation, resamples=10)
    assert oc["accuracy"]["value"] == pytest.approx(50.0)  # macro: mean of 100 and 0


class _SplitLetters:
    """A tokenizer stand-in whose " A" is two tokens."""

    def __call__(self, text, add_special_tokens=False):
        if isinstance(text, list):  # a batch, as real tokenizers take it
            return {"input_ids": [[ord(ch) for ch in t] for t in text]}
        return {"input_ids": [ord(ch) for ch in text]}


def test_multi_token_letter_is_a_clear_error(tiny_model, qwen2_tokenizer):
    backend = HFBackend(tiny_model, qwen2_tokenizer)
    backend.tokenizer = _SplitLetters()
    request = mmlu.QWEN.build(Doc(id="x", target="A", data={"prompt": "Answer:"}))[0]
    with pytest.raises(CandidateTokenError, match="' A' is 2 tokens") as info:
        list(backend.run([request], progress=False))
    assert isinstance(info.value, EvaluateError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["mmlu", "mmlu:opencompass-unbatched"])
def test_batched_equals_batch_one(name, data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    task = get_task(name)
    # Sequence NLL runs the LM head over every position (152K vocabulary): fewer PPL questions.
    docs = select_subset(task.load(DataDir(data_dir)), 12 if name == "mmlu" else 3, 7)
    if name == "mmlu":  # the long row, longer than the others: left padding under test
        docs.append(next(d for d in task.load(DataDir(data_dir)) if d.id == "professional_law/0"))
    requests = [r for d in docs for r in task.build(d)]
    one = dict(HFBackend(tiny_model, qwen2_tokenizer, batch_size=1).run(requests, False))
    many = dict(HFBackend(tiny_model, qwen2_tokenizer, batch_size=8).run(requests, False))
    for i in range(len(requests)):
        for key in ("logprobs", "nll"):
            if key in one[i]:
                assert many[i][key] == pytest.approx(one[i][key], rel=1e-4, abs=1e-3)
    per_doc = len(requests) // len(docs)
    for k, doc in enumerate(docs):
        a = task.score(doc, [one[k * per_doc + j] for j in range(per_doc)])
        b = task.score(doc, [many[k * per_doc + j] for j in range(per_doc)])
        assert a.extracted == b.extracted


def test_end_to_end_tiny_model(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=4,
                        identity={"model": "tiny-qwen2"})
    results = run_task(mmlu.QWEN, backend, DataDir(data_dir), tmp_path, "tiny",
                       RunOptions(limit=16, progress=False))
    assert results["samples"] == 16 and results["complete"]
    metrics = results["metrics"]
    scores = [json.loads(line)["score"] for line in
              open(Path(results["run_dir"]) / "samples.jsonl", encoding="utf-8")]
    assert metrics["accuracy"]["value"] == pytest.approx(100 * sum(scores) / 16)  # micro
    assert set(metrics) >= {"accuracy", "category:STEM", "category:Humanities",
                            "category:Social Sciences", "category:Other"}
