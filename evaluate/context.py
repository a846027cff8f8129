"""Context-extension knobs: dynamic NTK, LogN attention scaling, layer-wise window attention.

These are run options (``ModelSpec.options``), combinable, applied to a loaded model by
:func:`apply_context_options`. Every knob acts only past the *trained length* ``n`` (the length the
model was trained at; default ``config.seq_length`` for original Qwen, else
``config.max_position_embeddings``; ``trained_length`` overrides it), so for sequences of at most
``n`` tokens a patched model computes exactly what the unpatched one does.

- **Dynamic NTK** (original Qwen formula; EVALUATION.md "Long-context perplexity"): for a
  sequence of ``L`` tokens,
  ``alpha = max(2 ** ceil(log2(L / n) + 1) - 1, 1)`` and the RoPE base becomes
  ``base * alpha ** (d / (d - 2))`` (``d`` = rotary dimension). ``L`` is read from the largest
  position id of each forward call (``max(position_ids) + 1``); in a single forward over a window
  that is the window length, as in Qwen's code. During cached generation it is re-read at every
  step, whereas Qwen keeps the prompt's alpha; the long-context task never generates.
- **transformers' own RoPE types** (``rope_scaling={"rope_type": "dynamic", "factor": 4.0}``,
  ``yarn``, ``linear``, ...): merged into ``config.rope_parameters`` and the rotary module is
  rebuilt by transformers itself, with transformers' semantics: lengths are relative to
  ``config.max_position_embeddings``, which is set to the trained length (and
  ``original_max_position_embeddings`` defaults to it). Mutually exclusive with dynamic NTK.
- **LogN scaling**: the query at 1-based position ``p > n`` is multiplied by ``log(p) / log(n)``
  (Qwen's ``logn_list[p - 1]``; queries of a cached step sit at the end of the keys, as there).
- **Window attention**: layer ``i`` lets each query see at most ``w_i`` keys (itself and the
  ``w_i - 1`` before it). Schedule ``"A:B"`` (the default is :data:`DEFAULT_WINDOW`, ``"1:8"``):
  windows grow geometrically from ``A * n`` in the lowest layer to ``B * n`` in the highest,
  ``w_i = round(n * A * (B / A) ** (i / (N - 1)))``; or an explicit comma list of ``N`` token
  counts (``0`` = unlimited). The report describes this (shorter windows low, longer high) but
  never released code or windows, so this schedule is ours. A windowed layer whose window is
  shorter than the keys runs SDPA over blocks of queries, each against only the keys its window
  can reach, so no ``T x T`` mask is ever built.

How it is applied to Qwen2-architecture models (Qwen1.5/2/2.5 in transformers): the rotary module's
``forward`` is wrapped (dynamic NTK), and the attention implementation is switched to
``context_sdpa``, a registered wrapper around transformers' own SDPA function that scales queries
(LogN) and limits keys (window) before calling it. Original Qwen checkpoints (remote code,
``trust_remote_code``) have their own ``use_dynamic_ntk`` / ``use_logn_attn`` switches, which
are set on the config and on every module that read them at init. Those checkpoints cannot get
window attention, a different trained length, or transformers' RoPE types from here: asking for
them is an error, not a silent no-op.

Length-dependent knobs assume every row of a batch has the same length and no padding; the harness
runs patched models at batch size 1 (``evaluate.evaluation.load_backend``). Which knobs are on is a
:class:`~evaluate.context_options.ContextOptions` (``ModelSpec.options``), parsed and checked
without torch in :mod:`evaluate.context_options`.
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch

from evaluate.context_options import (
    DEFAULT_WINDOW,
    ContextOptionError,
    ContextOptions,
    parse_window_schedule,
)

__all__ = ["DEFAULT_WINDOW", "ContextOptionError", "ContextOptions", "apply_context_options",
           "context_sdpa_attention", "ntk_alpha", "parse_window_schedule"]

ATTN_NAME = "context_sdpa"
_ATTN_BUDGET = 1 << 27  # attention-score elements per query block in windowed layers


def ntk_alpha(length: int, trained_length: int) -> int:
    """Qwen's ``get_ntk_alpha``: ``max(2 ** ceil(log2(L / n) + 1) - 1, 1)``."""
    context_value = math.log(length / trained_length, 2) + 1
    return max(2 ** math.ceil(context_value) - 1, 1)


