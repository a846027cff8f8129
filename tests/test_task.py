"""The protocol hash: what changes it and what does not."""

from __future__ import annotations

import dataclasses

import pytest

from evaluate.errors import UnknownTaskError
from evaluate.registry import get_task
from evaluate.task import Aggregation, Doc, Scored, Task


def _load(data):
    return [Doc(id="1", target="A")]


def _build(doc):
    return []


def _score(doc, responses):
    return Scored(extracted=None, score=1.0)


def _score_other(doc, responses):
    return Scored(extracted=None, score=0.0)


def _score_documented(doc, responses):
    """Same code as _score, with a docstring and a comment."""
    # a comment does not change the protocol
    return Scored(extracted=None, score=1.0)


BASE = Task(name="t", description="", provenance="", shots=0, data_files=(), load=_load,
            build=_build, score=_score, params={"stops": ("\n\n",)})


def test_hash_covers_params_code_aggregation_and_shots():
    h = BASE.protocol_hash()
    assert dataclasses.replace(BASE, params={"stops": ("\n",)}).protocol_hash() != h
    assert dataclasses.replace(BASE, score=_score_other).protocol_hash() != h
    assert dataclasses.replace(BASE, aggregation=Aggregation(average="macro", by="s")
                               ).protocol_hash() != h
    assert dataclasses.replace(BASE, shots=5).protocol_hash() != h
    assert dataclasses.replace(BASE, description="other words").protocol_hash() == h


def test_docstrings_and_comments_do_not_count():
    documented = dataclasses.replace(BASE, score=_score_documented).protocol()["code"]["score"]
    assert documented == BASE.protocol()["code"]["score"]


def test_lambdas_inside_expressions_are_hashed():
    task = dataclasses.replace(BASE, load=lambda data: [d for d in _load(data) if d.id])
    other = dataclasses.replace(BASE, load=lambda data: [d for d in _load(data) if not d.id])
    assert task.protocol_hash() != other.protocol_hash()


# ---- subject selection -----------------------------------------------------------------------
def _subject_docs(data):
    return [Doc(id=f"{s}/{i}", target="A", meta={"subject": s})
            for s in ("algebra", "anatomy", "law") for i in range(2)]


EXAM = dataclasses.replace(
    BASE, name="exam", load=_subject_docs, subjects=("algebra", "anatomy", "law"),
    aggregation=Aggregation(average="macro", by="subject", per_group=True, categories={
        "STEM": ("algebra", "anatomy"), "Social Sciences": ("law",)}))


def test_a_selection_keeps_the_protocol_hash_and_loads_only_its_subjects():
    stem = EXAM.select("stem")
    assert stem.name == "exam/stem" and stem.protocol_hash() == EXAM.protocol_hash()
    assert stem.selection.subjects == ("algebra", "anatomy") and stem.selection.of is EXAM
    assert {d.meta["subject"] for d in stem.load(None)} == {"algebra", "anatomy"}
    mixed = EXAM.select("Law+algebra")  # subjects and categories, any case; task order kept
    assert mixed.selection.subjects == ("algebra", "law")
    assert list(mixed.aggregation.categories) == ["Social Sciences"]  # only whole categories
    assert list(EXAM.select("social-sciences").aggregation.categories) == ["Social Sciences"]


def test_a_bad_selection_is_one_line():
    with pytest.raises(UnknownTaskError, match=r"'geology' is neither a subject nor a category"):
        EXAM.select("stem+geology")
    with pytest.raises(UnknownTaskError, match="has no subjects"):
        BASE.select("x")
    with pytest.raises(UnknownTaskError, match="has no subjects"):
        EXAM.select("stem").select("law")


def test_registered_exams_select_by_name():
    mmlu = get_task("mmlu/abstract_algebra+Humanities")
    assert mmlu.protocol_hash() == get_task("mmlu").protocol_hash()
    assert mmlu.selection.subjects[0] == "abstract_algebra" and len(mmlu.selection.subjects) == 14
    for name in ("ceval/hard", "cmmlu/china_specific", "mmlu:opencompass/stem"):
        assert get_task(name).selection.subjects
    with pytest.raises(UnknownTaskError):
        get_task("gsm8k/algebra")
