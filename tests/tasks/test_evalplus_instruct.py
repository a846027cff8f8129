"""humaneval/mbpp:evalplus-instruct: prompt, sanitize, EvalPlus's checker, a tiny-model run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from evaluate.chat_templates import ChatRenderer
from evaluate.code_sanitize import sanitize
from evaluate.data import DataDir
from evaluate.evalplus import check, mbpp_inputs
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task
from evaluate.tasks import evalplus_instruct as task


@pytest.fixture(scope="module")
def mbpp(data_dir):
    return {doc.id: doc for doc in task.load("mbpp", DataDir(data_dir))}


@pytest.fixture(scope="module")
def humaneval(data_dir):
    return {doc.id: doc for doc in task.load("humaneval", DataDir(data_dir))}


def test_prompt_is_qwen25_coders_chatml_text(mbpp, humaneval, qwen2_tokenizer):
    renderer = ChatRenderer(tokenizer=qwen2_tokenizer)
    request = renderer.render(task.build(mbpp["Mbpp/2"])[0])
    assert request.context == (
        "<|im_start|>system\nYou are an intelligent programming assistant to produce Python "
        "algorithmic solutions<|im_end|>\n<|im_start|>user\nCan you complete the following "
        "Python function?\n```python\n\"\"\"\nWrite a function to find the shared elements from "
        "the given two lists.\nassert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == "
        "set((4, 5))\n\"\"\"\n```\n<|im_end|>\n<|im_start|>assistant\n```python\n")
    assert request.max_new_tokens == 2048 and request.greedy
    assert request.stop[:8] == ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__",
                                "\ndef main(", "\nprint(", "\n#", "\n```")
    text = renderer.render(task.build(humaneval["HumanEval/2"])[0]).context
    assert text.startswith(
        "<|im_start|>system\nYou are an intelligent programming assistant to produce Python "
        "algorithmic solutions<|im_end|>\n<|im_start|>user\nCan you complete the following "
        "Python function?\n```python\ndef truncate_number(number: float) -> float:\n    \"\"\" "
        "Given a positive")
    assert text.endswith("    >>> truncate_number(3.5)\n    0.5\n    \"\"\"\n```\n<|im_end|>\n"
                         "<|im_start|>assistant\n```python\n")


@pytest.mark.parametrize(("code", "entry", "expected"), [  # expected: evalplus 0.3.1's sanitize
    ("Here is the code:\n```python\nimport math\nfrom __future__ import annotations\n@cache\n"
     "def f(x):\n    return x\n\ndef f(x):\n    return helper(x)  # uses helper\n\n"
     "def helper(y):\n    return math.sqrt(y)\n\ndef unused():\n    return 0\nZ = 3\n"
     "print(f(2))\n```", "f",
     "import math\ndef f(x):\n    return helper(x)  # uses helper\ndef helper(y):\n"
     "    return math.sqrt(y)"),
    ("def g():\n    pass\ndef g():\n    return 1", "g", "def g():\n    return 1"),
    ("just text", "f", "just text"),
    ("def f(a):\n    return K + len(a)\nK = 2\nif __name__ == \"__main__\":\n    print(f([1]))\n",
     "f", "def f(a):\n    return K + len(a)\nK = 2"),
])
def test_sanitize_matches_evalplus(code, entry, expected):
    assert sanitize(code, entry) == expected


def test_program_cuts_expands_tabs_and_sanitizes():
    reply = "def f(x):\n\treturn x\n\nprint(f(1))\n```\nExplanation"
    assert task.program(reply, "f") == "def f(x):\n    return x"
    assert task.program("def f():\n    return 1<|im_end|>", "f") == "def f():\n    return 1"


def test_mbpp_inputs_restore_python_values():
    assert mbpp_inputs("Mbpp/124", [["0", "1j"]]) == [(0.0, 1j)]
    assert mbpp_inputs("Mbpp/2", [[[3, 4], [5, 4]]]) == [[(3, 4), (5, 4)]]
    assert mbpp_inputs("Mbpp/115", [[[[], [1]]]]) == [[[{}, {1}]]]
    assert mbpp_inputs("Mbpp/3", [[1]]) == [[1]]


def test_checker_base_and_plus(mbpp, humaneval):
    problems = [task._PROBLEMS["HumanEval/2"]] * 4 + [task._PROBLEMS["Mbpp/2"]]
    gold = problems[0]["prompt"] + problems[0]["canonical_solution"]
    only_base = ("def truncate_number(number):\n    return {3.5: 0.5, 1.33: 0.33, 123.456: 0.456}"
                 "[number] if number in (3.5, 1.33, 123.456) else 0.0\n")
    wrong = "def truncate_number(number):\n    return number\n"
    endless = "def truncate_number(number):\n    while True:\n        pass\n"
    # MBPP/2 compares as sets: any order passes.
    mbpp_code = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))[::-1]\n"
    verdicts = check("humaneval", problems[:4], [gold, only_base, wrong, endless])
    verdicts += check("mbpp", problems[4:], [mbpp_code])
    assert [(v["base"], v["plus"]) for v in verdicts] == [
        (True, True), (True, False), (False, False), (False, False), (True, True)]
    assert verdicts[2]["base_status"] == "failed"  # AssertionError: a wrong answer


def test_registered_as_chat_tasks():
    for name in ("humaneval:evalplus-instruct", "mbpp:evalplus-instruct"):
        assert get_task(name).chat


def test_tiny_model_run(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    from evaluate.backends.hf import HFBackend

    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    backend.chat_renderer = ChatRenderer(tokenizer=qwen2_tokenizer)
    short = dataclasses.replace(get_task("humaneval:evalplus-instruct"), build=lambda doc: [
        dataclasses.replace(task.build(doc)[0], max_new_tokens=8)])
    results = run_task(short, backend, DataDir(data_dir), tmp_path, "tiny",
                       RunOptions(limit=2, progress=False, use_cache=False))
    assert results["samples"] == 2 and results["metrics"]["pass@1"]["value"] == 0.0
    assert results["task_extra"]["base pass@1"]["value"] == 0.0
    plan = [json.loads(line) for line in
            (Path(results["run_dir"]) / "plan.jsonl").read_text().splitlines()]
    assert all(r["requests"][0]["context"].endswith("assistant\n```python\n") for r in plan)
