"""Which context-extension knobs a run uses: ``ModelSpec.options``, parsed and checked.

The knobs themselves (what they do to a model) are :mod:`evaluate.context`; this module has no
torch, so a sweep file's options are checked when the file is loaded. Option names, as on the
command line and in sweep files (``options = { dynamic_ntk = true, logn_attn = true }``):

- ``dynamic_ntk`` (bool): dynamic NTK RoPE base, original Qwen formula.
- ``logn_attn`` (bool): LogN query scaling past the trained length.
- ``window_attn`` (true or a schedule: ``"A:B"`` or a comma list of per-layer token counts).
- ``rope_scaling`` (a table with ``rope_type``): transformers' own RoPE scaling.
- ``trained_length`` (integer >= 2): the length the knobs treat as trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evaluate.errors import EvaluateError

DEFAULT_WINDOW = "1:8"
OPTION_NAMES = ("dynamic_ntk", "logn_attn", "window_attn", "rope_scaling", "trained_length")


class ContextOptionError(EvaluateError):
    """A context-extension option is malformed or cannot be applied to this model."""


@dataclass(frozen=True)
class ContextOptions:
    """Which knobs are on. Build from option names with :meth:`from_options`."""

    dynamic_ntk: bool = False
    logn: bool = False
    window: str | None = None  # schedule spec; None = off
    rope_scaling: Mapping[str, Any] | None = None
    trained_length: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ContextOptions:
        """Parse option names (see the module docstring); a ContextOptionError names the bad one."""
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise ContextOptionError(f"unknown option(s) {', '.join(unknown)}; "
                                     f"use {', '.join(OPTION_NAMES)}")
        for name in ("dynamic_ntk", "logn_attn"):
            if not isinstance(options.get(name, False), bool):
                raise ContextOptionError(f"{name} must be true or false, not {options[name]!r}")
        window = options.get("window_attn")
        if window is True:
            window = DEFAULT_WINDOW
        if window is not None and window is not False and not isinstance(window, str):
            raise ContextOptionError(f"window_attn must be true or a schedule string such as "
                                     f"'1:8', not {window!r}")
        trained = options.get("trained_length")
        if trained is not None and (not isinstance(trained, int) or trained < 2):
            raise ContextOptionError(f"trained_length must be an integer >= 2, not {trained!r}")
        rope = options.get("rope_scaling")
        if rope is not None and (not isinstance(rope, Mapping) or "rope_type" not in rope):
            raise ContextOptionError(
                f"rope_scaling must be a dict with a 'rope_type' key, not {rope!r}"
            )
        opts = cls(dynamic_ntk=bool(options.get("dynamic_ntk", False)),
                   logn=bool(options.get("logn_attn", False)),
                   window=str(window) if window else None,
                   rope_scaling=dict(rope) if rope is not None else None,
                   trained_length=trained)
        if opts.dynamic_ntk and opts.rope_scaling is not None:
            raise ContextOptionError("dynamic_ntk and rope_scaling both change RoPE; pick one")
        if opts.window is not None:
            parse_window_schedule(opts.window, 2, 2)  # syntax check now, sizes at apply time
        return opts

    def to_options(self) -> dict[str, Any]:
        """The option names of the knobs that are set (``{}`` when none): JSON-able."""
        options: dict[str, Any] = {}
        if self.dynamic_ntk:
            options["dynamic_ntk"] = True
        if self.logn:
            options["logn_attn"] = True
        if self.window:
            options["window_attn"] = self.window
        if self.rope_scaling is not None:
            options["rope_scaling"] = dict(self.rope_scaling)
        if self.trained_length is not None:
            options["trained_length"] = self.trained_length
        return options

    @property
    def active(self) -> bool:
        return bool(self.dynamic_ntk or self.logn or self.window or self.rope_scaling)

    def variant(self) -> str:
        """``none`` or e.g. ``dynamic_ntk+logn+window_attn`` (the reported tables' names)."""
        parts = []
        if self.rope_scaling is not None:
            parts.append(f"rope_{self.rope_scaling['rope_type']}")
        if self.dynamic_ntk:
            parts.append("dynamic_ntk")
        if self.logn:
            parts.append("logn")
        if self.window:
            default = self.window == DEFAULT_WINDOW
            parts.append("window_attn" if default else f"window_{self.window}")
        name = "+".join(parts) or "none"
        if self.trained_length is not None:
            name += f"@{self.trained_length}"
        return name


def parse_window_schedule(spec: str, num_layers: int, trained_length: int) -> list[int | None]:
    """Per-layer windows (None = unlimited) from ``"A:B"`` or a comma list of token counts."""
    spec = spec.strip()
    try:
        if ":" in spec:
            low, high = (float(x) for x in spec.split(":"))
            if not (0 < low <= high):
                raise ValueError
            windows: list[int | None] = []
            for i in range(num_layers):
                frac = i / (num_layers - 1) if num_layers > 1 else 1.0
                windows.append(max(1, round(trained_length * low * (high / low) ** frac)))
            return windows
        values = [int(x) for x in spec.split(",")]
        if any(v < 0 for v in values):
            raise ValueError
    except ValueError:
        raise ContextOptionError(
            f"window schedule {spec!r}: use 'A:B' (multiples of the trained length, 0 < A <= B) "
            "or a comma list of token counts per layer (0 = unlimited)"
        ) from None
    if len(values) != num_layers and num_layers > 2:
        raise ContextOptionError(
            f"window schedule lists {len(values)} windows but the model has {num_layers} layers"
        )
    return [v or None for v in values]
