"""The dataset root: where every table, signal, image, ledger and export lives under `--data DIR`."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from storage.atomic import FileLock, LockBusy

class UnsupportedRoot(ValueError):
    """The dataset root is a URI this version cannot write to."""


class DataRootBusy(RuntimeError):
    """Another gemflow process is writing to the same dataset root."""


@dataclass(frozen=True)
class DataRoot:
    """Paths inside one dataset root. Creating it makes the folders."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike) -> "DataRoot":
        """Open (and create) a local dataset root. A URI (s3://, gs://, file://…) is refused, not made a folder."""
        path = cls.local_path(root)
        for sub in ("tables", "signals", "images", "exports", "logs"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        return cls(path)

    @staticmethod
    def local_path(root: str | os.PathLike) -> Path:
        """The local path of a dataset root; `UnsupportedRoot` for a URI, which this version cannot write to."""
        if "://" in str(root):
            raise UnsupportedRoot(
                f"{root}: dataset roots on object storage are not supported yet; use a local or mounted POSIX path"
                " (docs/scaling.md, 'Object storage')")
        return Path(root).expanduser().resolve()

    def table_dir(self, table: str) -> Path:
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
        return self.root / "exports"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def rel(self, path: Path) -> str:
        """A path relative to the root, as stored in tables (roots can move)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def abs(self, rel: str) -> Path:
        return self.root / rel

    @contextmanager
    def writer_lock(self, what: str) -> Iterator[None]:
        """Hold the root's single-writer lock; a second writer gets a clear error, not corrupt tables."""
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
