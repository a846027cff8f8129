"""The sandbox's first child process: builds every isolation layer, then starts the runner.

Started by the supervisor as ``python -I -S bootstrap.py CONFIG_JSON`` in a new session. The
steps (see :mod:`evaluate.sandbox` for why each exists):

1. ``unshare(2)`` new network, PID, mount, IPC and UTS namespaces (when not root, a user
   namespace first).
2. Fork: the child becomes PID 1 of the new PID namespace and this process waits for it and
   passes its exit code on. PID 1 mounts (a private ``/``, a size-limited ``tmpfs`` on the working
   directory, a fresh ``/proc``), then forks the program's process (PID 2) and stays a plain
   reaper that reports PID 2's wait status on the status pipe.
3. In PID 2: rlimits, the throwaway uid (when root), ``RLIMIT_NPROC``, ``PR_SET_NO_NEW_PRIVS``,
   a Landlock ruleset, a ``{"layers": ...}`` record of what took effect, and ``execve`` of the
   runner (:mod:`.runner`).

Any failure before the runner starts is a ``{"setup_error": ...}`` record and exit code 125.
Standard library only: this runs outside the caller's interpreter and site-packages.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any, NoReturn

SETUP_FAILED = 125  # the exit code of a failed setup (evaluate.sandbox.verdict.SETUP_FAILED)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
NAMESPACES = (("network_namespace", CLONE_NEWNET), ("pid_namespace", CLONE_NEWPID),
              ("mount_namespace", CLONE_NEWNS), ("ipc_namespace", CLONE_NEWIPC),
              ("uts_namespace", CLONE_NEWUTS))
# Landlock: syscall numbers (x86-64 and arm64 alike) and access rights.
LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_RULE_PATH_BENEATH = 1
READ_RIGHTS = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE | READ_FILE | READ_DIR
WRITE_FILE, TRUNCATE = 1 << 1, 1 << 14
FILE_RIGHTS = (1 << 0) | WRITE_FILE | (1 << 2) | TRUNCATE | (1 << 15)  # rights a file can take


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


class Bootstrap:
    """One sandbox's setup: the configuration, libc, and the record of the layers taken."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.status_fd: int = cfg["status_fd"]
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        self.layers: dict[str, Any] = {}
        self.notes: list[str] = []
        self.disabled = set(cfg["disabled"])  # tests turn layers off to check the fallbacks
        self.work: str = cfg["workdir"]
        self.uid, self.gid = os.getuid(), os.getgid()

    # ---- reporting ---------------------------------------------------------------------------
    def record(self, obj: dict[str, Any]) -> None:
        os.write(self.status_fd, (json.dumps(obj) + "\n").encode())

    def fail(self, message: str) -> NoReturn:
        try:
            self.record({"setup_error": message})
        finally:
            os._exit(SETUP_FAILED)

    def die_with_parent(self) -> None:
        self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    # ---- 1. namespaces -----------------------------------------------------------------------
    def unshare(self) -> None:
        if self.uid != 0:
            if self.libc.unshare(CLONE_NEWUSER) == 0:
                self.layers["user_namespace"] = True
                for name, text in (("setgroups", "deny"),
                                   ("uid_map", f"{self.uid} {self.uid} 1"),
                                   ("gid_map", f"{self.gid} {self.gid} 1")):
                    with open("/proc/self/" + name, "w") as handle:
                        handle.write(text)
            else:
                self.layers["user_namespace"] = False
        for name, flag in NAMESPACES:
            self.layers[name] = name not in self.disabled and self.libc.unshare(flag) == 0

    def enter_pid_namespace(self) -> None:
        """Fork into the new PID namespace; this side waits for its init and passes its exit
        code on (never returns), the child carries on as PID 1."""
        try:
            child = os.fork()
        except OSError as exc:
            self.fail(f"fork: {exc}")
        if child:
            os.close(self.status_fd)
            status = wait_for(child)
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status)
                     else 128 + os.WTERMSIG(status))
        self.die_with_parent()  # the init dies with the bootstrap

    # ---- 2. mounts and the working directory -------------------------------------------------
    def mount(self, src: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        def enc(text: str | None) -> bytes | None:
            return None if text is None else text.encode()

        if self.libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    def blocked_ancestors(self) -> set[str]:
        """Directories above the interpreter's that others cannot traverse (pyenv under /root)."""
        blocked = set()
        for need in self.cfg["need_paths"]:
            parts = need.strip("/").split("/")
            for i in range(1, len(parts)):
                ancestor = "/" + "/".join(parts[:i])
                if not os.stat(ancestor).st_mode & 0o001:
                    blocked.add(ancestor)
                    break
        return blocked

    def mount_workdir(self, sandbox_uid: int, sandbox_gid: int) -> None:
        """A private ``/``, a size-limited tmpfs on the working directory, a fresh ``/proc``."""
        self.layers["tmpfs_workdir"] = False
        self.layers["private_proc"] = False
        if not self.layers["mount_namespace"]:
            return
        self.mount(None, "/", None, MS_REC | MS_PRIVATE)
        try:
            self.mount("tmpfs", self.work, "tmpfs", MS_NOSUID | MS_NODEV,
                       f"size={self.cfg['disk_kb']}k,mode=0700,uid={sandbox_uid},"
                       f"gid={sandbox_gid}")
            self.layers["tmpfs_workdir"] = True
        except OSError as exc:
            self.notes.append(str(exc))
        if self.layers["pid_namespace"]:
            try:
                self.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                self.layers["private_proc"] = True
            except OSError as exc:
                self.notes.append(str(exc))

    def place_program(self) -> None:
        os.chdir(self.work)
        with open(self.cfg["source_path"], "rb") as handle:
            source = handle.read()
        with open(os.path.join(self.work, "main.py"), "wb") as handle:
            handle.write(source)

    def expose_interpreter(self, blocked: set[str]) -> None:
        """Inside the private mount namespace, cover each blocking ancestor with a tmpfs that
        holds only bind mounts of the interpreter's directories beneath it."""
        stage_n = 0
        for block in sorted(blocked):
            keep = [p for p in self.cfg["need_paths"] if p.startswith(block + "/")]
            staged = []
            for path in keep:
                stage = os.path.join(self.cfg["stage_dir"], f"s{stage_n}")
                stage_n += 1
                os.mkdir(stage)
                self.mount(path, stage, None, MS_BIND | MS_REC)
                staged.append((path, stage))
            self.mount("tmpfs", block, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
            for path, stage in staged:
                os.makedirs(path, exist_ok=True)
                self.mount(stage, path, None, MS_BIND | MS_REC)
        self.layers["interpreter_exposed"] = ",".join(sorted(blocked))

    def reap_as_init(self) -> None:
        """As PID 1: fork the program's process (PID 2) and stay a plain reaper.

        The kernel shields an init from signals it has no handler for (even SIGXCPU from
        RLIMIT_CPU), so the program must not be PID 1. When this init exits, the kernel kills
        the whole namespace. Returns only in PID 2.
        """
        runner = os.fork()
        if runner:
            status = wait_for(runner)
            self.record({"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                         "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})
            os._exit(0)

    # ---- 3. limits, identity and Landlock ----------------------------------------------------
    def set_rlimits(self) -> None:
        limits = self.cfg["limits"]
        for res, value in ((resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1)),
                           (resource.RLIMIT_AS, (limits["as"], limits["as"])),
                           (resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"])),
                           (resource.RLIMIT_NOFILE, (256, 256)),
                           (resource.RLIMIT_CORE, (0, 0))):
            resource.setrlimit(res, value)
        self.layers["rlimits"] = True

    def drop_to(self, drop_uid: bool, sandbox_uid: int, sandbox_gid: int) -> None:
        """Become the throwaway uid (when root), then cap the number of processes."""
        if drop_uid:
            os.chown(os.path.join(self.work, "main.py"), sandbox_uid, sandbox_gid)
            os.setgroups([])
            os.setresgid(sandbox_gid, sandbox_gid, sandbox_gid)
            os.setresuid(sandbox_uid, sandbox_uid, sandbox_uid)
        self.layers["throwaway_uid"] = drop_uid
        nproc = self.cfg["limits"]["nproc"]
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        # RLIMIT_NPROC is never applied to uid 0; it is real under the throwaway uid, and inside
        # a user namespace (counted per namespace since Linux 5.14).
        self.layers["process_limit"] = drop_uid or self.layers.get("user_namespace", False)

    def no_new_privs(self) -> None:
        if self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            self.fail("PR_SET_NO_NEW_PRIVS failed")
        self.layers["no_new_privs"] = True

    def landlock(self) -> None:
        """Read/execute beneath the system and interpreter directories, every kind of write
        beneath the working directory only; TCP denied (ABI >= 4); signals and abstract unix
        sockets scoped to the sandbox (ABI >= 6)."""
        syscall = self.libc.syscall
        self.layers["landlock"] = False
        abi = syscall(LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
        self.layers["landlock_abi"] = max(abi, 0)  # what the kernel offers, used or not
        if abi <= 0 or "landlock" in self.disabled:
            return
        every = (1 << 13) - 1
        if abi >= 2:
            every |= 1 << 13  # REFER
        if abi >= 3:
            every |= TRUNCATE
        if abi >= 5:
            every |= 1 << 15  # IOCTL_DEV
        net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, no rule allows any port
        scoped = 3 if abi >= 6 else 0  # ABSTRACT_UNIX_SOCKET | SIGNAL
        attr = _RulesetAttr(every, net, scoped)
        size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
        ruleset = syscall(LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                          ctypes.c_uint32(0))
        if ruleset < 0:
            self.fail(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")

        def allow(path: str, rights: int) -> None:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return
            try:
                if not os.path.isdir(path):
                    rights &= FILE_RIGHTS
                rule = _PathBeneath(rights & every, fd)
                if syscall(LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                           ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    self.fail(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)

        for path in self.cfg["read_paths"]:
            allow(path, READ_RIGHTS)
        if self.layers["private_proc"]:
            allow("/proc", READ_RIGHTS)
        allow("/dev/null", READ_RIGHTS | WRITE_FILE | TRUNCATE)
        allow(self.work, every)
        if syscall(LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            self.fail(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
        os.close(ruleset)
        self.layers["landlock"] = True
        self.layers["landlock_network"] = net != 0
        self.layers["landlock_signal_scope"] = scoped != 0

    # ---- all of it ---------------------------------------------------------------------------
    def run(self) -> NoReturn:
        # Die with the caller: a bootstrap whose parent is gone kills itself (and its namespace).
        self.die_with_parent()
        if os.getppid() != self.cfg["parent_pid"]:
            os._exit(SETUP_FAILED)
        self.unshare()
        if self.layers["pid_namespace"]:
            self.enter_pid_namespace()
        try:
            self.build_and_exec()
        except BaseException as exc:  # one record for whatever went wrong
            self.fail(f"{type(exc).__name__}: {exc}")

    def build_and_exec(self) -> NoReturn:
        blocked = self.blocked_ancestors()
        drop_uid = self.uid == 0 and "throwaway_uid" not in self.disabled
        if drop_uid and blocked and not self.layers["mount_namespace"]:
            drop_uid = False
            self.notes.append("no throwaway uid: it could not reach the interpreter without a "
                              "mount ns")
        sandbox_uid = self.cfg["sandbox_uid"] if drop_uid else self.uid
        sandbox_gid = sandbox_uid if drop_uid else self.gid
        self.mount_workdir(sandbox_uid, sandbox_gid)
        self.place_program()
        if drop_uid and blocked:
            self.expose_interpreter(blocked)
        if self.layers["pid_namespace"]:
            self.reap_as_init()
        self.set_rlimits()
        self.drop_to(drop_uid, sandbox_uid, sandbox_gid)
        self.no_new_privs()
        self.landlock()
        if self.layers["pid_namespace"]:
            self.die_with_parent()
        if self.notes:
            self.layers["notes"] = "; ".join(self.notes)
        self.record({"layers": self.layers})
        block_net = "0" if self.layers["network_namespace"] else "1"
        python = self.cfg["python"]
        os.execv(python, [python, "-I", "-S", "-c", self.cfg["runner"], str(self.status_fd),
                          block_net, *self.cfg["site_packages"]])


def wait_for(pid: int) -> int:
    """Reap children until ``pid`` ends (an init must reap orphans); its wait status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if got == pid:
            return status


if __name__ == "__main__":
    Bootstrap(json.loads(sys.argv[1])).run()
