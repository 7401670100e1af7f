"""Dataset roots on object storage (s3://): the client, one-shot puts, the writer-lock object and the ledger mirror.

What an object store gives, and how a root uses it:
- A PUT is atomic per object: readers see the old object or the new one, never a part of it. So a
  table part, a signal, a page or an export file is written with exactly one PutObject of its whole
  bytes (built in memory or in a local temp file first); nothing ever streams to a final key. Bigger
  files (the ledger snapshot past `SINGLE_PUT_MAX`) go to a hidden `.tmp-…` key first and are then copied
  server-side to their final key, which is atomic too; a crash leaves at most a staging object,
  which the stage runner removes.
- A conditional PUT (`If-None-Match: *`) creates an object only if it does not exist: the writer
  lock is such an object, holding who took it under a lease its holder renews with If-Match
  (storage/object_lock.py). AWS S3, MinIO and moto honour the conditions; a store that ignores
  them makes the lock advisory (docs/ARCHITECTURE.md, "Object storage").
- There is no rename and no file lock, and SQLite cannot run on a store: the ledger stays a local
  SQLite file in this machine's work folder for the root, and a consistent snapshot (SQLite's
  backup API) is uploaded after each generate shard and when a writer lets the lock go
  (`LedgerMirror`).

Client settings come from the standard environment only: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_DEFAULT_REGION (botocore reads
the keys itself; nothing here stores, prints or logs them).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


SINGLE_PUT_MAX = 50 * 2**20  # s3fs sends anything below its 50 MiB chunk size as one PutObject
TEMP_PREFIX = ".tmp-"  # as storage/atomic.py names its temp files
LOCK_NAME = ".writer.lock"
LEDGER_NAME = "ledger.sqlite"


def s3_filesystem() -> Any:
    """An s3fs filesystem configured from the standard AWS environment; listings are never cached.

    (Other workers write parts all the time: a cached listing would hide them.)"""
    import s3fs
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        client_kwargs["region_name"] = region
    return s3fs.S3FileSystem(client_kwargs=client_kwargs, use_listings_cache=False)


def work_dir(location: str) -> Path:
    """This machine's folder for a remote root: its ledger copy, catalog.duckdb and batch files; nothing else."""
    base = Path(os.environ.get("GEMFLOW_CACHE_DIR") or Path.home() / ".cache" / "gemflow").expanduser()
    folder = base / "roots" / hashlib.sha256(location.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "ROOT"
    if not marker.exists():
        marker.write_text(location + "\n")
    return folder


def put_bytes(fs: Any, key: str, data: bytes) -> None:
    """Make `key` hold `data`, all at once: one PutObject, or a staged upload and a server-side copy."""
    if len(data) < SINGLE_PUT_MAX:
        fs.pipe_file(key, data)
        return
    staged = _staging_key(key)
    fs.pipe_file(staged, data)
    _publish(fs, staged, key)


def put_file(fs: Any, local: Path, key: str) -> None:
    """Upload a local file to `key`, all at once (the same rule as `put_bytes`)."""
    if Path(local).stat().st_size < SINGLE_PUT_MAX:
        fs.put_file(str(local), key)
        return
    staged = _staging_key(key)
    fs.put_file(str(local), staged)
    _publish(fs, staged, key)


def _staging_key(key: str) -> str:
    """A hidden key beside `key` (no reader lists names starting with `.`); `remove_temps` clears leftovers."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}-{name}"


def remove_temps(fs: Any, folder: str) -> int:
    """Delete the staging objects a crashed upload left directly under `folder`; returns how many."""
    try:
        entries = fs.ls(folder, detail=False)
    except FileNotFoundError:
        return 0
    temps = [e for e in entries if e.rstrip("/").rsplit("/", 1)[-1].startswith(TEMP_PREFIX)]
    for key in temps:
        try:
            fs.rm_file(key)
        except FileNotFoundError:
            pass
    return len(temps)


def _publish(fs: Any, staged: str, key: str) -> None:
    try:
        fs.copy(staged, key)
    finally:
        fs.rm_file(staged)


def get_many(fs: Any, keys: list[str]) -> list[bytes]:
    """The whole bytes of each key, one GET each (no HEAD first), sent concurrently; in the order given."""
    import asyncio

    from fsspec.asyn import sync

    async def fetch() -> list[bytes]:
        return await asyncio.gather(*(fs._cat_file(k, max_concurrency=1) for k in keys))
    return sync(fs.loop, fetch)


def etag(fs: Any, key: str) -> str | None:
    """The object's ETag, or None when there is no such object."""
    try:
        return str(fs.info(key).get("ETag") or "") or None
    except FileNotFoundError:
        return None


# --- the writer lock: an object created with If-None-Match: *, under a renewed lease (storage/object_lock.py) ---

from storage.object_lock import LockHolder, ObjectLock, ObjectLockBusy  # noqa: E402,F401 - the lock's home


# --- the ledger mirror: a local SQLite file per writer, its snapshots on the store ---

class LedgerMirror:
    """Keeps the local ledger copy and `<root>/ledger.sqlite` on the store in step.

    `pull()` before use: downloads the store's copy when the local one is missing or the store's
    changed since this machine last synced (another machine wrote); a replaced local copy is kept
    beside it as `ledger.sqlite.replaced-<time>`, never deleted. `push()` after a commit: uploads a
    consistent snapshot taken with SQLite's backup API (safe while other connections write)."""

    def __init__(self, fs: Any, key: str, local: Path):
        self.fs, self.key, self.local = fs, key, Path(local)
        self.state_path = self.local.with_name(self.local.name + ".sync.json")

    def _state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, tag: str | None) -> None:
        self.state_path.write_text(json.dumps({"etag": tag, "stamp": self._stamp()}))

    def _stamp(self) -> list[int]:
        """What changes when the local ledger is written: size and mtime of the file and its WAL."""
        out: list[int] = []
        for p in (self.local, self.local.with_name(self.local.name + "-wal")):
            st = p.stat() if p.exists() else None
            out += [st.st_size, st.st_mtime_ns] if st else [0, 0]
        return out

    def pull(self) -> Path:
        remote = etag(self.fs, self.key)
        if remote is None or (self.local.exists() and self._state().get("etag") == remote):
            return self.local
        if self.local.exists():
            stamp = time.strftime("%Y%m%dT%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                p = self.local.with_name(self.local.name + suffix)
                if p.exists():
                    p.rename(p.with_name(f"{self.local.name}.replaced-{stamp}{suffix}"))
        tmp = self.local.with_name(f".tmp-{os.getpid()}-{self.local.name}")
        self.fs.get_file(self.key, str(tmp))
        os.replace(tmp, self.local)
        self._save_state(etag(self.fs, self.key))
        return self.local

    def dirty(self) -> bool:
        return self.local.exists() and self._state().get("stamp") != self._stamp()

    def push(self) -> None:
        if not self.local.exists():
            return
        fd, name = tempfile.mkstemp(prefix=".snapshot-", suffix=".sqlite", dir=self.local.parent)
        os.close(fd)
        try:
            src, dst = sqlite3.connect(self.local, timeout=60), sqlite3.connect(name)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            put_file(self.fs, Path(name), self.key)
        finally:
            Path(name).unlink(missing_ok=True)
        self._save_state(etag(self.fs, self.key))
