"""Task registration and lookup by name (``mmlu``, ``mmlu:opencompass``, ``mmlu/stem``, ...)."""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from evaluate.errors import UnknownTaskError
from evaluate.task import Task

_TASKS: dict[str, Task] = {}
_LOADED = False


def register(task: Task) -> Task:
    """Add ``task`` to the registry under ``task.name``; names are unique."""
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise ValueError(f"task {task.name!r} is registered twice")
    _TASKS[task.name] = task
    return task


def _load_builtin_tasks() -> None:
    global _LOADED
    if _LOADED:
        return
    import evaluate.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _LOADED = True


def all_tasks() -> dict[str, Task]:
    """Every registered task, by name, sorted."""
    _load_builtin_tasks()
    return dict(sorted(_TASKS.items()))


def get_task(name: str) -> Task:
    """The task called ``name``; an UnknownTaskError suggesting close names otherwise.

    ``TASK/SPEC`` is ``TASK`` limited to some subjects or categories (:meth:`Task.select`).
    """
    if "/" in name:
        base, spec = name.split("/", 1)
        return get_task(base).select(spec)
    tasks = all_tasks()
    if name in tasks:
        return tasks[name]
    close = difflib.get_close_matches(name, tasks, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see --list-tasks"
    raise UnknownTaskError(f"unknown task {name!r}: {hint}")
