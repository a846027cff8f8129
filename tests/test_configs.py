"""Every shipped sweep file (configs/*.toml) loads, names real tasks and options, and dry-runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from evaluate import registry
from evaluate.cli import main
from evaluate.errors import EvaluateError
from evaluate.sweep import load_sweep

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.fixture
def no_data(monkeypatch):
    """Tasks resolve by name as usual but load no data (data checks are the data tests')."""
    real = registry.get_task

    def get_task(name):
        return dataclasses.replace(real(name), load=lambda data: [])

    monkeypatch.setattr(registry, "get_task", get_task)


def test_configs_are_shipped():
    assert len(CONFIGS) >= 5 and any(p.name == "long_context.toml" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_and_dry_runs(path, no_data, tmp_path, capsys):
    sweep = load_sweep(path, output=tmp_path)
    for cell in sweep.cells:
        registry.get_task(cell.task)  # an unknown task name fails here
    assert main(["sweep", str(path), "--dry-run", "--output", str(tmp_path),
                 "--no-progress"]) == 0
    assert " 0 failed" in capsys.readouterr().out  # exit 0: no cell failed


def test_long_context_variants_turn_their_knobs_on():
    sweep = load_sweep(next(p for p in CONFIGS if p.name == "long_context.toml"))
    variants = {cell.variant: cell.spec.options.variant() for cell in sweep.cells}
    assert variants == {"none": "none", "dynamic_ntk": "dynamic_ntk",
                        "dynamic_ntk+logn": "dynamic_ntk+logn",
                        "dynamic_ntk+logn+window_attn": "dynamic_ntk+logn+window_attn"}


@pytest.mark.parametrize("options, message", [
    ("{ logn = true }", "unknown option(s) logn"),
    ('{ rope_scaling = "dynamic_ntk" }', "rope_scaling must be a dict"),
    ('{ dynamic_ntk = "yes" }', "dynamic_ntk must be true or false"),
])
def test_a_bad_option_names_the_file_and_the_variant(tmp_path, options, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'tasks = ["mmlu"]\n[[models]]\nmodel = "m"\n'
                    f'[[variants]]\nname = "knob"\noptions = {options}\n')
    with pytest.raises(EvaluateError) as info:
        load_sweep(path)
    text = str(info.value)
    assert str(path) in text and "variant 'knob'" in text and message in text
    assert len(text.splitlines()) == 1
