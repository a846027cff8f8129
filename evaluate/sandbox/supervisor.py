"""The parent side of the sandbox: starts the child, drains its pipes, kills and cleans up.

:func:`run_program` writes the program to a fresh temporary directory, starts
:mod:`evaluate.sandbox.child.bootstrap` by its file path (``python -I -S``) with a minimal
environment in a new session, and reads stdout, stderr and the private status pipe until the
program ends, its wall-clock limit passes or its output passes the cap. What it saw goes to the
pure :func:`evaluate.sandbox.verdict.judge`. Whatever happened, every process of the run is then
killed (the process group, and every process of the throwaway uid) and the directory removed.
"""

from __future__ import annotations

import json
import math
import os
import pwd
import secrets
import selectors
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import Any

from evaluate.sandbox.verdict import (
    ExecutionResult,
    Limits,
    Observed,
    judge,
    output_cap,
)

CHILD = Path(__file__).resolve().parent / "child"
BOOTSTRAP = CHILD / "bootstrap.py"  # run by its path
RUNNER = CHILD / "runner.py"  # its source is run: the child cannot read the package by then
# The tmpfs on the working directory holds this many times ``Limits.file_size_mb`` in all.
DISK_FACTOR = 4
# Layers to leave out (``"network_namespace"``, ``"pid_namespace"``, ``"mount_namespace"``,
# ``"throwaway_uid"``, ``"landlock"``, ...): only for tests of the fallbacks.
_DISABLED_LAYERS: frozenset[str] = frozenset()
STATUS_PIPE_BYTES = 65536  # read at most this much of the child's status records


def _read_paths() -> list[str]:
    """Directories the child may read and execute from: the system and the interpreter."""
    paths = ["/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/dev"]
    paths += _need_paths() + _site_packages()
    return sorted(set(paths))


def _site_packages() -> list[str]:
    """The interpreter's site-packages: on the program's ``sys.path`` (their ``.pth`` hooks are
    not run), as in the caller's interpreter."""
    try:
        return [p for p in site.getsitepackages() if os.path.isdir(p)]
    except AttributeError:  # pragma: no cover - old virtualenv's site module
        return []


def _need_paths() -> list[str]:
    """The interpreter's own directories (resolved), which the child must be able to reach."""
    exe = os.path.realpath(sys.executable)
    cands = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(exe),
        os.path.dirname(os.path.abspath(sys.executable)),
    }
    out = {os.path.realpath(p) for p in cands if p and os.path.isdir(p)}
    # Drop paths that lie beneath another one in the set.
    return sorted(p for p in out if not any(p != q and p.startswith(q + "/") for q in out))


def _minimal_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }


