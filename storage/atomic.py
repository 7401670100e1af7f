"""Atomic writes and file locks: the one implementation every stage, export and run folder uses.

A write goes to a hidden temp file beside the target, the file is fsynced, renamed over the target,
and the folder is fsynced, so after a crash the target holds either the old bytes or the new ones,
and the rename itself survives a power cut. A folder (an export) is published the same way: filled
under a hidden staging name, fsynced, then renamed into place.

A lock is an `flock` on a small file that also says who holds it; a second holder gets `LockBusy`
with that text at once (no waiting), and the lock goes away with the process, even on `kill -9`.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable, TextIO

TEMP_PREFIX = ".tmp-"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def temp_path(path: Path) -> Path:
    """The hidden temp file a write of `path` goes through (per process: concurrent writers never share one)."""
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_with(path: Path, write: Callable[[Path], None]) -> Path:
    """`write(temp)` fills a temp file, which is then fsynced and renamed to `path`; the folder is fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Replace `path` by `data`, all at once."""
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    """Replace `path` by `text` (UTF-8), all at once."""
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def publish_dir(staging: Path, final: Path) -> Path:
    """Rename a filled staging folder to `final` after fsyncing its files and itself; `final` must not exist."""
    for entry in staging.iterdir():
        if entry.is_file():
            _fsync_file(entry)
    fsync_dir(staging)
    os.rename(staging, final)
    fsync_dir(final.parent)
    return final


def remove_temps(folder: Path) -> int:
    """Delete temp files a crashed write left in `folder`; returns how many."""
    n = 0
    for tmp in Path(folder).glob(f"{TEMP_PREFIX}*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            n += 1
    return n


class LockBusy(RuntimeError):
    """Another process holds the lock; `holder` is what it wrote in the lock file."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is held by {holder or 'another process'}")
        self.path, self.holder = path, holder


class FileLock:
    """An exclusive, non-blocking `flock` on `path`, with a note saying who holds it."""

    def __init__(self, path: Path, note: str = ""):
        self.path, self.note = Path(path), note
        self._fh: TextIO | None = None

    def acquire(self) -> "FileLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise LockBusy(self.path, holder) from exc
        fh.truncate(0)
        fh.write(f"pid {os.getpid()}{' ' + self.note if self.note else ''}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is None:
            return
        self._fh.truncate(0)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None
