"""The last process of the sandbox: runs the program as ``__main__`` and reports how it ended.

Started as ``python -I -S -c <this file's source> STATUS_FD BLOCK_NET SITE_PACKAGES...`` once
every isolation layer is in place (its source is passed, not its path: the package's directory
is out of reach by then). Without ``site``, nothing of the caller's site-packages runs before the
program (no ``.pth`` hooks, such as an editable install's finder); the site-packages directories
are put on ``sys.path`` and site's builtins (``exit``, ``quit``, ``help``, ...) are added, so a
program sees the interpreter it would see under ``python -I``, less those hooks.

Writes ``{"result": status, "detail": ...}`` on the status pipe: ``passed``, ``failed`` (an
AssertionError), ``memory`` (a MemoryError) or ``error`` (any other exception), and exits 0 only
on a pass. With BLOCK_NET = 1 (no network namespace could be made) it first replaces the socket
constructors -- a best-effort block that the program could undo.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn


def _no_network(*args: Any, **kwargs: Any) -> NoReturn:
    raise PermissionError("network access is disabled in the sandbox")


def _block_network() -> None:
    import socket

    socket.socket = socket.create_connection = socket.socketpair = _no_network  # type: ignore[misc, assignment]
    socket.getaddrinfo = _no_network


def _execute() -> tuple[str, str]:
    """Run ``main.py`` from the working directory; ``(status, one-line detail)``."""
    try:
        with open("main.py", encoding="utf-8") as handle:
            code = compile(handle.read(), "main.py", "exec")
        exec(code, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
    except MemoryError:
        return "memory", "MemoryError"
    except BaseException as exc:  # every way a program can end is a verdict
        status = "failed" if isinstance(exc, AssertionError) else "error"
        try:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            import traceback

            traceback.print_exc()
        except BaseException:  # a hostile __str__ must not stop the report
            detail = type(exc).__name__
        return status, detail
    return "passed", ""


def _site_without_hooks(site_packages: list[str]) -> None:
    import site

    sys.path.extend(p for p in site_packages if p not in sys.path)
    site.setquit()
    site.setcopyright()
    site.sethelper()


def main() -> NoReturn:
    status_fd = int(sys.argv[1])
    if sys.argv[2] == "1":
        _block_network()
    _site_without_hooks(sys.argv[3:])
    sys.argv = ["main.py"]
    status, detail = _execute()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a closed stream is the program's business
            pass
    try:
        import json

        os.write(status_fd, (json.dumps({"result": status, "detail": detail}) + "\n").encode())
    except BaseException:  # nothing left to tell: the exit code says it
        pass
    os._exit(0 if status == "passed" else 1)


if __name__ == "__main__":
    main()
