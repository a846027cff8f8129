"""What a task is: a small, typed declaration.

A :class:`Task` names the data files it reads, loads them into :class:`Doc` objects, turns each doc
into model requests (the few-shot prompt builder), turns the responses back into a per-sample
:class:`Scored` result (answer extraction), and says how per-sample scores aggregate
(:class:`Aggregation`). Variants of one protocol (``mmlu`` and ``mmlu:opencompass``) are separate
Task values built from the same functions with different parameters.

Everything that defines the protocol -- the parameters, the code of the builder, the scorer and
the loader, and the aggregation -- goes into :meth:`Task.protocol_hash`.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evaluate.data import DataDir
from evaluate.requests import Request, Response


@dataclass
class Doc:
    """One evaluation item.

    ``target`` is the gold answer and ``meta`` the JSON-able facts scoring and aggregation need
    (e.g. ``{"subject": "anatomy"}``); both go into the per-sample record so re-scoring never needs
    the data or the model again. ``data`` holds whatever else the prompt builder needs (shots,
    raw fields) and is not stored.
    """

    id: str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    data: Any = None


@dataclass(frozen=True)
class Scored:
    """A sample's result: the answer extracted from the responses, and its score(s).

    ``score`` is the headline per-sample value (1.0/0.0 for accuracy); ``weight`` weighs it in
    micro averages (1 for questions, the number of predicted tokens for perplexity).
    """

    extracted: Any
    score: float
    weight: float = 1.0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Aggregation:
    """How per-sample scores become the reported metrics.

    - ``average="micro"``: weighted mean over all samples (MMLU as Qwen reports it).
    - ``average="macro"``: mean over the groups named by the meta key ``by`` (C-Eval).
    - ``categories``: extra named groups of ``by`` values (MMLU's STEM, Humanities, ...), each
      averaged the same way as the headline.
    - ``per_group``: also report every single group (every subject).
    - ``transform="exp"``: report ``exp`` of the weighted mean (perplexity from mean NLL).
    """

    metric: str = "accuracy"
    average: str = "micro"
    by: str | None = None
    categories: Mapping[str, Sequence[str]] = field(default_factory=dict)
    per_group: bool = False
    transform: str | None = None
    scale: float = 100.0  # accuracies are reported in percent

    def __post_init__(self) -> None:
        if self.average not in ("micro", "macro"):
            raise ValueError(f"unknown average {self.average!r}")
        if self.average == "macro" and self.by is None:
            raise ValueError("a macro average needs `by`")


@dataclass(frozen=True)
class Task:
    """A registered evaluation task."""

    name: str
    description: str
    provenance: str  # where the protocol comes from (script, config name, paper)
    shots: int
    data_files: Sequence[str]  # glob patterns relative to the data dir, for --list-tasks and errors
    load: Callable[[DataDir], list[Doc]]
    build: Callable[[Doc], list[Request]]
    score: Callable[[Doc, list[Response]], Scored]
    aggregation: Aggregation = Aggregation()
    params: Mapping[str, Any] = field(default_factory=dict)  # protocol constants worth hashing
    version: int = 1
    # Optional: score many samples at once (e.g. run generated programs in parallel). Must give
    # the same results as ``score`` applied one by one.
    score_many: Callable[[list[Doc], list[list[Response]]], list[Scored]] | None = None
    metric_note: str = ""  # e.g. "pass@1, greedy" for --list-tasks
    # Optional: run-level facts computed from the per-sample records (pass@k over n samples, the
    # sandbox's isolation report), written to results.json under "task_extra" by run and rescore.
    results_extra: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None
    # A chat task: its requests carry conversations, rendered with the run's chat template at
    # plan time (evaluate.chat_templates); the template must exist before any work starts.
    chat: bool = False

    def score_all(self, docs: list[Doc], responses: list[list[Response]]) -> list[Scored]:
        """Scores for many samples, in order (through ``score_many`` when the task has one)."""
        if self.score_many is not None:
            return self.score_many(docs, responses)
        return [self.score(doc, resp) for doc, resp in zip(docs, responses, strict=True)]

    def protocol(self) -> dict[str, Any]:
        """Everything that defines this protocol, as JSON-able data."""
        return {
            "name": self.name,
            "version": self.version,
            "shots": self.shots,
            "params": _jsonable(dict(self.params)),
            "aggregation": _jsonable(asdict(self.aggregation)),
            "code": {
                "load": _code_fingerprint(self.load),
                "build": _code_fingerprint(self.build),
                "score": _code_fingerprint(self.score),
                "score_many": _code_fingerprint(self.score_many) if self.score_many else None,
            },
        }

    def protocol_hash(self) -> str:
        """Short hash of :meth:`protocol`: prompts, shots, generation, extraction, aggregation."""
        blob = json.dumps(self.protocol(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _code_fingerprint(fn: Callable[..., Any]) -> str:
    """Hash of a function's syntax tree (comments, formatting and docstrings do not count).

    Follows ``functools.partial`` to the wrapped function and its bound arguments, and includes
    the code of module-level helper functions the function calls by name, one level deep.
    """
    parts: list[str] = []
    while hasattr(fn, "func") and hasattr(fn, "keywords"):  # functools.partial
        parts.append(json.dumps(_jsonable([list(fn.args), dict(fn.keywords)]), sort_keys=True))
        fn = fn.func
    parts.append(_ast_dump(fn))
    module = inspect.getmodule(fn)
    code = getattr(fn, "__code__", None)
    if module is not None and code is not None:
        for name in sorted(set(code.co_names)):
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and helper.__module__.startswith("evaluate"):
                parts.append(name + ":" + _ast_dump(helper))
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def _ast_dump(fn: Callable[..., Any]) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda inside a larger expression: its source line does not parse
        return source.strip()
    for node in tree.body:  # a function's own name is not part of what it does
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.name = "_"
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # drop docstrings
    # The source regenerated from the tree: comments, formatting and docstrings are gone, and
    # unlike ast.dump the text does not change with the Python version's AST node fields.
    return ast.unparse(tree)
