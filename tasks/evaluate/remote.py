"""An evaluation on an s3:// root: its files live in this machine's work folder and are mirrored to the store.

The evaluation code reads and writes a local folder (`EvalRun.local`); for a remote root that is
the work folder, and this module keeps its `evaluation/` in step with `<root>/evaluation/`:

- `pull` before a run: every committed file of the split's folder on the store that this machine
  lacks (or holds an older copy of) is downloaded, with the other splits' `report.md` and
  `metrics.json` (what the index reads), and the run's ledgers are pulled (`objects.LedgerMirror`).
  So a run resumes on any machine, and the split report sees every interpreter evaluated on the split.
- `publish` after each shard: the new part (one PUT: parts are never rewritten) and a snapshot of
  the ledger the shard wrote. A crash loses at most the shard in flight, as on a local root.
- `push` at the end: whatever is not on the store yet (a part a crash left unpublished), then the
  summaries (`metrics.json`, the split's PNGs and `report.md`, `evaluation/report.md`) last, one
  PUT each: the summary is the commit point; a reader never sees a summary of parts not there.

Locks: the local run lock (tasks/evaluate/store.py) and, on the store, a lock object per run
(`objects.ObjectLock`), so two machines never write one run; a holder killed with SIGKILL on this
machine is taken over by the next run here.
"""
from __future__ import annotations

import hashlib
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from storage import object_lock, objects
from storage.layout import DataRoot
from tasks.evaluate.spec import EVAL_DIR, EvalRun
from tasks.evaluate.store import EvaluationBusy

LEDGER = "ledger.sqlite"
SUMMARIES = ("metrics.json", "summary.json", "summary.md", "key.csv", "report.md")  # published after the rest
INDEX_INPUTS = ("report.md", "metrics.json")  # what write_index reads of the other splits
_LOCAL_ONLY = (".writer.lock", ".tmp-", ".snapshot-", LEDGER)  # prefixes of names never mirrored as plain files


def _mirrored(name: str) -> bool:
    return not name.startswith(_LOCAL_ONLY)


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same(local: Path, entry: dict) -> bool:
    """The local file holds what the store's object does (parts: by name, never rewritten; others: MD5 or size)."""
    if not local.is_file():
        return False
    if local.name.startswith("part-"):
        return True
    tag = str(entry.get("ETag") or "").strip('"')
    if len(tag) == 32 and "-" not in tag:
        return _md5(local) == tag
    return local.stat().st_size == int(entry.get("size") or -1)


def _listing(root: DataRoot, rel: str) -> dict[str, dict]:
    """Every object under `rel` on the store, by root-relative key."""
    base = root.fs_path("").rstrip("/") + "/"
    try:
        found = root.fs.find(root.fs_path(rel), detail=True)
    except FileNotFoundError:
        return {}
    return {name[len(base):]: info for name, info in found.items() if name.startswith(base)}


def ledger_mirror(run: EvalRun, local: Path) -> objects.LedgerMirror:
    root = run.root
    return objects.LedgerMirror(root.fs, root.fs_path(run.rel(local)), local)


def ledgers(run: EvalRun) -> list[Path]:
    """The run's ledgers: the interpreter's and each judge's."""
    return [run.ledger_path, *sorted(p / LEDGER for p in run.dir.glob("judge-*"))]


def pull(run: EvalRun, with_ledgers: bool = True) -> int:
    """Download the store's evaluation files this machine lacks or holds older copies of (and, `with_ledgers`,
    this run's ledgers); returns how many plain files were downloaded."""
    if not run.is_remote:
        return 0
    root = run.root
    n = 0
    split = run.rel(run.split_dir) + "/"
    for rel, entry in _listing(root, EVAL_DIR).items():
        name = rel.rsplit("/", 1)[-1]
        local = run.local / rel
        if not rel.startswith(split) and name not in INDEX_INPUTS:
            continue  # another split: only what the index (evaluation/report.md) reads
        if name == LEDGER:
            if not with_ledgers or not local.parent.is_relative_to(run.dir):
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            ledger_mirror(run, local).pull()
        elif _mirrored(name) and not _same(local, entry):
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f"{objects.TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")
            tmp.write_bytes(root.read_bytes(rel))
            tmp.replace(local)
            n += 1
    return n


def publish(run: EvalRun, part: Path | None, ledger: Path | None = None) -> None:
    """After a shard: its ledger snapshot, then its new part, each one PUT (nothing for a local root)."""
    if not run.is_remote:
        return
    object_lock.fence(_lock_key(run))  # a run whose lock was lost commits nothing (storage/object_lock.py)
    if ledger is not None and ledger.exists():
        ledger_mirror(run, ledger).push()
    if part is not None:
        run.root.put_file(part, run.rel(part))


def push(run: EvalRun, folders: list[Path]) -> int:
    """Upload what the store lacks under each local folder (recursively), summaries last; then the ledgers."""
    if not run.is_remote:
        return 0
    object_lock.fence(_lock_key(run))
    root = run.root
    for ledger in ledgers(run):
        mirror = ledger_mirror(run, ledger)
        if mirror.dirty():
            mirror.push()
    n = 0
    for folder in folders:
        remote = _listing(root, run.rel(folder))
        files = [p for p in Path(folder).rglob("*") if p.is_file() and _mirrored(p.name) and ".replaced-" not in p.name
                 and not p.name.endswith((".sync.json", "-wal", "-shm"))]
        files.sort(key=lambda p: (p.name in SUMMARIES, str(p)))
        for path in files:
            rel = run.rel(path)
            if rel not in remote or not _same(path, remote[rel]):
                root.put_file(path, rel)
                n += 1
    return n


def push_summaries(run: EvalRun, folders: list[Path] | None = None) -> int:
    """The run's folder (parts first, metrics.json last) or the `folders` given, then the split's report
    files, then the index."""
    if not run.is_remote:
        return 0
    n = push(run, [run.dir] if folders is None else folders)
    eval_root = run.local / EVAL_DIR
    for path in [*sorted(p for p in run.split_dir.glob("*.png")), run.split_dir / "report.md", eval_root / "report.md"]:
        if path.is_file():
            run.root.put_file(path, run.rel(path))
            n += 1
    return n


def _lock_key(run: EvalRun) -> str:
    return run.root.fs_path(run.rel(run.dir / ".writer.lock"))


@contextmanager
def store_lock(run: EvalRun, what: str) -> Iterator[None]:
    """On a remote root, the run's lock object on the store (nothing for a local root)."""
    if not run.is_remote:
        yield
        return
    root = run.root
    key = _lock_key(run)
    try:
        lock = objects.ObjectLock(root.fs, key, what).acquire()
    except objects.ObjectLockBusy as exc:
        raise EvaluationBusy(f"s3://{key}: this evaluation run is being written by {exc.holder}; wait for it to"
                             f" finish (if that run is known to be dead, delete s3://{key})") from exc
    try:
        yield
    finally:
        lock.release()
