"""The dataset root: where every table, signal, image, ledger and export lives under `--data DIR` or `s3://…`.

A local root is a folder and keeps plain `Path` semantics (atomic writes: temp file, fsync, rename).
An `s3://bucket/prefix` root keeps the same layout as objects (storage/objects.py: one PUT per file, a
lock object, the ledger mirrored); `root.root` is then this machine's work folder for it (ledger copy,
catalog, batch files). Stages do their file I/O through the root-relative helpers below (`exists`,
`read_bytes`, `write_bytes`, `ls`, `rm`…), which work on both.
"""
from __future__ import annotations

import os
import posixpath
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from storage import atomic, objects
from storage.atomic import FileLock, LockBusy

class UnsupportedRoot(ValueError):
    """The dataset root is a URI this version cannot write to."""


class DataRootBusy(RuntimeError):
    """Another gemflow process is writing to the same dataset root."""


@dataclass(frozen=True)
class RootHandle:
    """What a flow hands its shard tasks (`DataRoot.handle()`): the root's location and, on an s3:// root, the
    token of the writer lock the flow holds, so a worker in another process fences its commits with it.

    `str()` is the location (the token never reaches a log line or a run name); pickled whole for Dask."""

    location: str
    lease: str = field(default="", repr=False)

    def __str__(self) -> str:
        return self.location


