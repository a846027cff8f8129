"""Plan, execute, score, write: one (model, task) run, resumable at every step.

A run lives in its own folder ``OUTPUT/<model>/<task>/``:

- ``plan.jsonl``: one line per sample -- id, gold target, meta, and its requests (each with its
  hash and the exact prompt text). Written before the model runs.
- ``responses.jsonl``: one line per answered request, appended (and flushed) as each batch
  finishes. A killed run resumes from here; a torn last line is ignored.
- ``samples.jsonl``: the per-sample records -- prompt, requests, raw responses, extracted
  answer, score. Written by the scoring step, also for the finished samples of a run that failed.
- ``results.json``: metrics with bootstrap standard errors and full provenance.

``rescore`` rebuilds ``samples.jsonl`` and ``results.json`` from ``plan.jsonl`` and
``responses.jsonl`` alone, without the model or the data.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from evaluate import distributed, left_padding
from evaluate.backends.base import Backend
from evaluate.cache import RequestCache, model_fingerprint
from evaluate.chat_templates import ChatRenderer, renderer_for
from evaluate.data import DataDir
from evaluate.errors import EvaluateError
from evaluate.metrics import aggregate
from evaluate.provenance import environment
from evaluate.records import (
    PLAN,
    RESPONSES,
    RESULTS,
    RUN,
    SAMPLES,
    PlanRecord,
    ResponseLog,
    SampleRecord,
    append_response_files,
    read_json,
    read_plan,
    read_responses,
    redact_requests,
    run_dir_for,
    write_json,
    write_plan,
    write_results,
    write_samples,
)
from evaluate.registry import get_task
from evaluate.requests import Request, Response, request_from_dict, request_hash, request_to_dict
from evaluate.task import Doc, ScoreInput, Task

__all__ = ["PLAN", "RESPONSES", "RESULTS", "RUN", "SAMPLES", "RunOptions", "execute", "plan",
           "read_responses", "rescore", "run_dir_for", "run_task", "score", "select_subset"]


@dataclass(frozen=True)
class RunOptions:
    """Settings of one run that are not the task's protocol."""

    limit: int | None = None
    seed: int = 1234
    progress: bool = True
    use_cache: bool = True  # the shared request cache (evaluate.cache); --no-cache turns it off
    # Write a private task's prompt text into plan.jsonl after all (--store-private-text).
    store_private_text: bool = False


def select_subset(docs: list[Doc], limit: int | None, seed: int) -> list[Doc]:
    """A deterministic subset of ``limit`` docs spread over the whole set, in original order."""
    if limit is None or limit >= len(docs):
        return docs
    return [docs[i] for i in select_indices(len(docs), limit, seed)]


