"""What a task is: a small, typed declaration.

A :class:`Task` names the data files it reads, loads them into :class:`Doc` objects, turns each doc
into model requests (the few-shot prompt builder), turns the responses back into a per-sample
:class:`Scored` result (answer extraction), and says how per-sample scores aggregate
(:class:`Aggregation`). Variants of one protocol (``mmlu`` and ``mmlu:opencompass``) are separate
Task values built from the same functions with different parameters.

The scorer sees a :class:`ScoreInput` -- the id, target, meta and reference stored in the run's
``plan.jsonl`` -- never the loaded :class:`Doc`, so a run and a later rescore score alike.

What a task needs from the generic code is declared, never inferred from its name: one request
at a time (``batch_size_one``), scoring in an engine's left-padded batches
(``request_batching``, :class:`LeftPaddedBatches`), a check of the loaded model
(``check_backend``), a report over a results folder (``report``), scoring of completions made
elsewhere (``score_completions``), and the subjects a run may be limited to (``subjects``; see
:meth:`Task.select`).

Everything that defines the protocol -- the parameters, the code of the builder, the scorer and
the loader, and the aggregation -- goes into :meth:`Task.protocol_hash`.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluate.data import DataDir
from evaluate.errors import UnknownTaskError
from evaluate.requests import Request, Response

if TYPE_CHECKING:
    from evaluate.records import SampleRecord


@dataclass
class Doc:
    """One evaluation item.

    ``target`` is the gold answer and ``meta`` the JSON-able facts scoring and aggregation need
    (e.g. ``{"subject": "anatomy"}``); ``reference`` is JSON-able scoring material that is not an
    answer (HumanEval's test harness). These three go into ``plan.jsonl``, so re-scoring never
    needs the data or the model again. ``data`` holds whatever else the prompt builder needs
    (shots, raw fields) and is not stored.
    """

    id: str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    reference: Any = None


@dataclass(frozen=True)
class ScoreInput:
    """What a scorer may rely on: the fields of a sample's plan record, and nothing else."""

    id: str
    target: Any
    meta: Mapping[str, Any] = field(default_factory=dict)
    reference: Any = None


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
    - ``group_weights``: a macro average weighted per group (``sum(w * mean) / sum(w)``;
      OpenCompass's weighted summaries); groups not named weigh 1.
    """

    metric: str = "accuracy"
    average: str = "micro"
    by: str | None = None
    categories: Mapping[str, Sequence[str]] = field(default_factory=dict)
    per_group: bool = False
    transform: str | None = None
    scale: float = 100.0  # accuracies are reported in percent
    group_weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.average not in ("micro", "macro"):
            raise ValueError(f"unknown average {self.average!r}")
        if self.average == "macro" and self.by is None:
            raise ValueError("a macro average needs `by`")


@dataclass(frozen=True)
class TaskReport:
    """A report a task makes over a whole results folder (e.g. long_ppl's per-length table).

    ``build(output)`` returns markdown; the CLI prints it and writes it to ``output/file``.
    """

    file: str
    build: Callable[[Path], str]


ScoreCompletions = Callable[[list[dict[str, Any]], DataDir, str],
                            "tuple[list[SampleRecord], dict[str, float]]"]


@dataclass(frozen=True)
class Selection:
    """A subset of a per-subject task's subjects (see :meth:`Task.select`)."""

    of: Task  # the full task: its protocol and hash are the selection's
    spec: str  # as the user wrote it, e.g. "stem+anatomy"
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class LeftPaddedBatches:
    """The published engine scored some requests in left-padded batches of consecutive docs.

    The first ``rows`` requests of every doc (one per label, each a
    :class:`~evaluate.requests.SequenceNLLRequest` with text) are batched label by label: the
    label-i requests of ``size`` consecutive docs, in the loader's order, form one batch; a
    batch never spans two values of the meta key ``by`` (one dataset per subject). The runner
    gives each such request the ``left_pad`` its batch gave it (:mod:`evaluate.left_padding`).
    """

    size: int = 8
    rows: int = 4
    by: str | None = None
    engine: str = ""  # what batched this way, for the results file

    def __post_init__(self) -> None:
        if self.size < 1 or self.rows < 1:
            raise ValueError("size and rows must be >= 1")


@dataclass(frozen=True)
class Task:
    """A registered evaluation task."""

    name: str
    description: str
    provenance: str  # where the protocol comes from (script, config name, paper)
    shots: int
    data_files: Sequence[str]  # glob patterns relative to the data dir, for --list-tasks and errors
    load: Callable[[DataDir], list[Doc]]
    build: Callable[[Doc], Sequence[Request]]
    score: Callable[[ScoreInput, list[Response]], Scored]
    aggregation: Aggregation = Aggregation()
    params: Mapping[str, Any] = field(default_factory=dict)  # protocol constants worth hashing
    version: int = 1
    # Optional: score many samples at once (e.g. run generated programs in parallel). Must give
    # the same results as ``score`` applied one by one.
    score_many: Callable[[list[ScoreInput], list[list[Response]]], list[Scored]] | None = None
    metric_note: str = ""  # e.g. "pass@1, greedy" for --list-tasks
    # Optional: run-level facts computed from the per-sample records (pass@k over n samples, the
    # sandbox's isolation report), written to results.json under "task_extra" by run and rescore.
    results_extra: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None
    # The protocol runs one request per forward pass (hashed as params["batch_size"] = 1).
    batch_size_one: bool = False
    # Raise an EvaluateError when a loaded backend cannot run this task (e.g. another
    # vocabulary); called with the data dir and the backend before and after the run.
    check_backend: Callable[[DataDir, Any], None] | None = None
    report: TaskReport | None = None  # a table over all of a results folder's runs
    # Score completions made elsewhere: (rows, data, where) -> (sample records, pass@k).
    score_completions: ScoreCompletions | None = None
    subjects: Sequence[str] = ()  # values of aggregation.by a run may be limited to
    selection: Selection | None = None  # set on the Task that select() returns
    # A chat task: its requests carry conversations, rendered with the run's chat template at
    # plan time (evaluate.chat_templates); the template must exist before any work starts.
    chat: bool = False
    # The data must not be written in plain text (GPQA): plan and sample records keep each
    # request's hash and a sha256 of its prompt instead of the prompt (records.redact_requests).
    private_text: bool = False
    # Score the first requests of each doc in the published engine's left-padded batches.
    request_batching: LeftPaddedBatches | None = None

    def score_all(self, samples: list[ScoreInput], responses: list[list[Response]]
                  ) -> list[Scored]:
        """Scores for many samples, in order (through ``score_many`` when the task has one)."""
        if self.score_many is not None:
            return self.score_many(samples, responses)
        return [self.score(s, resp) for s, resp in zip(samples, responses, strict=True)]

    def select(self, spec: str) -> Task:
        """This task limited to some subjects, named ``NAME/SPEC`` (``mmlu/stem+anatomy``).

        ``spec`` joins subject names and category names (``aggregation.categories``) with ``+``;
        case, spaces, ``-`` and ``_`` do not matter. The selection has the full task's protocol
        hash; its results say ``"selection"`` and its name keeps its runs apart from full ones.
        The headline averages the chosen subjects; a category is reported only when all of its
        subjects are chosen.
        """
        if not self.subjects or self.aggregation.by is None or self.selection is not None:
            raise UnknownTaskError(f"task {self.name!r} has no subjects to select from")
        subjects = {_normal(s): s for s in self.subjects}
        groups = {_normal(c): members for c, members in self.aggregation.categories.items()}
        chosen: set[str] = set()
        for part in spec.split("+"):
            if _normal(part) in subjects:
                chosen.add(subjects[_normal(part)])
            elif _normal(part) in groups:
                chosen.update(groups[_normal(part)])
            else:
                raise UnknownTaskError(
                    f"{self.name}/{spec}: {part.strip()!r} is neither a subject nor a category "
                    f"of {self.name} (categories: {', '.join(self.aggregation.categories)}; "
                    f"subjects: {', '.join(self.subjects)})")
        wanted = tuple(s for s in self.subjects if s in chosen)
        categories = {c: m for c, m in self.aggregation.categories.items() if set(m) <= chosen}
        return dataclasses.replace(
            self, name=f"{self.name}/{spec.strip()}",
            load=functools.partial(_load_selected, self.load, self.aggregation.by, wanted),
            aggregation=dataclasses.replace(self.aggregation, categories=categories),
            selection=Selection(of=self, spec=spec.strip(), subjects=wanted))

    def protocol(self) -> dict[str, Any]:
        """Everything that defines this protocol, as JSON-able data.

        A selection of subjects has the full task's protocol: the subset is a property of the
        run (recorded in results.json), not of the protocol.
        """
        if self.selection is not None:
            return self.selection.of.protocol()
        params = {**self.params, **({"batch_size": 1} if self.batch_size_one else {})}
        if self.request_batching is not None:
            params["request_batching"] = asdict(self.request_batching)
        return {
            "name": self.name,
            "version": self.version,
            "shots": self.shots,
            "params": _jsonable(params),
            "aggregation": _jsonable(_aggregation_dict(self.aggregation)),
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


def _aggregation_dict(aggregation: Aggregation) -> dict[str, Any]:
    """The aggregation's fields; ``group_weights`` only when set (older hashes unchanged)."""
    data = asdict(aggregation)
    if not data["group_weights"]:
        del data["group_weights"]
    return data


def _normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _load_selected(load: Callable[[DataDir], list[Doc]], by: str, subjects: tuple[str, ...],
                   data: DataDir) -> list[Doc]:
    keep = set(subjects)
    return [doc for doc in load(data) if doc.meta.get(by) in keep]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _code_fingerprint(fn: Callable[..., Any]) -> str:
    """Hash of a function's syntax tree (comments, formatting and docstrings do not count).

    Follows ``functools.partial`` to the wrapped function and its bound arguments, and includes
    the code of module-level helper functions the function calls by name, one level deep.
    """
    parts: list[str] = []
    while hasattr(fn, "func") and hasattr(fn, "keywords"):  # functools.partial
        bound: Any = fn
        parts.append(json.dumps(_jsonable([list(bound.args), dict(bound.keywords)]),
                                sort_keys=True))
        fn = bound.func
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
    for item in ast.walk(tree):
        body = getattr(item, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            setattr(item, "body", body[1:] or [ast.Pass()])  # noqa: B010 (drop docstrings)
    # The source regenerated from the tree: comments, formatting and docstrings are gone, and
    # unlike ast.dump the text does not change with the Python version's AST node fields.
    return ast.unparse(tree)
