"""Packed shared-prefix attention: many prompt suffixes in one row, one prefix kept once.

For log-likelihood requests that share a few-shot prefix, the prefix's keys and values are
computed once (by the Transformers backend) and kept once. The suffixes of a batch are laid end
to end in a single row of ``T`` tokens -- no padding, no per-row copy of the prefix -- with
position ids continuing from the prefix's length, and each attention layer computes, for every
suffix, attention over ``[prefix ; the suffix itself, causally]`` as two parts:

* A: every suffix token against the prefix (no mask: the prefix is entirely in the past);
* B: every suffix token against its own suffix (causal, one segment per suffix),

merged exactly through their log-sum-exps: with ``l = logaddexp(lA, lB)``, the output is
``exp(lA - l) * oA + exp(lB - l) * oB``. Each part is one variable-length attention call
(:data:`Attend`): on CUDA, PyTorch's FlashAttention-2 varlen op
(``torch.nn.attention.varlen.varlen_attn``: GQA without a mask and without repeating keys),
elsewhere :func:`reference_attend`, plain PyTorch per segment in float32. :func:`select_kernel`
uses the varlen op only after it has matched the reference on random inputs on that device.

The attention function is registered with Transformers' ``AttentionInterface`` under
:data:`ATTENTION_NAME` and is switched on only for the duration of :func:`packed_hidden`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

ATTENTION_NAME = "evaluate_packed"

# (q (Tq, Hq, D), k (Tk, Hkv, D), v, segments) -> (out (Tq, Hq, D), lse (Tq, Hq) float32)
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "Segments"],
                  tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Segments:
    """Query/key segment pairs of one varlen call (cumulative offsets, as FlashAttention's)."""

    cu_q: list[int]
    cu_k: list[int]
    causal: bool
    scale: float
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)

    @property
    def max_q(self) -> int:
        return max(b - a for a, b in zip(self.cu_q, self.cu_q[1:], strict=False))

    @property
    def max_k(self) -> int:
        return max(b - a for a, b in zip(self.cu_k, self.cu_k[1:], strict=False))

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The offsets as int32 tensors on ``device`` (made once)."""
        if "cu_q" not in self.tensors:
            self.tensors["cu_q"] = torch.tensor(self.cu_q, dtype=torch.int32, device=device)
            self.tensors["cu_k"] = torch.tensor(self.cu_k, dtype=torch.int32, device=device)
        return self.tensors["cu_q"], self.tensors["cu_k"]


def reference_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     segments: Segments) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable-length attention in plain PyTorch, one segment pair at a time, in float32.

    Causal segments align bottom-right (query ``i`` of ``n`` sees keys ``<= i + m - n`` of
    ``m``), as FlashAttention's do.
    """
    groups = q.shape[1] // k.shape[1]
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(q.shape[:2], dtype=torch.float32, device=q.device)
    pairs = zip(segments.cu_q, segments.cu_q[1:], segments.cu_k, segments.cu_k[1:], strict=False)
    for q0, q1, k0, k1 in pairs:
        if q1 == q0:
            continue
        qi = q[q0:q1].float().transpose(0, 1)  # (Hq, n, D)
        ki = k[k0:k1].float().transpose(0, 1).repeat_interleave(groups, dim=0)
        vi = v[k0:k1].float().transpose(0, 1).repeat_interleave(groups, dim=0)
        scores = qi @ ki.transpose(1, 2) * segments.scale  # (Hq, n, m)
        if segments.causal:
            n, m = q1 - q0, k1 - k0
            rows = torch.arange(n, device=q.device)[:, None]
            cols = torch.arange(m, device=q.device)[None, :]
            scores = scores.masked_fill(cols > rows + (m - n), float("-inf"))
        seg_lse = torch.logsumexp(scores, dim=-1)  # (Hq, n)
        out[q0:q1] = (torch.softmax(scores, dim=-1) @ vi).transpose(0, 1).to(q.dtype)
        lse[q0:q1] = seg_lse.transpose(0, 1)
    return out, lse


def varlen_attend(lse_heads_first: bool = True) -> Attend:
    """PyTorch's FlashAttention-2 varlen op as an :data:`Attend` (CUDA only).

    ``lse_heads_first``: the op's log-sum-exp comes as ``(Hq, Tq)`` (FlashAttention's layout);
    :func:`select_kernel` finds out which layout this build returns.
    """
    from torch.nn.attention.varlen import AuxRequest, varlen_attn

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               segments: Segments) -> tuple[torch.Tensor, torch.Tensor]:
        cu_q, cu_k = segments.on(q.device)
        out, lse = varlen_attn(
            q.contiguous(), k.contiguous(), v.contiguous(), cu_q, cu_k,
            segments.max_q, segments.max_k,
            return_aux=AuxRequest(lse=True), scale=segments.scale,
            window_size=(-1, 0) if segments.causal else (-1, -1), enable_gqa=True,
        )
        lse = lse.float()
        return out, (lse.transpose(0, 1) if lse_heads_first else lse)

    return attend