def select_indices(count: int, limit: int | None, seed: int) -> list[int]:
    """The indices :func:`select_subset` keeps of ``count`` docs."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(random.Random(seed).sample(range(count), limit))


# ---- step 1: plan ----------------------------------------------------------------------------
def plan(
    task: Task, data: DataDir, options: RunOptions, chat: ChatRenderer | None = None,
    backend: Backend | None = None,
) -> list[PlanRecord]:
    """Load the task's docs and build every request: the per-sample plan records.

    A chat task's conversations are rendered by ``chat`` into each request's ``context`` here,
    so the plan (and every hash) holds the exact text the model reads. A task scored in an
    engine's left-padded batches (``request_batching``) gets each batched request's left pad
    here, measured with ``backend``'s tokenizer, when the backend can compute such rows.
    """
    every = task.load(data)
    chosen = select_indices(len(every), options.limit, options.seed)
    docs = [every[i] for i in chosen]
    built = []
    for doc in tqdm(docs, desc=f"{task.name}: build", unit="doc", disable=not options.progress):
        requests = list(task.build(doc))
        if chat is not None:
            requests = [chat.render(r) for r in requests]
        elif any(getattr(r, "chat", None) is not None for r in requests):
            raise EvaluateError(f"task {task.name} builds chat requests but is not a chat task "
                                "(Task.chat=False): nothing would render them")
        built.append(requests)
    if task.request_batching is not None and left_padding.applies(backend):
        assert backend is not None
        encode = getattr(backend, "encode_batch", None) or (
            lambda texts: [backend.encode(t) for t in texts])
        built = left_padding.pad_requests(task.request_batching, every, chosen, built,
                                          task.build, encode)
    return [
        PlanRecord(id=doc.id, target=doc.target, meta=doc.meta,
                   requests=[{"hash": request_hash(r), **request_to_dict(r)} for r in requests],
                   reference=doc.reference)
        for doc, requests in zip(docs, built, strict=True)
    ]


# ---- step 2: execute -------------------------------------------------------------------------
def execute(
    records: list[PlanRecord], backend: Backend, responses_path: Path, progress: bool,
    desc: str, cache: RequestCache | None = None,
) -> dict[str, Response]:
    """Answer every request not yet in ``responses_path``, appending each as it completes.

    Requests found in ``cache`` are copied into the run without touching the model; the rest
    run on the backend and go to both the run's file and the cache as they finish.
    """
    done = read_responses(responses_path)
    pending: dict[str, Request] = {}
    for record in records:
        for spec in record.requests:
            if spec["hash"] not in done and spec["hash"] not in pending:
                pending[spec["hash"]] = request_from_dict(
                    {k: v for k, v in spec.items() if k != "hash"}
                )
    if not pending:
        return done
    fingerprint = model_fingerprint(backend.identity()) if cache is not None else ""
    with ResponseLog(responses_path) as sink:

        def keep(key: str, response: Response) -> None:
            done[key] = response
            sink.add(key, response)

        if cache is not None:
            for key, response in cache.get_many(fingerprint, list(pending)).items():
                keep(key, response)
                del pending[key]
            sink.flush()
        if not pending:
            return done
        hashes = list(pending)
        unsaved: list[tuple[str, Response]] = []
        last_save = time.monotonic()
        try:
            for index, response in backend.run(list(pending.values()), progress, desc):
                keep(hashes[index], response)
                sink.flush()
                unsaved.append((hashes[index], response))
                if cache is not None and (len(unsaved) >= 64 or time.monotonic() - last_save > 2):
                    cache.put_many(fingerprint, unsaved)
                    unsaved, last_save = [], time.monotonic()
        finally:
            if cache is not None:
                cache.put_many(fingerprint, unsaved)
    return done


class RankFailedError(EvaluateError):
    """A data-parallel rank's work raised; the finished responses of every rank are kept."""


def shard_path(run_dir: Path, rank: int) -> Path:
    return run_dir / f"responses.rank{rank}.jsonl"


def execute_sharded(
    records: list[PlanRecord], backend: Backend, run_dir: Path, progress: bool, desc: str,
    cache: RequestCache | None, current: distributed.World,
) -> dict[str, Response]:
    """:func:`execute` for one rank of a data-parallel run (see :mod:`evaluate.distributed`).

    The requests not in the run's responses file are dealt round-robin in plan order; this rank
    answers its share into ``responses.rank<R>.jsonl``. After every rank is done (or failed),
    rank 0 appends the shares to ``responses.jsonl`` in rank order; a failed rank then fails
    every rank with a :class:`RankFailedError`. Returns the merged responses (on every rank).
    """
    if current.main:
        merge_shards(run_dir)  # shares a killed run left behind
    distributed.barrier()
    done = read_responses(run_dir / RESPONSES)
    pending: dict[str, dict[str, Any]] = {}
    for record in records:
        for spec in record.requests:
            if spec["hash"] not in done:
                pending.setdefault(spec["hash"], spec)
    mine = distributed.shard(list(pending), current)
    error: str | None = None
    try:
        execute([PlanRecord("shard", None, {}, [pending[key] for key in mine])], backend,
                shard_path(run_dir, current.rank), progress,
                f"{desc} [rank {current.rank}/{current.size}]", cache)
    except Exception as exc:  # reported to every rank below, then raised everywhere
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
    errors = distributed.gather(error)
    if current.main:
        merge_shards(run_dir)
    distributed.barrier()
    failed = [(rank, text) for rank, text in enumerate(errors) if text]
    if failed:
        rank, text = failed[0]
        more = f" (and {len(failed) - 1} more rank(s))" if len(failed) > 1 else ""
        raise RankFailedError(f"rank {rank} of {current.size} failed: {text}{more}; finished "
                              "responses are kept: run the same command to resume")
    return read_responses(run_dir / RESPONSES)


def merge_shards(run_dir: Path) -> None:
    """Append every ``responses.rank<R>.jsonl`` to ``responses.jsonl`` in rank order; remove them.

    Torn last lines (a killed rank) are dropped; a response already present is not repeated.
    """
    shards = sorted(run_dir.glob("responses.rank*.jsonl"),
                    key=lambda path: int(path.name.split(".")[1].removeprefix("rank")))
    if not shards:
        return
    append_response_files(run_dir / RESPONSES, shards)
    for path in shards:
        path.unlink()


