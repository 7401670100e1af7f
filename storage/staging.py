"""Local copies of a remote dataset root's files, for the readers that need a disk: training and checkpoints.

PyTorch's data loaders, wfdb and a checkpoint's interpreter open files by path. On an `s3://` root
those files are staged into this machine's work folder for the root (`DataRoot.root`, see
storage/objects.py `work_dir`) under their root-relative paths, so the folder is a partial local
mirror of the store and the same relative paths (`images/…`, `signals/…`, `exports/<v>/train.json`)
open there.

A staged file is downloaded to a hidden temp name beside its final path, checked against the
response (the byte count the store announced; the MD5 when the ETag is a plain single-part MD5),
fsynced and renamed into place. A file at its final path is therefore always complete, and a rerun
downloads only what is not there yet; a crash leaves at most a `.tmp-` file, never a short one.
Staged paths are never rewritten: what they hold on the store does not change (an export version
is a hash of its content, a page's name carries its render key, a record's signal is derived from
its source), so a present file is trusted without another request.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from storage import atomic, objects
from storage.layout import DataRoot

CHUNK = 1 << 20
CONCURRENCY = 16
_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # a data file beside its header; no path, no `..`


class StagingError(OSError):
    """A file could not be staged intact (short or corrupt download)."""


@dataclass
class Staged:
    """What one staging call did: files downloaded, files already here, bytes fetched, and files the store lacks."""

    downloaded: int = 0
    reused: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)

    def add(self, other: "Staged") -> "Staged":
        return Staged(self.downloaded + other.downloaded, self.reused + other.reused, self.bytes + other.bytes,
                      self.missing + other.missing)


def local_folder(data_root: str | os.PathLike) -> Path:
    """The local folder of a dataset root: the folder itself, or for s3://… this machine's work folder for it."""
    text = str(data_root)
    if text.startswith("s3://"):
        from storage.layout import remote_location
        return objects.work_dir(remote_location(text))
    return DataRoot.local_path(data_root)


def stage_files(root: DataRoot, rels: Iterable[str], concurrency: int = CONCURRENCY) -> Staged:
    """Make each root-relative file present under `root.root`; on a local root only count what is there."""
    wanted = list(dict.fromkeys(r for r in rels if r))
    out = Staged()
    todo = []
    for rel in wanted:
        root.fs_path(rel)  # a path leaving the root is refused before anything is written
        if (root.root / rel).is_file():
            out.reused += 1
        elif root.is_remote:
            todo.append(rel)
        else:
            out.missing.append(rel)
    if todo:
        from fsspec.asyn import sync
        out = out.add(sync(root.fs.loop, _fetch_all, root, todo, concurrency))
    return out


async def _fetch_all(root: DataRoot, rels: list[str], concurrency: int) -> Staged:
    gate = asyncio.Semaphore(max(1, concurrency))
    results = await asyncio.gather(*(_fetch_one(root, rel, gate) for rel in rels))
    out = Staged()
    for rel, size in zip(rels, results):
        if size is None:
            out.missing.append(rel)
        else:
            out.downloaded += 1
            out.bytes += size
    return out


async def _fetch_one(root: DataRoot, rel: str, gate: asyncio.Semaphore) -> int | None:
    """Download one object to its local path (temp name, checks, fsync, rename); None when the store lacks it."""
    bucket, key, _ = root.fs.split_path(root.fs_path(rel))
    dest = root.root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{objects.TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{dest.name}")
    async with gate:
        try:
            resp = await root.fs._call_s3("get_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        try:
            size = await _write_body(resp, tmp, rel)
            os.replace(tmp, dest)
        finally:
            resp["Body"].close()
            tmp.unlink(missing_ok=True)
    return size


async def _write_body(resp: dict, tmp: Path, rel: str) -> int:
    md5, size = hashlib.md5(usedforsecurity=False), 0
    with open(tmp, "wb") as fh:
        while chunk := await resp["Body"].read(CHUNK):
            fh.write(chunk)
            md5.update(chunk)
            size += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    expected = resp.get("ContentLength")
    if expected is not None and int(expected) != size:
        raise StagingError(f"{rel}: downloaded {size} bytes, the store announced {expected}")
    tag = _MD5.match(str(resp.get("ETag") or ""))
    if tag and tag.group(1) != md5.hexdigest():
        raise StagingError(f"{rel}: the downloaded bytes do not match the store's MD5 (ETag {tag.group(1)})")
    return size


def wfdb_files(header: str, rel: str) -> list[str]:
    """The root-relative files a WFDB header (`rel` + .hea) names: its data files (`rel`.dat when it names
    none), or for a multi-segment header (`name/n_segments …`) its segments' headers (a `~` gap names none)."""
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    lines = [ln.strip() for ln in header.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    first = lines[0].split() if lines else []
    segmented = bool(first) and "/" in first[0]
    try:
        count = int(first[0].split("/")[1] if segmented else first[1])
    except (IndexError, ValueError):
        count = 0
    names: list[str] = []
    for line in lines[1:1 + count]:
        name = line.split()[0]
        name = name + ".hea" if segmented else name
        if _FILE_NAME.fullmatch(name) and name not in names and name != "~.hea":
            names.append(name)
    return [folder + n for n in names] if segmented or count else [rel + ".dat"]  # `~`: a signal with no file


def stage_records(root: DataRoot, ecg_rels: Iterable[str], concurrency: int = CONCURRENCY) -> Staged:
    """Stage WFDB records (paths without extension): each header first, then the files it names; a
    multi-segment record's segment headers are staged, then their data files."""
    records = list(dict.fromkeys(r for r in ecg_rels if r))
    headers = [r + ".hea" for r in records]
    out = Staged()
    for _ in range(2):  # a record's header, then (multi-segment) its segments' headers
        out = out.add(stage_files(root, headers, concurrency))
        named = [f for h in headers if (root.root / h).is_file()
                 for f in wfdb_files((root.root / h).read_text(errors="replace"), h[:-len(".hea")])]
        headers = [f for f in named if f.endswith(".hea")]
        out = out.add(stage_files(root, [f for f in named if not f.endswith(".hea")], concurrency))
        if not headers:
            break
    return out


# --- a staged set of files: complete once its marker is written, checked by size on every later use ---

def is_complete(root: DataRoot, marker_rel: str) -> bool:
    """The set `marker_rel` names was staged whole, and every file of it is still here at its staged size."""
    marker = root.root / marker_rel
    try:
        sizes = json.loads(marker.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    damaged = [root.root / rel for rel, size in sizes.items()
               if not (root.root / rel).is_file() or (root.root / rel).stat().st_size != size]
    for path in damaged:  # a damaged copy is fetched again, never trusted
        path.unlink(missing_ok=True)
    if damaged:
        marker.unlink(missing_ok=True)
    return not damaged


def mark_complete(root: DataRoot, marker_rel: str, rels: Iterable[str]) -> None:
    """Record the staged set (each file and its size), written last and atomically: the commit point."""
    sizes = {rel: (root.root / rel).stat().st_size for rel in dict.fromkeys(rels)}
    atomic.write_text(root.root / marker_rel, json.dumps({"location": root.location, "files": sizes}))
