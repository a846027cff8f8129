"""The protocol hash: what changes it and what does not."""

from __future__ import annotations

import dataclasses

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
