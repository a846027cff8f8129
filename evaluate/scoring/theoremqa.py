"""Scoring TheoremQA replies in the sandbox (OpenCompass's extraction ``eval``-s model text).

The harness never imports :mod:`evaluate.scoring.theoremqa_answer`: its source, plus a call with
the replies as a JSON literal, is a program for :func:`evaluate.sandbox.run_programs`; the program
prints one JSON line of verdicts. Replies are scored in chunks (one SymPy import per chunk), the
chunks in parallel. A chunk whose program does not finish is scored again one reply at a time, so
one hostile reply costs only itself (it scores wrong, status ``"sandbox: <status>"``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CHUNK = 50
GUARD_S = 10.0  # CPU seconds one reply may take in the program (OpenCompass had no limit)
STARTUP_S = 20.0  # interpreter, SymPy and the LaTeX parser
OUTPUT_BYTES = 4 * 1024 * 1024
_SOURCE = Path(__file__).with_name("theoremqa_answer.py")


def rules_fingerprint() -> str:
    """sha256 of the rules' source (the sandboxed program), for the task's protocol hash."""
    return hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:16]


def program(items: list[dict[str, Any]], whole_words: bool, guard_s: float = GUARD_S) -> str:
    """The sandbox program that scores ``items`` (``text``, ``answer``, ``answer_type``)."""
    payload = json.dumps(items, ensure_ascii=True)
    return (_SOURCE.read_text(encoding="utf-8")
            + f"\n\nscore_items(json.loads({payload!r}), {whole_words!r}, {guard_s!r})\n")


def score_in_sandbox(items: list[dict[str, Any]], whole_words: bool = False,
                     guard_s: float = GUARD_S) -> tuple[list[dict[str, Any]], str | None]:
    """One verdict (``pred``, ``correct``, ``status``) per item, and the LaTeX parser used."""
    from evaluate.sandbox import Limits, run_programs

    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]

    def run(groups: list[list[dict[str, Any]]]) -> list[Any]:
        limit = Limits(timeout_s=STARTUP_S + (guard_s + 2) * max(len(g) for g in groups),
                       memory_mb=2048, output_bytes=OUTPUT_BYTES)
        return run_programs([program(g, whole_words, guard_s) for g in groups], limit,
                            progress=len(groups) > 1)

    verdicts: list[dict[str, Any]] = []
    parser = None
    for chunk, result in zip(chunks, run(chunks) if chunks else [], strict=True):
        parsed = _parse(result)
        if parsed is None and len(chunk) > 1:  # one at a time, to isolate the culprit
            singles = [_parse(r) or _failed(r) for r in run([[item] for item in chunk])]
            verdicts += [s["verdicts"][0] for s in singles]
            parser = parser or next((s["parser"] for s in singles if s["parser"]), None)
            continue
        parsed = parsed or _failed(result)
        verdicts += parsed["verdicts"]
        parser = parser or parsed["parser"]
    return verdicts, parser


def _parse(result: Any) -> dict[str, Any] | None:
    if result.status != "passed":
        return None
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _failed(result: Any) -> dict[str, Any]:
    return {"verdicts": [{"pred": "", "correct": False, "status": f"sandbox: {result.status}"}],
            "parser": None}