@dataclass(frozen=True)
class DataRoot:
    """One dataset root. Local: `root` is the folder. Remote: `root` is the local work folder, `location` the URL."""

    root: Path
    location: str = ""  # what DataRoot.open took: the resolved local path, or s3://bucket/prefix
    fs: Any = field(default=None, compare=False, repr=False)  # the fsspec filesystem of a remote root
    lease: str = field(default="", compare=False, repr=False)  # the flow's lock token a worker commits under

    @classmethod
    def open(cls, root: "str | os.PathLike | RootHandle", create: bool = True) -> "DataRoot":
        """Open (and, locally, create unless `create` is false: a reader's) a dataset root: a local path,
        `s3://bucket/prefix`, or a flow's `RootHandle` (its lease kept for `fence`); other URIs are refused."""
        lease = root.lease if isinstance(root, RootHandle) else ""
        text = str(root)
        if text.startswith("s3://"):
            location = remote_location(text)
            return cls(objects.work_dir(location), location, objects.s3_filesystem(), lease)
        path = cls.local_path(text)
        for sub in ("tables", "signals", "images", "exports", "logs") if create else ():
            (path / sub).mkdir(parents=True, exist_ok=True)
        return cls(path, str(path))

    @staticmethod
    def local_path(root: str | os.PathLike) -> Path:
        """The local path of a dataset root; `UnsupportedRoot` for a URI that is not a local path."""
        if "://" in str(root):
            raise UnsupportedRoot(
                f"{root}: only local paths and s3://bucket/prefix dataset roots are supported"
                " (docs/scaling.md, 'Object storage')")
        return Path(root).expanduser().resolve()

    @property
    def is_remote(self) -> bool:
        return self.fs is not None

    def __post_init__(self) -> None:
        if not self.location:
            object.__setattr__(self, "location", str(self.root))

    @property
    def uri(self) -> str:
        """The root as a URI (file:///… or s3://…), for events and people."""
        return self.location if self.is_remote else self.root.as_uri()

    # --- root-relative I/O: `rel` is a posix path inside the root, as tables store it ---

    def fs_path(self, rel: str) -> str:
        """`rel` as the remote filesystem names it (bucket/prefix/rel); a path leaving the root is refused."""
        clean = posixpath.normpath(str(rel).lstrip("/")) if rel else ""
        if clean == ".." or clean.startswith("../") or "\x00" in clean:
            raise ValueError(f"{rel!r} is not a path inside the dataset root")
        base = self.location[len("s3://"):]
        return base if clean in ("", ".") else f"{base}/{clean}"

    def path(self, rel: str) -> str:
        """`rel` as pyarrow, DuckDB or fsspec open it: an absolute local path or s3://bucket/prefix/rel."""
        return f"s3://{self.fs_path(rel)}" if self.is_remote else str(self.root / rel)

    @property
    def arrow_fs(self) -> Any:
        """A pyarrow filesystem for `path()`-less reads of remote keys (None for a local root)."""
        if not self.is_remote:
            return None
        from pyarrow.fs import FSSpecHandler, PyFileSystem
        return PyFileSystem(FSSpecHandler(self.fs))

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.fs_path(rel)) if self.is_remote else (self.root / rel).exists()

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.fs_path(rel)) if self.is_remote else (self.root / rel).read_bytes()

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.fs_path(rel))) if self.is_remote else (self.root / rel).stat().st_size

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Replace `rel` by `data`, all at once (local: temp file and rename; remote: one PUT)."""
        if self.is_remote:
            objects.put_bytes(self.fs, self.fs_path(rel), data)
        else:
            atomic.write_bytes(self.root / rel, data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def put_file(self, local: Path, rel: str) -> None:
        """Publish a finished local file at `rel`, all at once."""
        if self.is_remote:
            objects.put_file(self.fs, Path(local), self.fs_path(rel))
        else:
            atomic.write_with(self.root / rel, lambda tmp: shutil.copyfile(local, tmp))

    def ls(self, rel: str, dirs_only: bool = False) -> list[str]:
        """Names directly under `rel` (files and folders, or folders only), sorted; [] when there is nothing there."""
        if not self.is_remote:
            folder = self.root / rel
            return sorted(p.name for p in folder.iterdir() if p.is_dir() or not dirs_only) if folder.is_dir() else []
        try:
            entries = self.fs.ls(self.fs_path(rel), detail=True)
        except FileNotFoundError:
            return []
        base = self.fs_path(rel).rstrip("/") + "/"
        names = (e["name"].rstrip("/") for e in entries if e.get("type") == "directory" or not dirs_only)
        return sorted(n[len(base):] for n in names if n.startswith(base))

    def is_dir(self, rel: str) -> bool:
        return self.fs.isdir(self.fs_path(rel)) if self.is_remote else (self.root / rel).is_dir()

    def rm(self, rel: str) -> None:
        """Remove the file `rel` (nothing when it is not there)."""
        if self.is_remote:
            try:
                self.fs.rm_file(self.fs_path(rel))
            except FileNotFoundError:
                pass
        else:
            (self.root / rel).unlink(missing_ok=True)

    # --- named places ---

    def table_rel(self, table: str) -> str:
        return f"tables/{table}"

    def table_dir(self, table: str) -> Path | PurePosixPath:
        """A table's folder: a local Path (made if missing), or for a remote root its key prefix (bucket/prefix/…)."""
        if self.is_remote:
            return PurePosixPath(self.fs_path(self.table_rel(table)))
        d = self.root / "tables" / table
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def signals(self) -> Path:
        return self.root / "signals"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def exports(self) -> Path:
        """The local exports folder (for a remote root use `ls("exports")`, `read_text("exports/LATEST")`)."""
        return self.root / "exports"

    @property
    def ledger_path(self) -> Path:
        """The local ledger file; for a remote root the store's copy is pulled first when this one is missing or stale."""
        if self.is_remote:
            return self.ledger_mirror().pull()
        return self.root / "ledger.sqlite"

    def push_ledger(self) -> None:
        """Upload a consistent snapshot of the local ledger to a remote root (nothing for a local root);
        refused (`LeaseLost`) when this process's writer lock on the root is no longer its own."""
        if self.is_remote:
            self.fence()
            self.ledger_mirror().push()

    def fence(self) -> None:
        """Before a commit on a remote root (one GET of the lock object): `object_lock.LeaseLost` unless the
        lease it commits under is still the lock's: the lock this process holds, or the one its flow
        handed it (`handle()`); with neither, while anyone holds the lock (storage/object_lock.py,
        "Fencing"). Nothing for a local root (its `flock` cannot be lost while its holder lives)."""
        if self.is_remote:
            from storage.object_lock import fence
            fence(self.fs_path(objects.LOCK_NAME), self.fs, self.lease)

    def handle(self) -> RootHandle:
        """What to hand a shard task that may run in another process: the location, plus (remote) the token
        of the writer lock this process holds on the root, or the lease it was itself opened with."""
        if not self.is_remote:
            return RootHandle(self.location)
        from storage.object_lock import held_token
        return RootHandle(self.location, held_token(self.fs_path(objects.LOCK_NAME)) or self.lease)

    def ledger_mirror(self) -> objects.LedgerMirror:
        return objects.LedgerMirror(self.fs, self.fs_path(objects.LEDGER_NAME), self.root / objects.LEDGER_NAME)

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def rel(self, path: Path) -> str:
        """A path relative to the root, as stored in tables (roots can move)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def abs(self, rel: str) -> Path:
        """The local path of `rel` (a remote root has none: use the root-relative helpers)."""
        if self.is_remote:
            raise UnsupportedRoot(f"{self.location}: {rel} is an object, not a local file")
        return self.root / rel

    @contextmanager
    def writer_lock(self, what: str) -> Iterator[None]:
        """Hold the root's single-writer lock; a second writer gets a clear error, not corrupt tables.

        A remote root's lock is an object made with a conditional put; letting it go also uploads
        the ledger when this writer changed it."""
        if self.is_remote:
            with self._object_lock(what):
                yield
            return
        try:
            lock = FileLock(self.root / ".writer.lock", f"running {what}").acquire()
        except LockBusy as exc:
            raise DataRootBusy(
                f"{self.root} is being written by another gemflow process ({exc.holder or 'unknown'}); "
                "wait for it to finish or use another --data"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _object_lock(self, what: str) -> Iterator[None]:
        key = self.fs_path(objects.LOCK_NAME)
        try:
            lock = objects.ObjectLock(self.fs, key, f"running {what}").acquire()
        except objects.ObjectLockBusy as exc:
            raise DataRootBusy(
                f"{self.location} is being written by another gemflow process ({exc.holder}); wait for it to"
                f" finish or use another --data (if that run is known to be dead, delete s3://{key})") from exc
        try:
            yield
        finally:
            try:
                if self.ledger_mirror().dirty():  # the calls this writer journaled reach the store, even after an error
                    self.push_ledger()
            finally:
                lock.release()


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")  # S3's bucket naming rules


def remote_location(url: str) -> str:
    """`s3://bucket/prefix/` normalised to `s3://bucket/prefix`; `UnsupportedRoot` for a malformed one."""
    rest = url[len("s3://"):].rstrip("/")
    bucket, _, prefix = rest.partition("/")
    parts = [p for p in prefix.split("/") if p]
    bad_part = any(p in (".", "..") or not p.isprintable() or p != p.strip() for p in parts)
    if not _BUCKET.fullmatch(bucket) or bad_part:
        raise UnsupportedRoot(f"{url}: not an s3://bucket/prefix dataset root")
    return "s3://" + "/".join([bucket, *parts])
