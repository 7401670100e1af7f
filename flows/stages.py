"""The one stage runner: a shard stage's pending work, orphan cleanup, one task per shard, summed counts.

Every shard task commits its own parts (a redo overwrites: part names hash the shard's keys) and
returns its stage's `Counts`; quarantine rows are part of what it commits. Shard tasks are
idempotent, so they declare retries and a timeout (`SHARD_TASK`): a worker lost mid-shard, or a
shard stuck on a pathological record, is redone instead of failing the run.
"""
from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Sequence

from prefect import Task

from flows.common import refresh
from flows.progress import StageProgress, collect
from storage.layout import DataRoot
from tasks.shards import Counts, ShardStage, chunk

# what every shard task declares on its decorator: @task(name=..., **SHARD_TASK)
SHARD_TASK = {"retries": 2, "retry_delay_seconds": 5, "timeout_seconds": 3600}


def run_shards(stage: ShardStage, root: DataRoot, pending: Sequence, shard_task: Task, *args: Any,
               shard_size: int, zero: Counts, progress: StageProgress | None = None) -> Counts:
    """Submit `shard_task(root_dir, shard, *args)` per shard of `pending`; their counts, summed."""
    shards = list(chunk(pending, shard_size))
    progress = progress if progress is not None else StageProgress(stage.name, len(pending))
    futures = [shard_task.submit(root.location, shard, *args) for shard in shards]
    return reduce(lambda a, b: a + b, collect(futures, [len(s) for s in shards], progress), zero)


def run_stage(stage: ShardStage, root: DataRoot, pending: Callable[[], Sequence], shard_task: Task, *args: Any,
              shard_size: int, zero: Counts) -> Counts:
    """Hold the writer lock, drop a crashed shard's orphan parts, then run the pending work and refresh the catalog."""
    with root.writer_lock(stage.name):
        stage.drop_orphans(root)
        total = run_shards(stage, root, pending(), shard_task, *args, shard_size=shard_size, zero=zero)
        refresh(root)
    return total