def _throwaway_uid() -> int:
    """A random uid no account uses, so RLIMIT_NPROC and the final sweep count only this run."""
    while True:
        uid = 200_000 + secrets.randbelow(2**31 - 400_000)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def _processes_of_uid(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _kill_uid(uid: int) -> None:
    """SIGKILL every process running as the run's throwaway uid (a fork bomb may still fork)."""
    for _ in range(50):
        pids = _processes_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


class _Tail:
    """Keeps the last ``bound`` bytes of a stream and counts the total."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.buf = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.buf += data
        if len(self.buf) > 2 * self.bound:
            del self.buf[: len(self.buf) - self.bound]

    def text(self) -> str:
        return bytes(self.buf[-self.bound :]).decode("utf-8", "replace") if self.bound else ""


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited, without reaping it (so its pid / group id stays reserved)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _run(source: str, limits: Limits) -> tuple[ExecutionResult, dict[str, Any]]:
    """Run ``source`` in a fresh sandbox; its result and the isolation layers that took effect."""
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 1
    root = tempfile.mkdtemp(prefix="evaluate-sandbox-")
    sandbox_uid = _throwaway_uid() if os.getuid() == 0 else os.getuid()
    status_r, status_w = os.pipe()
    proc: subprocess.Popen[bytes] | None = None
    try:
        os.chmod(root, 0o711)
        workdir = os.path.join(root, "work")
        stage = os.path.join(root, "stage")
        os.mkdir(workdir, 0o700)
        os.mkdir(stage, 0o700)
        if os.getuid() == 0:
            os.chown(workdir, sandbox_uid, sandbox_uid)
        source_path = os.path.join(root, "main.py")
        with open(source_path, "w", encoding="utf-8") as f:
            f.write(source)
        cfg = {
            "status_fd": status_w,
            "parent_pid": os.getpid(),
            "workdir": workdir,
            "stage_dir": stage,
            "source_path": source_path,
            "sandbox_uid": sandbox_uid,
            "disk_kb": max(1, limits.file_size_mb) * DISK_FACTOR * 1024,
            "need_paths": _need_paths(),
            "read_paths": _read_paths(),
            "site_packages": _site_packages(),
            "python": sys.executable,
            "runner": _runner_source(),
            "disabled": sorted(_DISABLED_LAYERS),
            "limits": {
                "cpu": max(1, math.ceil(cpu)),
                "as": limits.memory_mb * 1024 * 1024,
                "fsize": limits.file_size_mb * 1024 * 1024,
                "nproc": limits.max_processes,
            },
        }
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(BOOTSTRAP), json.dumps(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=_minimal_env(workdir),
            start_new_session=True,
            pass_fds=(status_w,),
        )
        os.close(status_w)
        status_w = -1
        observed, stdout, stderr = _supervise(proc, status_r, limits, start)
        verdict = judge(observed, limits)
        result = ExecutionResult(status=verdict.status, passed=verdict.passed,
                                 detail=verdict.detail, duration_s=time.monotonic() - start,
                                 stdout=stdout.text(), stderr=stderr.text())
        return result, verdict.layers
    finally:
        if proc is not None:
            _cleanup(proc, sandbox_uid)
        for fd in (status_r, status_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        shutil.rmtree(root, ignore_errors=True)


@lru_cache(maxsize=1)
def _runner_source() -> str:
    return RUNNER.read_text(encoding="utf-8")


def _cleanup(proc: subprocess.Popen[bytes], sandbox_uid: int) -> None:
    # The bootstrap is not reaped yet, so its pid (= the group id) cannot have been reused.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if os.getuid() == 0:
        _kill_uid(sandbox_uid)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _supervise(
    proc: subprocess.Popen[bytes], status_r: int, limits: Limits, start: float
) -> tuple[Observed, _Tail, _Tail]:
    """Drain the child's pipes until it ends, its wall clock runs out or its output passes the
    cap (then kill its group); what was observed, and the tails of stdout and stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    tails = {"stdout": _Tail(limits.output_bytes), "stderr": _Tail(limits.output_bytes)}
    status_buf = bytearray()
    cap = output_cap(limits)
    deadline = start + limits.timeout_s
    timed_out = over_output = False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
    sel.register(status_r, selectors.EVENT_READ, "status")
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = not _exited(proc.pid)
                break
            if not sel.get_map():
                # Every pipe is closed; wait for the exit itself (without reaping).
                if _exited(proc.pid):
                    break
                time.sleep(min(0.005, deadline - now))
                continue
            for key, _ in sel.select(timeout=min(0.1, deadline - now)):
                try:
                    data = os.read(key.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                elif key.data == "status":
                    if len(status_buf) < STATUS_PIPE_BYTES:
                        status_buf += data
                else:
                    tails[key.data].add(data)
            if tails["stdout"].total + tails["stderr"].total > cap:
                over_output = True
                break
    finally:
        sel.close()
    if timed_out or over_output:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    returncode = proc.wait()  # reaped here; _cleanup's killpg then finds nothing, and that's fine
    observed = Observed(returncode=returncode, timed_out=timed_out,
                        output_bytes=tails["stdout"].total + tails["stderr"].total,
                        status_pipe=bytes(status_buf))
    return observed, tails["stdout"], tails["stderr"]


def run_program(source: str, limits: Limits = Limits()) -> ExecutionResult:  # noqa: B008
    """Run one untrusted Python program in the sandbox and report how it ended.

    ``passed`` only when the program ran to its end without an exception and exited with code 0;
    ``failed`` for an AssertionError (a wrong answer), ``memory`` for a MemoryError, ``error`` for
    any other exception, a non-zero exit or a failed sandbox setup, ``timeout`` for the wall-clock
    or CPU limit, ``killed`` for any other signal and ``output_limit`` for a program whose output
    passed ``OUTPUT_KILL_FACTOR * limits.output_bytes``.
    """
    return _run(source, limits)[0]


def run_programs(
    sources: Sequence[str],
    limits: Limits = Limits(),  # noqa: B008
    workers: int | None = None,
    progress: bool = False,
) -> list[ExecutionResult]:
    """Run many programs in parallel across cores (workers default os.cpu_count()), results in
    input order. progress=True shows a tqdm bar."""
    workers = max(1, workers or os.cpu_count() or 1)
    results: list[ExecutionResult | None] = [None] * len(sources)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sources), desc="executing", unit="prog")
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_program, src, limits): i for i, src in enumerate(sources)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


@lru_cache(maxsize=1)
def isolation_report() -> dict[str, bool | str]:
    """Which protections are active on this machine, as measured by running a probe program
    through the sandbox (so that a results file can record it)."""
    result, layers = _run("pass\n", Limits(timeout_s=10.0))
    report: dict[str, bool | str] = {}
    for key, value in layers.items():
        if isinstance(value, list):
            value = ",".join(value)
        report[key] = value if isinstance(value, bool | str) else str(value)
    report["running_as_root"] = os.getuid() == 0
    report["python_level_socket_block"] = not bool(layers.get("network_namespace"))
    report["probe_status"] = result.status
    if not result.passed:
        report["probe_detail"] = result.detail
    return report