def ntk_base(base: float, alpha: float, dim: int) -> float:
    """The RoPE base under NTK alpha: ``base * alpha ** (d / (d - 2))``."""
    return base * alpha ** (dim / (dim - 2))


def logn_factors(positions: torch.Tensor, trained_length: int) -> torch.Tensor:
    """LogN factor per 0-based query position: ``log(p) / log(n)`` for 1-based ``p > n``, else 1."""
    p = positions.double() + 1
    return torch.where(p > trained_length, torch.log(p) / math.log(trained_length),
                       torch.ones_like(p))


# ---- applying them ---------------------------------------------------------------------------
def apply_context_options(model: Any, opts: ContextOptions) -> dict[str, Any]:
    """Patch ``model`` in place for ``opts``; returns what was applied, for the results file.

    With every knob off the model is not touched and ``{}`` is returned.
    """
    if not opts.active:
        return {}
    config = model.config
    if hasattr(config, "use_dynamic_ntk") or hasattr(config, "use_logn_attn"):
        return _apply_original_qwen(model, opts)
    body = getattr(model, "model", None)
    if body is None or not hasattr(body, "rotary_emb") or not hasattr(body, "layers"):
        raise ContextOptionError(
            f"context knobs support Qwen2-architecture models and original Qwen checkpoints, "
            f"not {type(model).__name__}"
        )
    return _apply_qwen2(model, opts)


def _apply_original_qwen(model: Any, opts: ContextOptions) -> dict[str, Any]:
    unsupported = [name for name, on in (("window attention", opts.window),
                                         ("rope_scaling", opts.rope_scaling),
                                         ("trained_length", opts.trained_length)) if on]
    if unsupported:
        raise ContextOptionError(
            f"original Qwen (remote code) checkpoints only have use_dynamic_ntk and use_logn_attn "
            f"switches; {', '.join(unsupported)} cannot be applied to them"
        )
    flags = {"use_dynamic_ntk": opts.dynamic_ntk, "use_logn_attn": opts.logn}
    for name, value in flags.items():
        setattr(model.config, name, value)
        for module in model.modules():  # the modules copied the flags at init
            if hasattr(module, name):
                setattr(module, name, value)
    return {"method": "remote-code config flags", **flags,
            "trained_length": getattr(model.config, "seq_length", None)}


def _apply_qwen2(model: Any, opts: ContextOptions) -> dict[str, Any]:
    config = model.config
    if getattr(model, "_context_options", None) is not None:
        raise ContextOptionError("context knobs are already applied to this model")
    if config._attn_implementation != "sdpa" and (opts.logn or opts.window):
        raise ContextOptionError(
            f"LogN and window attention wrap SDPA attention; this model uses "
            f"{config._attn_implementation!r}"
        )
    trained = opts.trained_length or getattr(config, "seq_length", None) \
        or config.max_position_embeddings
    layers = model.model.layers
    info: dict[str, Any] = {"method": "harness patch (Qwen2 architecture)",
                            "trained_length": trained}
    rotary = model.model.rotary_emb
    if opts.rope_scaling is not None:
        params = {**config.rope_parameters, **opts.rope_scaling}
        params.setdefault("original_max_position_embeddings", trained)
        old = (config.rope_parameters, config.max_position_embeddings)
        config.rope_parameters = params
        config.max_position_embeddings = trained  # transformers' types scale relative to it
        try:
            new = type(rotary)(config=config)
        except (KeyError, ValueError, TypeError) as exc:
            config.rope_parameters, config.max_position_embeddings = old
            raise ContextOptionError(f"rope_scaling {opts.rope_scaling!r}: {exc}") from None
        model.model.rotary_emb = new.to(rotary.inv_freq.device)
        info["rope_parameters"] = params
    if opts.dynamic_ntk:
        if config.rope_parameters.get("rope_type", "default") != "default":
            raise ContextOptionError(
                f"dynamic NTK needs plain RoPE; this model's rope_type is "
                f"{config.rope_parameters['rope_type']!r}"
            )
        _patch_rotary_ntk(rotary, float(config.rope_parameters["rope_theta"]), trained)
        info["dynamic_ntk"] = {"formula": "alpha = max(2**ceil(log2(L/n)+1)-1, 1); "
                                          "base * alpha**(d/(d-2))",
                               "rope_theta": float(config.rope_parameters["rope_theta"])}
    if opts.logn or opts.window:
        windows = (parse_window_schedule(opts.window, len(layers), trained)
                   if opts.window else [None] * len(layers))
        for layer, window in zip(layers, windows, strict=True):
            layer.self_attn._context_logn = trained if opts.logn else None
            layer.self_attn._context_window = window
        _register_attention()
        model.set_attn_implementation(ATTN_NAME)
        if opts.logn:
            info["logn"] = True
        if opts.window:
            info["window_schedule"] = opts.window
            info["windows"] = windows
    model._context_options = opts
    return info


