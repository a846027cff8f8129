"""User-facing errors: each prints as one clear line (no traceback unless --verbose)."""

from __future__ import annotations


class EvaluateError(Exception):
    """Base class: the message is the whole story, printed as one line."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UnknownTaskError(EvaluateError):
    """A task name that is not registered."""


class MissingDataError(EvaluateError):
    """A benchmark file that is not where the data dir says it should be."""


class MalformedDataError(EvaluateError):
    """A data file that exists but cannot be read (names the file and line)."""


class ModelLoadError(EvaluateError):
    """A model path or id that does not exist or holds no model."""


class OutOfMemoryError(EvaluateError):
    """The device ran out of memory; the message suggests a batch size."""
