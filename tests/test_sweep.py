"""Sweeps: the matrix, skipping finished cells, going on past failures, one load per model,
and the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.backends.hf import HFBackend
from evaluate.cli import main
from evaluate.context_options import ContextOptions
from evaluate.data import DataDir
from evaluate.errors import EvaluateError
from evaluate.evaluation import load_backend
from evaluate.registry import register
from evaluate.reported import lookup_in, table_models
from evaluate.requests import LoglikelihoodRequest
from evaluate.sweep import load_sweep, run_sweep, summary_table
from evaluate.task import Doc, Scored, Task

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# tasks that exist or are being built; shipped configs may name only these
KNOWN_TASKS = {"humaneval", "mmlu", "mmlu:opencompass", "ceval", "ceval:opencompass", "cmmlu",
               "cmmlu:opencompass",
               "gsm8k", "gsm8k:fixed", "gsm8k:opencompass", "long_ppl",
               "math", "math:opencompass", "mbpp", "mbpp:opencompass", "bbh", "bbh:opencompass",
               "gaokao:opencompass", "triviaqa:opencompass", "nq:opencompass", "race:opencompass",
               "winogrande:opencompass", "hellaswag:opencompass", "gpqa:opencompass"}
KNOWN_TASKS |= {"humaneval:evalplus-instruct", "mbpp:evalplus-instruct"}  # chat tasks
KNOWN_TASKS |= {"mmlu:qwen-chat", "ceval:qwen-chat", "gsm8k:qwen-chat", "gsm8k:qwen-chat-4shot",
                "humaneval:qwen-chat", "mmlu:opencompass-chat", "cmmlu:opencompass-chat",
                "ceval:opencompass-chat", "gsm8k:opencompass-chat", "humaneval:opencompass-chat"}
KNOWN_TASKS |= {"ifeval:opencompass-chat", "humaneval:opencompass", "theoremqa:opencompass",
                "lcbench:opencompass"}
KNOWN_TASKS |= {"math:opencompass-chat", "mbpp:opencompass-chat", "bbh:opencompass-chat"}
KNOWN_TASKS |= {"gaokao:opencompass-chat", "triviaqa:opencompass-chat", "nq:opencompass-chat",
                "race:opencompass-chat", "winogrande:opencompass-chat",
                "hellaswag:opencompass-chat", "gpqa:opencompass-chat"}


def _load(data: DataDir) -> list[Doc]:
    rows = data.read_jsonl("sweeptoy/items.jsonl")
    return [Doc(id=str(i), target=row["answer"], data=row) for i, row in enumerate(rows)]


def _build(doc: Doc) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(doc.data["q"] + "\nAnswer:", (" A", " B"), True)]


def _score(doc: Doc, responses) -> Scored:
    logprobs = responses[0]["logprobs"]
    guess = "AB"[logprobs.index(max(logprobs))]
    return Scored(extracted=guess, score=float(guess == doc.target))


def _broken_score(doc: Doc, responses) -> Scored:
    raise RuntimeError("scorer exploded\nsecond line")


register(Task(name="test:sweep-a", description="toy", provenance="tests", shots=0,
              data_files=("sweeptoy/items.jsonl",), load=_load, build=_build, score=_score))
register(Task(name="test:sweep-b", description="toy", provenance="tests", shots=0,
              data_files=("sweeptoy/items.jsonl",), load=_load, build=_build, score=_score))
register(Task(name="test:sweep-broken", description="toy", provenance="tests", shots=0,
              data_files=("sweeptoy/items.jsonl",), load=_load, build=_build,
              score=_broken_score))


@pytest.fixture()
def data(tmp_path) -> Path:
    folder = tmp_path / "data" / "sweeptoy"
    folder.mkdir(parents=True)
    rows = [{"q": f"Is {i} even?", "answer": "AB"[i % 2]} for i in range(10)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "data"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


class CountingLoader:
    """Loads the tiny model as a backend and counts the loads."""

    def __init__(self, model, tokenizer, fail: set[str] = frozenset()):
        self.model, self.tokenizer, self.fail, self.loads = model, tokenizer, fail, []

    def __call__(self, spec):
        self.loads.append((spec.model, json.dumps(spec.options.to_options(), sort_keys=True)))
        if spec.model in self.fail:
            raise OSError("no such model\nmore")
        return HFBackend(self.model, self.tokenizer, batch_size=spec.batch_size,
                         identity={"model": spec.model, "revision": spec.revision,
                                   "dtype": "float32"})


def test_matrix_models_tasks_variants(tmp_path):
    path = _config(tmp_path, """
