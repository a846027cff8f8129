"""Data parallelism over processes started by ``torchrun`` or ``accelerate launch``.

Both launchers set ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` joins the process group they describe (gloo: only small control messages
travel through it, never tensors, so it works for CPU and GPU ranks alike). Each rank then runs
on its own device (``cuda:LOCAL_RANK`` on a GPU machine, else the CPU).

How a task is split (see :func:`evaluate.runner.run_task`): every rank builds the same plan; the
pending requests (not in the run's responses file) are dealt round-robin in plan order, so the
split depends on nothing but the plan and the world size; each rank answers its share into its own
``responses.rank<R>.jsonl`` (and the shared request cache); the ranks meet; rank 0 merges the
shares into ``responses.jsonl`` and scores, writing exactly the records a single process writes.
A rank whose work raised reports its one-line error at the meeting point, and every rank then
fails with it -- after rank 0 has merged and scored what did finish, so the same command resumes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# Ranks meet after their whole share: one rank may finish long before another.
MEET_TIMEOUT = timedelta(seconds=float(os.environ.get("EVALUATE_DIST_TIMEOUT_S", 48 * 3600)))


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Started by a launcher with more than one process?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> World:
    """Join the launcher's process group once (a no-op for a single process)."""
    if not launched():
        return World()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=MEET_TIMEOUT)
        atexit.register(_shutdown)
    return world()


def world() -> World:
    """The current world: one process unless a process group is initialised."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(rank=dist.get_rank(), size=dist.get_world_size(),
                 local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def rank_device(requested: str | None) -> str | None:
    """The device of this rank: ``cuda:LOCAL_RANK`` on a GPU machine, else the CPU.

    An explicit ``cuda`` (no index) also becomes ``cuda:LOCAL_RANK``; any other explicit device is
    kept. A single process keeps ``requested`` as it is.
    """
    current = world()
    if not current.active:
        return requested
    import torch

    if requested in (None, "cuda") and torch.cuda.is_available():
        torch.cuda.set_device(current.local_rank)
        return f"cuda:{current.local_rank}"
    return requested or "cpu"


def shard(keys: list[str], current: World) -> list[str]:
    """This rank's share of ``keys``: every ``size``-th, starting at ``rank``."""
    return keys[current.rank :: current.size]


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (on every rank)."""
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _shutdown() -> None:
    """Leave the group together: a rank that tears gloo down while its peer is still talking
    to it can abort at exit ("terminate called without an active exception", seen once)."""
    import torch.distributed as dist

    if dist.is_initialized():
        with contextlib.suppress(RuntimeError):
            dist.barrier()
        dist.destroy_process_group()