def select_kernel(device: torch.device, dtype: torch.dtype) -> tuple[str, Attend]:
    """``("varlen", op)`` where the FlashAttention varlen op runs here and matches
    :func:`reference_attend` on random inputs (both log-sum-exp layouts are tried);
    ``("reference", reference_attend)`` otherwise (the CPU, old PyTorch, unsupported dtypes)."""
    if device.type != "cuda":
        return "reference", reference_attend
    try:
        import torch.nn.attention.varlen  # noqa: F401
    except ImportError:
        return "reference", reference_attend
    generator = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(11, 4, 64, generator=generator).to(device, dtype)
    k = torch.randn(17, 2, 64, generator=generator).to(device, dtype)
    v = torch.randn(17, 2, 64, generator=generator).to(device, dtype)
    checks = [Segments([0, 4, 11], [0, 4, 11], causal=True, scale=0.125),
              Segments([0, 11], [0, 17], causal=False, scale=0.125)]
    tolerance = 2e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-4
    for heads_first in (True, False):
        attend = varlen_attend(heads_first)
        try:
            if all(_close(attend(q, k[: s.cu_k[-1]], v[: s.cu_k[-1]], s),
                          reference_attend(q, k[: s.cu_k[-1]], v[: s.cu_k[-1]], s), tolerance)
                   for s in checks):
                return "varlen", attend
        except (RuntimeError, ValueError, TypeError, NotImplementedError):
            break
    return "reference", reference_attend


def _close(got: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor],
           tolerance: float) -> bool:
    return all(a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=tolerance,
                                                     rtol=tolerance)
               for a, b in zip(got, want, strict=True))


def merge(out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor,
          lse_b: torch.Tensor) -> torch.Tensor:
    """Attention over the union of two key sets from the attention over each (exact)."""
    lse = torch.logaddexp(lse_a, lse_b)
    weight_a = torch.exp(lse_a - lse)[..., None]
    weight_b = torch.exp(lse_b - lse)[..., None]
    return (out_a.float() * weight_a + out_b.float() * weight_b).to(out_a.dtype)


@dataclass
class Pack:
    """One packed row: suffixes of ``lengths`` tokens after a shared prefix of ``prefix_len``.

    ``prefix`` holds each layer's prefix keys and values as ``(P, Hkv, D)`` tensors (none when
    the suffixes share no prefix).
    """

    lengths: list[int]
    prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()
    prefix_len: int = 0
    kernel: Attend = reference_attend
    starts: list[int] = field(init=False)
    _made: tuple[Segments, Segments] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.starts = [0]
        for length in self.lengths:
            self.starts.append(self.starts[-1] + length)

    @property
    def total(self) -> int:
        return self.starts[-1]

    def positions(self, device: torch.device) -> torch.Tensor:
        """Position ids ``(1, T)``: each suffix continues from the prefix's length."""
        return torch.cat([torch.arange(self.prefix_len, self.prefix_len + n, device=device)
                          for n in self.lengths])[None]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               scale: float) -> torch.Tensor:
        """One layer's attention for the packed row (``q``: ``(T, Hq, D)``)."""
        own, whole = self._segments(scale)
        out, lse = self.kernel(q, k, v, own)
        if self.prefix_len:
            keys, values = self.prefix[layer]
            out_prefix, lse_prefix = self.kernel(q, keys, values, whole)
            out = merge(out_prefix, lse_prefix, out, lse)
        return out

    def _segments(self, scale: float) -> tuple[Segments, Segments]:
        """The two calls' segments, made once per pack (their offsets then live on the device
        for every layer)."""
        if self._made is None or self._made[0].scale != scale:
            self._made = (Segments(self.starts, self.starts, causal=True, scale=scale),
                          Segments([0, self.total], [0, self.prefix_len], causal=False,
                                   scale=scale))
        return self._made


def _packed_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
                      packing: Pack | None = None, **kwargs: Any
                      ) -> tuple[torch.Tensor, None]:
    """Transformers' attention-function signature: ``query`` ``(1, Hq, T, D)``, keys and
    values ``(1, Hkv, T, D)``; returns ``(1, T, Hq, D)``."""
    if packing is None:
        raise RuntimeError("packed attention called without a Pack (use packed_hidden)")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = packing.attend(module.layer_idx, query[0].transpose(0, 1), key[0].transpose(0, 1),
                         value[0].transpose(0, 1), scale)
    return out[None], None


@contextlib.contextmanager
def _attention_switched(model: Any) -> Iterator[None]:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _packed_attention)
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous


def packed_hidden(model: Any, suffixes: Sequence[Sequence[int]], pack: Pack,
                  device: torch.device) -> torch.Tensor:
    """Last hidden states ``(T, H)`` of ``suffixes`` laid end to end as ``pack`` describes."""
    ids = torch.tensor([token for suffix in suffixes for token in suffix], device=device)[None]
    with _attention_switched(model):
        return model.base_model(input_ids=ids, position_ids=pack.positions(device),
                                use_cache=False, packing=pack)[0][0]


def supports_packing(model: Any) -> bool:
    """Models whose attention goes through Transformers' ``AttentionInterface`` with full
    (not sliding-window) layers: what :func:`packed_hidden` can drive."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "_attn_implementation"):
        return False
    if getattr(config, "use_sliding_window", False) or any(
            kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        return False
    return getattr(model, "base_model", None) is not None