output = "out"
tasks = ["a", "b"]
[defaults]
dtype = "float32"
batch_size = 4
[[models]]
model = "m1"
[[models]]
model = "m2"
tasks = ["c"]
batch_size = 2
[[variants]]
name = "plain"
[[variants]]
name = "ntk"
options = { dynamic_ntk = true }
""")
    sweep = load_sweep(path)
    names = [(c.spec.model, c.variant, c.task) for c in sweep.cells]
    assert names == [("m1", "plain", "a"), ("m1", "plain", "b"), ("m1", "ntk", "a"),
                     ("m1", "ntk", "b"), ("m2", "plain", "c"), ("m2", "ntk", "c")]
    assert sweep.cells[2].spec.options == ContextOptions(dynamic_ntk=True)
    assert sweep.cells[0].spec.options == ContextOptions() and sweep.cells[4].spec.batch_size == 2
    assert sweep.cells[0].spec.dtype == "float32"
    assert sweep.cells[2].output == Path("out") / "ntk"


@pytest.mark.parametrize("text,message", [
    ("tasks = ['a']\n", "no [[models]]"),
    ("tasks = ['a']\nbogus = 1\n[[models]]\nmodel = 'm'\n", "unknown key(s) bogus"),
    ("tasks = ['a']\n[[models]]\nmodel = 'm'\ndtyp = 'x'\n", "unknown key(s) dtyp"),
    ("[[models]]\nmodel = 'm'\n", "no tasks for model 'm'"),
    ("tasks = ['a'\n", "not valid TOML"),
    ("tasks = ['a']\nlimit = 0\n[[models]]\nmodel = 'm'\n", "limit must be a positive"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(EvaluateError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        load_sweep(_config(tmp_path, text))


def test_run_skip_fail_and_one_load_per_model(tmp_path, data, tiny_model, qwen2_tokenizer):
    path = _config(tmp_path, f"""
output = "{tmp_path / 'out'}"
data_dir = "{data}"
tasks = ["test:sweep-a", "test:sweep-b", "test:sweep-broken", "test:no-such-task"]
[defaults]
dtype = "float32"
batch_size = 4
[[models]]
model = "tiny-one"
[[models]]
model = "tiny-two"
tasks = ["test:sweep-a"]
[[models]]
model = "missing-model"
tasks = ["test:sweep-a"]
""")
    loader = CountingLoader(tiny_model, qwen2_tokenizer, fail={"missing-model"})
    outcomes = run_sweep(load_sweep(path), progress=False, loader=loader, log=lambda _: None)
    status = {(o.cell.spec.model, o.cell.task): (o.status, o.reason) for o in outcomes}
    assert status[("tiny-one", "test:sweep-a")][0] == "ran"
    assert status[("tiny-one", "test:sweep-b")][0] == "ran"
    assert status[("tiny-one", "test:sweep-broken")] == (
        "failed", "RuntimeError: scorer exploded")
    assert status[("tiny-one", "test:no-such-task")][0] == "failed"
    assert "unknown task" in status[("tiny-one", "test:no-such-task")][1]
    assert status[("tiny-two", "test:sweep-a")][0] == "ran"
    assert status[("missing-model", "test:sweep-a")] == (
        "failed", "model did not load: OSError: no such model")
    assert [m for m, _ in loader.loads] == ["tiny-one", "tiny-two", "missing-model"]
    results = json.loads((tmp_path / "out" / "tiny-one" / "test_sweep-a" / "results.json")
                         .read_text())
    assert results["complete"] and results["sweep"]["variant"] == ""
    table = summary_table(outcomes)
    assert "3 ran, 0 skipped, 3 failed" in table and "scorer exploded" in table

    # Second pass: finished cells are skipped without loading the model; failures retried.
    loader.loads.clear()
    again = run_sweep(load_sweep(path), progress=False, loader=loader, log=lambda _: None)
    assert [o.status for o in again].count("skipped") == 3
    assert [m for m, _ in loader.loads] == ["tiny-one", "missing-model"]  # for the failed ones

    # A changed protocol hash (or dtype) on disk makes the cell run again.
    file = tmp_path / "out" / "tiny-two" / "test_sweep-a" / "results.json"
    stored = json.loads(file.read_text())
    stored["protocol"]["hash"] = "0000000000000000"
    file.write_text(json.dumps(stored))
    loader.loads.clear()
    third = run_sweep(load_sweep(path), progress=False, loader=loader, log=lambda _: None)
    assert {(o.cell.spec.model, o.cell.task): o.status for o in third}[
        ("tiny-two", "test:sweep-a")] == "ran"


def test_variant_options_are_part_of_the_identity(tmp_path, data, tiny_model, qwen2_tokenizer):
    text = f"""
