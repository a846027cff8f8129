"""ContextOptions: option names in, typed knobs out, and back (no torch needed)."""

from __future__ import annotations

import pytest

from evaluate.context_options import DEFAULT_WINDOW, ContextOptionError, ContextOptions
from evaluate.evaluation import ModelSpec


def test_option_names_round_trip():
    names = {"dynamic_ntk": True, "logn_attn": True, "window_attn": "2:4", "trained_length": 64}
    opts = ContextOptions.from_options(names)
    assert opts == ContextOptions(dynamic_ntk=True, logn=True, window="2:4", trained_length=64)
    assert opts.to_options() == names and ContextOptions().to_options() == {}
    assert ContextOptions.from_options({"window_attn": True}).window == DEFAULT_WINDOW
    assert ContextOptions.from_options({"dynamic_ntk": False}) == ContextOptions()


@pytest.mark.parametrize("options, message", [
    ({"logn": True}, "unknown option(s) logn; use dynamic_ntk"),
    ({"dynamic_ntk": 1}, "dynamic_ntk must be true or false"),
    ({"window_attn": 3}, "window_attn must be true or a schedule"),
    ({"window_attn": "wide"}, "window schedule 'wide'"),
    ({"rope_scaling": "dynamic_ntk"}, "rope_scaling must be a dict"),
])
def test_bad_options_are_one_line(options, message):
    with pytest.raises(ContextOptionError) as info:
        ContextOptions.from_options(options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_model_spec_options_are_typed_and_name_the_variant():
    spec = ModelSpec("Qwen/Qwen-7B", options={"dynamic_ntk": True, "logn_attn": True})
    assert isinstance(spec.options, ContextOptions)
    assert spec.label == "Qwen/Qwen-7B+dynamic_ntk+logn"
    assert ModelSpec("Qwen/Qwen-7B").label == "Qwen/Qwen-7B"