def _patch_rotary_ntk(rotary: Any, base: float, trained: int) -> None:
    """Wrap the rotary module's forward: RoPE base from the length of the current sequence."""
    dim = 2 * rotary.inv_freq.numel()
    original = rotary.forward
    cache: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def forward(self: Any, x: torch.Tensor, position_ids: torch.Tensor):
        alpha = ntk_alpha(int(position_ids.max()) + 1, trained)
        if alpha == 1:
            return original(x, position_ids)
        if alpha not in cache:
            new_base = ntk_base(base, alpha, dim)
            cache[alpha] = 1.0 / (new_base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        inv_freq = cache[alpha].to(x.device)
        freqs = position_ids[..., None].float() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    rotary.forward = types.MethodType(forward, rotary)
    rotary._context_ntk = (base, trained)


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTN_NAME, context_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_NAME, sdpa_mask)


def context_sdpa_attention(
    module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
    attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
    is_causal: bool | None = None, **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention with LogN-scaled queries and a per-layer key window.

    ``query`` is (B, heads, q, d) after RoPE; its rows are the last ``q`` of the ``k`` keys.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_len, k_len = query.shape[2], key.shape[2]
    offset = k_len - q_len
    logn = getattr(module, "_context_logn", None)
    if logn is not None and k_len > logn:
        positions = torch.arange(offset, k_len, device=query.device)
        query = query * logn_factors(positions, logn).to(query.dtype)[None, None, :, None]
    window = getattr(module, "_context_window", None)
    if window is None or k_len <= window:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    heads = query.shape[0] * query.shape[1]
    block = max(16, min(q_len, _ATTN_BUDGET // max(1, heads * (window + 1024))))
    outputs = []
    for start in range(0, q_len, block):
        stop = min(q_len, start + block)
        first_key = max(0, offset + start - window + 1)
        q_pos = torch.arange(offset + start, offset + stop, device=query.device)[:, None]
        k_pos = torch.arange(first_key, offset + stop, device=query.device)[None, :]
        allowed = (k_pos <= q_pos) & (k_pos > q_pos - window)
        mask: torch.Tensor = allowed[None, None]
        if attention_mask is not None:
            part = attention_mask[..., start:stop, first_key : offset + stop]
            if part.dtype == torch.bool:
                mask = mask & part
            else:
                mask = part + torch.where(mask, 0.0, torch.finfo(part.dtype).min).to(part.dtype)
        out, _ = sdpa_attention_forward(
            module, query[:, :, start:stop], key[:, :, first_key : offset + stop],
            value[:, :, first_key : offset + stop], mask, dropout=dropout, scaling=scaling,
            is_causal=False, **kwargs)
        outputs.append(out)
    return torch.cat(outputs, dim=1), None
