"""The sandbox's verdict function alone: observed exit, timing, output and records -> status."""

from __future__ import annotations

import json
import signal

import pytest

from evaluate.sandbox.verdict import (
    SETUP_FAILED,
    STATUSES,
    Limits,
    Observed,
    judge,
    output_cap,
    read_records,
)

LIMITS = Limits(timeout_s=2.5, output_bytes=1000)
LAYERS = {"layers": {"network_namespace": True, "landlock": True}}


def _pipe(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _init_exit(code: int | None = 0, sig: int | None = None) -> dict:
    return {"exit": code, "signal": sig}


def _judge(returncode: int = 0, *records: dict, **observed) -> tuple[str, str]:
    verdict = judge(Observed(returncode, status_pipe=_pipe(*records), **observed), LIMITS)
    assert verdict.status in STATUSES and "\n" not in verdict.detail
    return verdict.status, verdict.detail


def test_the_runner_record_decides_a_normal_end():
    passed = {"result": "passed", "detail": ""}
    assert _judge(0, LAYERS, passed, _init_exit(0)) == ("passed", "")
    assert _judge(0, LAYERS, {"result": "failed", "detail": "AssertionError: x"},
                  _init_exit(1)) == ("failed", "AssertionError: x")
    assert _judge(0, LAYERS, {"result": "memory", "detail": "MemoryError"},
                  _init_exit(1))[0] == "memory"
    # A pass needs exit code 0 as well: a record followed by a non-zero exit is an error.
    assert _judge(0, LAYERS, passed, _init_exit(3)) == ("error", "exit code 3")
    # Without a PID namespace there is no init record: the bootstrap's own code counts.
    assert _judge(0, LAYERS, passed) == ("passed", "")
    assert _judge(2, LAYERS, passed) == ("error", "exit code 2")


def test_no_record_is_never_a_pass():
    assert _judge(0, LAYERS, _init_exit(0)) == (
        "error", "exited before the program finished (no result record)")
    assert _judge(0, LAYERS, _init_exit(4)) == ("error", "exit code 4 (no result record)")
    assert _judge(0, LAYERS, {"result": "totally-passed"}, _init_exit(0)) == (
        "error", "invalid result record")


def test_timing_and_output_come_first():
    passed = {"result": "passed", "detail": ""}
    assert _judge(-9, LAYERS, passed, timed_out=True) == (
        "timeout", "wall-clock limit of 2.5s exceeded")
    cap = output_cap(LIMITS)
    assert cap == 4096 * 16  # the cap never falls below 16 x 4 KiB
    assert _judge(-9, LAYERS, passed, output_bytes=cap + 1) == (
        "output_limit", f"output exceeded {cap} bytes")
    assert _judge(0, LAYERS, passed, _init_exit(0), output_bytes=cap)[0] == "passed"


def test_signals():
    assert _judge(0, LAYERS, _init_exit(None, signal.SIGXCPU)) == (
        "timeout", "CPU time limit exceeded (SIGXCPU)")
    assert _judge(0, LAYERS, _init_exit(None, signal.SIGKILL)) == (
        "killed", "SIGKILL (CPU hard limit or out of memory)")
    assert _judge(0, LAYERS, _init_exit(None, signal.SIGSEGV)) == ("killed", "SIGSEGV")
    assert _judge(-signal.SIGABRT, LAYERS) == ("killed", "SIGABRT")
    assert _judge(0, LAYERS, _init_exit(None, 200)) == ("killed", "signal 200")


def test_setup_failure():
    assert _judge(SETUP_FAILED, {"setup_error": "mount: denied"}) == (
        "error", "sandbox setup failed: mount: denied")
    assert _judge(SETUP_FAILED) == ("error", "sandbox setup failed: None")
    # Exit code 125 after the layers were reported is the program's own exit code.
    assert _judge(0, LAYERS, _init_exit(SETUP_FAILED)) == ("error", "exit code 125 (no result "
                                                                     "record)")


@pytest.mark.parametrize("junk", [b"not json\n", b"[1, 2]\n", b"\xff\xfe\n", b'{"exit": "x"}\n'])
def test_junk_on_the_status_pipe_is_ignored(junk):
    data = junk + _pipe(LAYERS, {"result": "passed", "detail": ""}, _init_exit(0))
    assert judge(Observed(0, status_pipe=data), LIMITS).status == "passed"


def test_records_are_read_in_order():
    records = read_records(_pipe(LAYERS, {"layers": {"other": 1}}, {"result": "failed"},
                                 {"result": "passed"}, _init_exit(1), _init_exit(0)))
    assert records.layers == LAYERS["layers"]  # the first layers record
    assert records.result == {"result": "failed"}  # the first result record
    assert records.exit == _init_exit(0)  # the last exit record
    assert records.setup_error is None


def test_detail_is_cut():
    long = {"result": "error", "detail": "E: " + "x" * 1000}
    assert len(_judge(0, LAYERS, long, _init_exit(1))[1]) == 300
