"""Context-extension knobs against direct reference computations (evaluate/context.py)."""

from __future__ import annotations

import math
import types

import pytest
import torch
from conftest import make_tiny_qwen2

from evaluate import context as ctx
from evaluate.context import (
    ContextOptionError,
    ContextOptions,
    apply_context_options,
    context_sdpa_attention,
    ntk_alpha,
    parse_window_schedule,
)

VOCAB = 151646


def tiny(layers: int = 2, seed: int = 0):
    model = make_tiny_qwen2(VOCAB, seed=seed)
    if layers != 2:
        from transformers import Qwen2ForCausalLM

        torch.manual_seed(seed)
        config = model.config
        config.num_hidden_layers = layers
        config.layer_types = ["full_attention"] * layers
        model = Qwen2ForCausalLM(config).eval()
    return model


def ids(length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 1000, (1, length), generator=torch.Generator().manual_seed(seed))


def logits(model, tokens: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=tokens).logits


# ---- formulas --------------------------------------------------------------------------------
def test_ntk_alpha_is_qwens_formula():
    assert [ntk_alpha(L, 2048) for L in (1, 1024, 2048)] == [1, 1, 1]
    assert ntk_alpha(2049, 2048) == 3
    assert ntk_alpha(4096, 2048) == 3
    assert ntk_alpha(4097, 2048) == 7
    assert ntk_alpha(16384, 2048) == 15
    assert ntk_alpha(32768, 2048) == 31


def test_window_schedule():
    assert parse_window_schedule("1:8", 4, 100) == [100, 200, 400, 800]
    assert parse_window_schedule("0.5:0.5", 3, 100) == [50, 50, 50]
    assert parse_window_schedule("16,0,64", 3, 100) == [16, None, 64]
    for bad in ("8:1", "x", "1:2:3", "-1,4,5"):
        with pytest.raises(ContextOptionError):
            parse_window_schedule(bad, 3, 100)
    with pytest.raises(ContextOptionError, match="3 layers"):
        parse_window_schedule("16,32", 3, 100)


def test_option_errors():
    with pytest.raises(ContextOptionError, match="pick one"):
        ContextOptions.from_options({"dynamic_ntk": True, "rope_scaling": {"rope_type": "linear"}})
    with pytest.raises(ContextOptionError, match="rope_type"):
        ContextOptions.from_options({"rope_scaling": {"factor": 2}})
    with pytest.raises(ContextOptionError, match="trained_length"):
        ContextOptions.from_options({"logn_attn": True, "trained_length": 1})
    opts = ContextOptions.from_options({"dynamic_ntk": True, "logn_attn": True,
                                        "window_attn": True})
    assert opts.variant() == "dynamic_ntk+logn+window_attn"
    assert not ContextOptions.from_options({}).active


# ---- dynamic NTK: the RoPE base per length ---------------------------------------------------
@pytest.mark.parametrize("length", [16, 64, 65, 128, 129, 300, 1000])
def test_dynamic_ntk_base_equals_formula(length):
    model = tiny()
    apply_context_options(model, ContextOptions(dynamic_ntk=True, trained_length=64))
    rotary = model.model.rotary_emb
    dim = model.config.head_dim if getattr(model.config, "head_dim", None) else 16
    positions = torch.arange(length)[None]
    cos, sin = rotary(torch.zeros(1, dtype=torch.float32), positions)
    alpha = max(2 ** math.ceil(math.log2(length / 64) + 1) - 1, 1)
    base = 10000.0 * alpha ** (dim / (dim - 2))
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    angles = positions[0, :, None].float() * inv
    angles = torch.cat((angles, angles), dim=-1)
    torch.testing.assert_close(cos[0], angles.cos())
    torch.testing.assert_close(sin[0], angles.sin())


# ---- LogN: equals the explicitly scaled computation ------------------------------------------
def reference_attention(q, k, v, scale, window=None):
    """Plain softmax attention, causal, optionally banded to ``window`` keys per query."""
    qn, kn = q.shape[2], k.shape[2]
    offset = kn - qn
    qp = torch.arange(offset, kn)[:, None]
    kp = torch.arange(kn)[None, :]
    allowed = kp <= qp
    if window is not None:
        allowed &= kp > qp - window
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


def attn_module(logn=None, window=None):
    return types.SimpleNamespace(num_key_value_groups=1, is_causal=True, _context_logn=logn,
                                 _context_window=window, training=False)


def test_logn_equals_explicit_scaling():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 40, 8, dtype=torch.float64) for _ in range(3))
    out, _ = context_sdpa_attention(attn_module(logn=16), q, k, v, None, scaling=0.3)
    p = torch.arange(1, 41, dtype=torch.float64)
    factor = torch.where(p > 16, torch.log(p) / math.log(16), torch.ones_like(p))
    expected = reference_attention(q * factor[None, None, :, None], k, v, 0.3)
    torch.testing.assert_close(out, expected)
    # a cached decoding step: the query is the last of the keys
    step, _ = context_sdpa_attention(attn_module(logn=16), q[:, :, -1:], k, v, None, scaling=0.3)
    torch.testing.assert_close(step, expected[:, -1:])
    assert not torch.allclose(out, reference_attention(q, k, v, 0.3))