# ---- step 3: score ---------------------------------------------------------------------------
def score(
    task: Task, records: list[PlanRecord], responses: dict[str, Response]
) -> list[SampleRecord]:
    """Per-sample records for every sample whose requests all have responses."""
    ready = [r for r in records if all(s["hash"] in responses for s in r.requests)]
    inputs = [ScoreInput(id=r.id, target=r.target, meta=r.meta, reference=r.reference)
              for r in ready]
    answers = [[responses[s["hash"]] for s in r.requests] for r in ready]
    scored = task.score_all(inputs, answers)
    return [
        SampleRecord(
            id=record.id,
            prompt=_prompt_text(record.requests[0]) if record.requests else None,
            requests=record.requests, responses=answer, target=record.target,
            extracted=result.extracted, score=result.score, weight=result.weight,
            meta=record.meta, extra=dict(result.extra),
        )
        for record, answer, result in zip(ready, answers, scored, strict=True)
    ]


def _stored(task: Task, records: list[PlanRecord]) -> list[PlanRecord]:
    """The plan records as written: prompt text hashed for a task whose data is private."""
    if not task.private_text:
        return records
    return [dataclasses.replace(r, requests=redact_requests(r.requests)) for r in records]


def _stored_samples(task: Task, samples: list[SampleRecord]) -> list[SampleRecord]:
    """The sample records as written: no prompt, prompt text hashed, for a private task."""
    if not task.private_text:
        return samples
    return [dataclasses.replace(s, prompt=None, requests=redact_requests(s.requests))
            for s in samples]


def _prompt_text(spec: dict[str, Any]) -> str | None:
    return spec.get("context", spec.get("text"))


