"""What a sandboxed run may do and what its outcome was: limits, statuses, and the verdict.

:func:`judge` is the whole decision, a pure function of what the supervisor observed
(:class:`Observed`: the exit status, whether the wall clock ran out, how much output came, and
the records the child wrote on its status pipe) and the run's :class:`Limits`.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "error", "timeout", "memory", "killed", "output_limit")

# A program whose stdout+stderr together exceed this many times ``Limits.output_bytes`` is killed
# (status "output_limit"); below it, output is drained and only the last bytes are kept.
OUTPUT_KILL_FACTOR = 16
# Exit code the bootstrap uses when the sandbox itself could not be set up.
SETUP_FAILED = 125
DETAIL_CHARS = 300


@dataclass(frozen=True)
class Limits:
    """Resource limits for one program."""

    timeout_s: float = 3.0  # wall clock
    cpu_s: float | None = None  # defaults to ceil(timeout_s) + 1
    memory_mb: int = 1024  # address space (RLIMIT_AS), per process
    file_size_mb: int = 16  # RLIMIT_FSIZE; the working directory holds DISK_FACTOR times this
    max_processes: int = 16  # RLIMIT_NPROC under a throwaway uid (root) or a user namespace
    output_bytes: int = 65536  # stdout / stderr each keep their last this-many bytes


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of one program; ``status`` is one of :data:`STATUSES`."""

    status: str
    passed: bool
    detail: str
    duration_s: float
    stdout: str
    stderr: str


def output_cap(limits: Limits) -> int:
    """Bytes of stdout+stderr (together) past which a program is killed."""
    return max(limits.output_bytes, 4096) * OUTPUT_KILL_FACTOR


@dataclass(frozen=True)
class Observed:
    """What the supervisor saw of one run: everything the verdict depends on."""

    returncode: int  # the bootstrap's exit code (negative: the signal that killed it)
    timed_out: bool = False  # the wall-clock limit passed while it still ran
    output_bytes: int = 0  # stdout + stderr bytes read, in all
    status_pipe: bytes = b""  # the child's records, one JSON object a line


@dataclass(frozen=True)
class ChildRecords:
    """The status pipe's records, as the bootstrap, the namespace init and the runner wrote them."""

    layers: dict[str, Any] = field(default_factory=dict)  # the isolation layers that took effect
    result: dict[str, Any] | None = None  # the runner's: {"result": status, "detail": ...}
    exit: dict[str, Any] | None = None  # the namespace init's: {"exit": code, "signal": sig}
    setup_error: str | None = None


@dataclass(frozen=True)
class Verdict:
    status: str
    detail: str
    layers: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def read_records(data: bytes) -> ChildRecords:
    """The records on the status pipe; lines that are not JSON objects are ignored."""
    layers: dict[str, Any] = {}
    result = exit_record = None
    setup_error = None
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if "layers" in obj and not layers:
            layers = obj["layers"]
        elif "setup_error" in obj:
            setup_error = str(obj["setup_error"])
        elif "result" in obj and result is None:
            result = obj
        elif "exit" in obj:
            exit_record = obj  # the namespace init writes it last
    return ChildRecords(layers, result, exit_record, setup_error)


def program_exit(returncode: int, exit_record: dict[str, Any] | None) -> tuple[int | None,
                                                                               int | None]:
    """How the program's process ended, ``(exit code, signal)``: from the namespace init's
    record when there is one, else from the bootstrap's own return code."""
    code: int | None = returncode if returncode >= 0 else None
    sig: int | None = -returncode if returncode < 0 else None
    if exit_record is not None:
        try:
            code = None if exit_record["exit"] is None else int(exit_record["exit"])
            sig = None if exit_record["signal"] is None else int(exit_record["signal"])
        except (KeyError, TypeError, ValueError):
            pass
    return code, sig


def judge(observed: Observed, limits: Limits) -> Verdict:
    """The status and a one-line detail of a run, from what was observed of it.

    In order: the wall clock, the output cap, a failed sandbox setup, a signal (SIGXCPU is the
    CPU limit), then the runner's own record; a pass needs that record *and* exit code 0, so a
    program that exits early (``sys.exit(0)`` before its checks end) is not a pass.
    """
    records = read_records(observed.status_pipe)
    code, sig = program_exit(observed.returncode, records.exit)
    cap = output_cap(limits)
    if observed.timed_out:
        status, detail = "timeout", f"wall-clock limit of {limits.timeout_s:g}s exceeded"
    elif observed.output_bytes > cap:
        status, detail = "output_limit", f"output exceeded {cap} bytes"
    elif records.setup_error is not None or (code == SETUP_FAILED and not records.layers):
        status, detail = "error", f"sandbox setup failed: {records.setup_error}"
    elif sig is not None:
        if sig == signal.SIGXCPU:
            status, detail = "timeout", "CPU time limit exceeded (SIGXCPU)"
        elif sig == signal.SIGKILL and records.result is None:
            status, detail = "killed", "SIGKILL (CPU hard limit or out of memory)"
        else:
            status, detail = "killed", _signal_name(sig)
    elif records.result is not None:
        status = str(records.result.get("result"))
        detail = str(records.result.get("detail", ""))[:DETAIL_CHARS]
        if status not in STATUSES:
            status, detail = "error", "invalid result record"
        if status == "passed" and code != 0:
            status, detail = "error", f"exit code {code}"
    elif code == 0:
        status, detail = "error", "exited before the program finished (no result record)"
    else:
        status, detail = "error", f"exit code {code} (no result record)"
    return Verdict(status, detail, records.layers)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