# ---- window attention: no query sees beyond its window ---------------------------------------
@pytest.mark.parametrize("budget", [1 << 27, 200])  # one block, and many small query blocks
def test_window_equals_banded_reference(monkeypatch, budget):
    monkeypatch.setattr(ctx, "_ATTN_BUDGET", budget)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 50, 8, dtype=torch.float64) for _ in range(3))
    out, _ = context_sdpa_attention(attn_module(window=7), q, k, v, None, scaling=0.35)
    torch.testing.assert_close(out, reference_attention(q, k, v, 0.35, window=7))
    both, _ = context_sdpa_attention(attn_module(logn=10, window=7), q, k, v, None, scaling=0.35)
    p = torch.arange(1, 51, dtype=torch.float64)
    factor = torch.where(p > 10, torch.log(p) / math.log(10), torch.ones_like(p))
    torch.testing.assert_close(
        both, reference_attention(q * factor[None, None, :, None], k, v, 0.35, window=7))


def test_window_in_a_model_hides_tokens_outside_it():
    model = tiny(layers=1)
    apply_context_options(model, ContextOptions(window="5", trained_length=4))
    tokens = ids(40)
    base = logits(model, tokens)[0, 30]
    outside, inside = tokens.clone(), tokens.clone()
    outside[0, 25] = (outside[0, 25] + 1) % 1000  # 30 - 25 = 5: just outside a 5-key window
    inside[0, 26] = (inside[0, 26] + 1) % 1000  # just inside
    torch.testing.assert_close(logits(model, outside)[0, 30], base)
    assert not torch.allclose(logits(model, inside)[0, 30], base)


# ---- all knobs off, or not yet past the trained length: the unpatched model -------------------
def test_knobs_off_leave_the_model_untouched():
    plain, patched = tiny(), tiny()
    assert apply_context_options(patched, ContextOptions()) == {}
    assert patched.config._attn_implementation == "sdpa"
    tokens = ids(200)
    torch.testing.assert_close(logits(patched, tokens), logits(plain, tokens), rtol=0, atol=0)


def test_all_knobs_within_trained_length_equal_unpatched():
    plain, patched = tiny(), tiny()
    info = apply_context_options(patched, ContextOptions(dynamic_ntk=True, logn=True, window="1:8",
                                                         trained_length=256))
    assert info["windows"] == [256, 2048] and patched.config._attn_implementation == "context_sdpa"
    tokens = ids(256)
    torch.testing.assert_close(logits(patched, tokens), logits(plain, tokens), rtol=0, atol=0)
    longer = ids(400)
    assert not torch.allclose(logits(patched, longer), logits(plain, longer))


def test_transformers_rope_type_passes_through():
    plain, patched = tiny(), tiny()
    apply_context_options(patched, ContextOptions(rope_scaling={"rope_type": "linear",
                                                                "factor": 2.0}))
    positions = torch.arange(0, 100, 2)[None]
    cos, _ = patched.model.rotary_emb(torch.zeros(1), positions)
    cos_ref, _ = plain.model.rotary_emb(torch.zeros(1), positions // 2)
    torch.testing.assert_close(cos, cos_ref)
    with pytest.raises(ContextOptionError):
        apply_context_options(tiny(), ContextOptions(rope_scaling={"rope_type": "nonsense"}))


# ---- original Qwen (remote code): flags only -------------------------------------------------
class FakeQwenAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.use_dynamic_ntk = False
        self.use_logn_attn = False


class FakeQwen(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = types.SimpleNamespace(use_dynamic_ntk=False, use_logn_attn=False,
                                            seq_length=2048)
        self.use_dynamic_ntk = False
        self.attn = FakeQwenAttention()


def test_original_qwen_sets_its_flags_and_refuses_the_rest():
    model = FakeQwen()
    info = apply_context_options(model, ContextOptions(dynamic_ntk=True, logn=True))
    assert model.config.use_dynamic_ntk and model.config.use_logn_attn
    assert model.use_dynamic_ntk and model.attn.use_dynamic_ntk and model.attn.use_logn_attn
    assert info["trained_length"] == 2048
    for opts in (ContextOptions(window="1:8"), ContextOptions(logn=True, trained_length=4096),
                 ContextOptions(rope_scaling={"rope_type": "dynamic", "factor": 2.0})):
        with pytest.raises(ContextOptionError, match="cannot be applied"):
            apply_context_options(FakeQwen(), opts)