# ---- the whole run ---------------------------------------------------------------------------
def run_task(
    task: Task,
    backend: Backend,
    data: DataDir,
    output: Path,
    model_label: str,
    options: RunOptions,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Plan, execute, score and write one task; returns the results dict.

    If the run folder already holds a run with the same protocol, model and options, finished
    responses are reused (a killed run resumes). On any failure the finished samples are still
    scored and written (``results.json`` then says ``"complete": false``) before re-raising.

    Under ``torchrun``/``accelerate launch`` (a process group is initialised), each rank answers
    its share of the requests (:func:`execute_sharded`) and rank 0 alone writes the plan, samples
    and results -- the same records a single process writes. Every rank returns the results.
    """
    start = time.time()
    current = distributed.world()
    run_dir = run_dir_for(output, model_label, task.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = {
        "task": task.name,
        "protocol_hash": task.protocol_hash(),
        "model": model_fingerprint(backend.identity()),
        "limit": options.limit,
        "seed": options.seed,
    }
    if current.main:
        _reset_if_changed(run_dir, key)
    chat = renderer_for(backend) if task.chat else None
    records = plan(task, data, options, chat, backend)
    if current.main:
        write_plan(run_dir, records if options.store_private_text else _stored(task, records))
    tokens_before = (backend.tokens_in, backend.tokens_out)
    responses: dict[str, Response] = {}
    error: BaseException | None = None
    cache = RequestCache() if options.use_cache else None
    try:
        if current.active:
            responses = execute_sharded(records, backend, run_dir, options.progress,
                                        f"{task.name}: model", cache, current)
        else:
            responses = execute(records, backend, run_dir / RESPONSES, options.progress,
                                f"{task.name}: model", cache)
    except BaseException as exc:  # keep finished work, then re-raise
        error = exc
        responses = read_responses(run_dir / RESPONSES)
    tokens = (backend.tokens_in - tokens_before[0], backend.tokens_out - tokens_before[1])
    if current.active:  # every rank reaches this, failed or not
        counts = distributed.gather(tokens)
        tokens = (sum(c[0] for c in counts), sum(c[1] for c in counts))
        if not current.main:
            if cache is not None:
                cache.close()
            shared: dict[str, Any] = distributed.broadcast(None)
            if error is not None:
                raise error
            return shared
    results: dict[str, Any] | None = None
    extra: dict[str, Any] = {"chat": chat.describe()} if chat is not None else {}
    if task.request_batching is not None:
        extra["request_batching"] = left_padding.describe(task.request_batching, backend)
    try:
        results = _write_run(task, records, responses, run_dir, data, backend, options, start,
                             tokens, command, error, current, extra)
    finally:
        if current.active:  # rank 0's results for every rank (None if writing them failed)
            distributed.broadcast(results)
        if cache is not None:
            cache.close()
    if error is not None:
        raise error
    return results


def _write_run(
    task: Task, records: list[PlanRecord], responses: dict[str, Response], run_dir: Path,
    data: DataDir, backend: Backend, options: RunOptions, start: float, tokens: tuple[int, int],
    command: list[str] | None, error: BaseException | None, current: distributed.World,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score and write ``samples.jsonl`` and ``results.json``; returns the results."""
    samples = score(task, records, responses)
    write_samples(run_dir, samples if options.store_private_text
                  else _stored_samples(task, samples))
    results = build_results(task, samples, len(records))
    results.update({
        "run_dir": str(run_dir),
        "data_files": dict(sorted(data.files_read.items())),
        "data_dir": str(data.root),
        "model": backend.identity(),
        "backend": backend.name,
        "batch_size": backend.batch_size,
        "model_loaded": getattr(backend, "loaded", True),
        "limit": options.limit,
        "seed": options.seed,
        "wall_time_s": round(time.time() - start, 3),
        "tokens": {"prompt": tokens[0], "generated": tokens[1]},
        "environment": environment(),
        "command": command,
        **(extra or {}),
    })
    if error is not None:
        results["complete"] = False
        results["error"] = f"{type(error).__name__}: {error}"
    if current.active:
        results["world_size"] = current.size
    write_results(run_dir, results)
    return results


def build_results(task: Task, samples: list[SampleRecord], planned: int) -> dict[str, Any]:
    """Metrics and protocol for ``samples`` (shared by run and rescore)."""
    rows = [sample.to_dict() for sample in samples]
    results = {
        "task": task.name,
        "protocol": {
            "hash": task.protocol_hash(),
            "version": task.version,
            "description": task.description,
            "provenance": task.provenance,
            "shots": task.shots,
            "params": task.protocol()["params"],
        },
        "metrics": aggregate(rows, task.aggregation),
        "headline": task.aggregation.metric,
        "samples": len(samples),
        "planned_samples": planned,
        "complete": len(samples) == planned,
    }
    if task.selection is not None:  # a subset of the subjects: not comparable with a full run
        results["selection"] = {"of": task.selection.of.name, "spec": task.selection.spec,
                                "subjects": list(task.selection.subjects)}
    if task.results_extra is not None and samples:
        results["task_extra"] = task.results_extra(rows)
    return results


def rescore(run_dir: Path) -> dict[str, Any]:
    """Re-score a run folder from its plan and responses alone (no model, no data).

    Also scores a run that was killed before it wrote ``results.json`` (the task's name then
    comes from ``run.json``): its finished samples, marked incomplete.
    """
    run_dir = Path(run_dir)
    for name in (PLAN, RUN):
        if not (run_dir / name).is_file():
            raise EvaluateError(f"{run_dir} is not a run folder (no {name})")
    if (run_dir / RESULTS).is_file():
        old = read_json(run_dir / RESULTS)
    else:
        key = read_json(run_dir / RUN)
        old = {"task": key["task"], "limit": key.get("limit"), "seed": key.get("seed"),
               "run_dir": str(run_dir), "note": "scored from a run that was stopped early"}
    task = get_task(old["task"])
    records = read_plan(run_dir)
    samples = score(task, records, read_responses(run_dir / RESPONSES))
    write_samples(run_dir, _stored_samples(task, samples))
    results = {**old, **build_results(task, samples, len(records))}
    results["rescored_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if old.get("protocol", {}).get("hash") != task.protocol_hash():
        results["rescored_from_protocol_hash"] = old.get("protocol", {}).get("hash")
    results["environment"] = environment()
    write_results(run_dir, results)
    return results


def _reset_if_changed(run_dir: Path, key: dict[str, Any]) -> None:
    """Start the folder afresh when it holds a different run (protocol, model or options)."""
    key_path = run_dir / RUN
    if key_path.is_file():
        try:
            if read_json(key_path) == json.loads(json.dumps(key)):
                return
        except EvaluateError:
            pass
    for name in (PLAN, RESPONSES, SAMPLES, RESULTS):
        (run_dir / name).unlink(missing_ok=True)
    for leftover in run_dir.glob("responses.rank*.jsonl"):  # a data-parallel run's shares
        leftover.unlink()
    write_json(key_path, key)