output = "{tmp_path / 'out'}"
data_dir = "{data}"
tasks = ["test:sweep-a"]
[defaults]
dtype = "float32"
[[models]]
model = "tiny"
[[variants]]
name = "knob"
options = {{ logn_attn = true }}
"""
    loader = CountingLoader(tiny_model, qwen2_tokenizer)
    path = _config(tmp_path, text)
    assert [o.status for o in run_sweep(load_sweep(path), progress=False, loader=loader,
                                        log=lambda _: None)] == ["ran"]
    assert loader.loads == [("tiny", '{"logn_attn": true}')]
    path.write_text(text.replace("logn_attn = true", "logn_attn = false"))
    assert [o.status for o in run_sweep(load_sweep(path), progress=False, loader=loader,
                                        log=lambda _: None)] == ["ran"]


def test_sweep_cell_equals_the_command_line(tmp_path, data, tiny_model_dir, capsys):
    """A CLI run and a sweep over the same model folder: the sweep finds the CLI's run finished
    (same protocol and model identity) and skips it; a fresh sweep scores the same."""
    out = tmp_path / "out"
    assert main(["--model", str(tiny_model_dir), "--task", "test:sweep-a", "--data-dir",
                 str(data), "--output", str(out), "--dtype", "float32", "--no-progress"]) == 0
    cli = json.loads(next(out.glob("*/test_sweep-a/results.json")).read_text())
    text = f"""
data_dir = "{data}"
tasks = ["test:sweep-a"]
[defaults]
dtype = "float32"
[[models]]
model = "{tiny_model_dir}"
"""
    path = _config(tmp_path, text)
    [skipped] = run_sweep(load_sweep(path, output=out), progress=False, log=lambda _: None)
    assert skipped.status == "skipped" and "same protocol and model" in skipped.reason
    [ran] = run_sweep(load_sweep(path, output=tmp_path / "fresh"), progress=False,
                      loader=load_backend, log=lambda _: None)
    assert ran.status == "ran"
    assert ran.results["metrics"] == cli["metrics"]
    assert ran.results["protocol"]["hash"] == cli["protocol"]["hash"]


def test_cli_sweep_dry_run_and_exit_status(tmp_path, data, capsys):
    path = _config(tmp_path, f"""
output = "{tmp_path / 'out'}"
data_dir = "{data}"
tasks = ["test:sweep-a", "test:typo"]
[[models]]
model = "whatever"
""")
    assert main(["sweep", str(path), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "| whatever | - | test:sweep-a | pending | would run |" in out
    assert "| test:typo | failed | UnknownTaskError" in out
    assert "0 ran, 0 skipped, 1 failed, 1 pending" in out
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- the shipped configs ---------------------------------------------------------------------
SHIPPED = sorted(CONFIGS.glob("*.toml"))


def test_configs_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"qwen_base", "opencompass_qwen_base", "opencompass_qwen1.5_base",
            "opencompass_qwen1.5_chat", "qwen_chat", "qwen_model_cards", "long_context",
            "tiny_ci", "embedded_demo"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_parses_and_names_known_tasks(path):
    sweep = load_sweep(path)
    assert sweep.cells and sweep.description
    assert {c.task for c in sweep.cells} <= KNOWN_TASKS


@pytest.mark.parametrize("path", [p for p in SHIPPED if load_sweep(p).reported],
                         ids=lambda p: p.stem)
def test_config_covers_its_reported_table(path):
    """Every (model, task) the reported table has a number for, among tasks we have or are
    building, is a cell of the config."""
    sweep = load_sweep(path)
    cells = {(c.spec.model.split("/")[-1].lower(), c.task) for c in sweep.cells}
    tasks = {c.task for c in sweep.cells}
    wanted = {(model, task) for model in table_models(sweep.reported) for task in KNOWN_TASKS
              if lookup_in(sweep.reported, model, task) is not None}
    assert wanted and wanted <= cells, sorted(wanted - cells)
    assert all(any(lookup_in(sweep.reported, m, t) is not None for m, _ in cells)
               for t in tasks)
