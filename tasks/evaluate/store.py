"""Append-only evaluation outputs: atomic Parquet parts, read back latest-row-wins, and a per-run writer lock.

A run never rewrites or truncates what an earlier run committed: each shard adds one new part,
written to a hidden temp file, fsynced and renamed into place (`storage.parquet.write_atomic`).
A restart reads the parts, keeps the latest row per item, and skips the items already finished.
"""
from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from storage import atomic
from storage.parquet import rows_to_table, write_atomic
from tasks.evaluate.rubric import KEYS

OUTPUTS_SCHEMA = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("interpreter", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # "ok" or "failed"
    pa.field("error", pa.string()),
    pa.field("text", pa.string()),
    pa.field("request_id", pa.string()),
    pa.field("latency_s", pa.float64()),
    pa.field("scores_json", pa.string()),  # {code: score} when the interpreter gives scores, else null
    pa.field("true_labels", pa.list_(pa.string())),
    pa.field("pred_labels", pa.list_(pa.string())),  # extract_labels(text): negation- and synonym-aware
    pa.field("verdict_ok", pa.bool_()),
    pa.field("grounding_score", pa.float64()),
    pa.field("lead_coverage", pa.float64()),
    pa.field("n_claims", pa.int32()),
    pa.field("n_matched", pa.int32()),
    pa.field("n_labels", pa.int32()),
    pa.field("n_labels_stated", pa.int32()),
    pa.field("n_contradictions", pa.int32()),
    pa.field("violations", pa.string()),  # failed validation rules, comma-separated
    pa.field("committed_at", pa.float64()),
])

JUDGE_SCHEMA = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("judge", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # "ok" or "failed"
    pa.field("rounds", pa.int32()),  # answers asked for (1 + parse retries)
    pa.field("error", pa.string()),
    pa.field("raw_text", pa.string()),  # the last answer, kept for audit (a failed parse too)
    pa.field("request_id", pa.string()),
    *[pa.field(key, pa.int64()) for key in KEYS],
    pa.field("rationale", pa.string()),
    pa.field("committed_at", pa.float64()),
])


class EvaluationBusy(RuntimeError):
    """Another process is writing the same evaluation run."""


def append_part(folder: Path, rows: list[dict], schema: pa.Schema) -> Path | None:
    """Commit rows as one new part (never overwriting one); None when there is nothing to commit."""
    if not rows:
        return None
    now = time.time()
    for row in rows:
        row.setdefault("committed_at", now)
    digest = hashlib.sha256("\n".join(sorted(r["item_id"] for r in rows)).encode()).hexdigest()[:12]
    path = Path(folder) / f"part-{time.time_ns():020d}-{os.getpid()}-{digest}.parquet"
    write_atomic(rows_to_table(rows, schema), path)
    return path


def parts(folder: Path) -> list[Path]:
    """Committed parts in commit order (hidden temp files are ignored)."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("part-*.parquet")) if folder.exists() else []


def read_rows(folder: Path, schema: pa.Schema) -> list[dict]:
    """Every committed row, oldest part first."""
    rows: list[dict] = []
    for part in parts(folder):
        rows.extend(pq.read_table(part, schema=schema).to_pylist())
    return rows


def read_latest(folder: Path, schema: pa.Schema) -> dict[str, dict]:
    """The latest committed row of each item (a later part supersedes an earlier one)."""
    return {row["item_id"]: row for row in read_rows(folder, schema)}


@contextmanager
def run_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold the run folder's writer lock; a second writer gets EvaluationBusy instead of mixed parts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        lock = atomic.FileLock(folder / ".writer.lock", what).acquire()
    except atomic.LockBusy as exc:
        raise EvaluationBusy(f"{folder} is being written by another process ({what}); wait for it to finish") from exc
    try:
        yield
    finally:
        lock.release()


def write_text_atomic(path: Path, text: str) -> None:
    """Replace a small text file (metrics.json, report.md) all at once: temp file, fsync, rename."""
    atomic.write_text(Path(path), text)
