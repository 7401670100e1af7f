"""The one stage runner: a shard stage's pending work, orphan cleanup, one task per shard, summed counts.

Every shard task commits its own parts (a redo overwrites: part names hash the shard's keys) and
returns its stage's `Counts`; quarantine rows are part of what it commits.

Two kinds of shard stage run on it:

- Parallel, idempotent stages (ingest, features, render, validate's checks) submit every shard to the
  task runner. Their shard tasks declare retries and a timeout (`SHARD_TASK`): a worker lost mid-shard,
  or a shard stuck on a pathological record, is redone instead of failing the run, and a redo writes
  the same part names.
- Paid-call stages (generate, evaluate) run `sequential=True`: one shard after another in the flow,
  so the teacher's rate limiter spreads one shard's calls and no two shards race for the same quota.
  Generate's only Parquet part is its quarantine (`tasks/teachers/stage.SHARDS`, a stage whose
  journal is the ledger, not a primary part). These shard tasks declare NO retries and no timeout:
  the ledger makes a rerun skip every call it journaled as done, but a call journaled as `sent` whose
  answer was lost (the shard raised while calls were in flight) is sent again, and paid again, by the
  next attempt. On the thread runner a timeout does not stop the task's thread either, so a Prefect
  retry would run beside the still-running first attempt and send its in-flight requests twice. A
  failed paid shard therefore fails the run, and `gemflow generate` (or evaluate) resumes it from the
  ledger, where the resend is counted (`resent_after_crash`).
"""
from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Sequence

from prefect import Task

from flows.common import refresh
from flows.progress import StageProgress, collect
from storage.layout import DataRoot
from tasks.shards import Counts, ShardStage, chunk

# what every idempotent shard task declares on its decorator: @task(name=..., **SHARD_TASK)
SHARD_TASK = {"retries": 2, "retry_delay_seconds": 5, "timeout_seconds": 3600}


def run_shards(name: str, head: Any, pending: Sequence, shard_task: Task, *args: Any, shard_size: int, zero: Counts,
               progress: StageProgress | None = None, sequential: bool = False) -> Counts:
    """`shard_task(head, shard, *args)` per shard of `pending` (`head`: the root dir, or an evaluation run); counts summed.

    `sequential`: each shard runs to its end in the flow before the next begins (paid-call stages)."""
    shards = list(chunk(pending, shard_size))
    progress = progress if progress is not None else StageProgress(name, len(pending))
    if sequential:
        total = zero
        for shard in shards:
            total = total + shard_task(head, shard, *args)
            progress.advance(len(shard))
        return total
    futures = [shard_task.submit(head, shard, *args) for shard in shards]
    return reduce(lambda a, b: a + b, collect(futures, [len(s) for s in shards], progress), zero)


def run_stage(stage: ShardStage, root: DataRoot, pending: Callable[[], Sequence], shard_task: Task, *args: Any,
              shard_size: int, zero: Counts) -> Counts:
    """Hold the writer lock, drop a crashed shard's orphan parts, then run the pending work and refresh the catalog.

    The shard tasks get `root.handle()`: the location plus the lock's lease, which a worker in another
    process fences its commit with (storage/object_lock.py, "Fencing")."""
    with root.writer_lock(stage.name):
        stage.drop_orphans(root)
        total = run_shards(stage.name, root.handle(), pending(), shard_task, *args, shard_size=shard_size,
                           zero=zero)
        refresh(root)
    return total
