"""Every OpenCompass base prompt, character for character, against OpenCompass's own code.

``opencompass_driver.py`` runs in the Python named by ``EVALUATE_OPENCOMPASS_PYTHON`` (an
environment with the ``opencompass`` package; ``.ci/run`` makes one) and writes the prompts its
loaders, templates, retrievers, inferencers and template parser build over the whole of each
dataset; the harness's prompts come from the tasks' own load and build, no model needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, SequenceNLLRequest

DRIVER = Path(__file__).with_name("opencompass_driver.py")
TASKS = {"mmlu": "mmlu:opencompass", "ceval": "ceval:opencompass",
         "cmmlu": "cmmlu:opencompass", "gsm8k": "gsm8k:opencompass"}
PYTHON = os.environ.get("EVALUATE_OPENCOMPASS_PYTHON")

pytestmark = pytest.mark.skipif(
    not PYTHON, reason="EVALUATE_OPENCOMPASS_PYTHON is unset (an environment with opencompass, "
                       "as .ci/run makes)")


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("opencompass") / "prompts.json"
    done = subprocess.run([PYTHON, str(DRIVER), str(data_dir), str(out), *TASKS],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"opencompass driver failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def harness_prompts(task_name: str, data_dir) -> tuple[dict[str, list[list[str]]], set]:
    """Per subject, in load order: each question's candidate prompts (or its one prompt)."""
    task = get_task(task_name)
    prompts: dict[str, list[list[str]]] = defaultdict(list)
    stops = set()
    for doc in task.load(DataDir(data_dir)):
        requests = task.build(doc)
        first = requests[0]
        if isinstance(first, LoglikelihoodRequest):
            texts = [first.context + c for c in first.candidates]
        elif isinstance(first, SequenceNLLRequest):  # one whole prompt per label
            rows = task.request_batching.rows if task.request_batching else len(requests)
            texts = [str(r.text) for r in requests[:rows]]
        else:
            assert isinstance(first, GenerateRequest)
            texts = [first.context]
            stops.add(first.stop)
        prompts[doc.meta.get("subject", "")].append(texts)
    return prompts, stops


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


@pytest.mark.parametrize("name", list(TASKS))
def test_prompts_identical(name, reference, data_dir):
    ours, stops = harness_prompts(TASKS[name], data_dir)
    theirs: dict[str, list[list[str]]] = defaultdict(list)
    for record in reference[name]:
        theirs[record["subject"]].append(record["prompts"])
        if name == "gsm8k":
            assert stops == {tuple(record["stop"])}
    assert sorted(ours) == sorted(theirs)
    total = identical = 0
    differences = []
    for subject, questions in theirs.items():
        assert len(ours[subject]) == len(questions), subject
        for number, (mine, reference_prompts) in enumerate(zip(ours[subject], questions,
                                                               strict=True)):
            total += 1
            if mine == reference_prompts:
                identical += 1
            elif len(differences) < 3:
                differences.append((subject, number, mine, reference_prompts))
    print(f"{TASKS[name]}: {identical}/{total} questions identical", file=sys.stderr)
    report = []
    for subject, number, mine, reference_prompts in differences:
        for a, b in zip(mine, reference_prompts, strict=False):
            if a != b:
                at = first_difference(a, b)
                report.append(f"{subject}/{number} at {at}: harness {a[max(0, at - 60):at + 60]!r}"
                              f" opencompass {b[max(0, at - 60):at + 60]!r}")
                break
        else:
            report.append(f"{subject}/{number}: {len(mine)} vs {len(reference_prompts)} prompts")
    assert identical == total, f"{total - identical} of {total} differ:\n" + "\n".join(report)
