"""Which parts of a table hold which record ids, so a shard reads only its own parts (not the whole table).

A shard's context read (tasks/teachers/context.build_contexts) wants a few hundred record ids out
of tables that have one part per shard. Reading every part and filtering cost O(shards) part reads
per shard (O(shards²) per stage): on an S3 root every byte of the table, per shard. Instead each
part's key column is read once per process and kept here as its sorted distinct values, under the
part's *identity*: a local part's (device, inode, size, mtime_ns) taken with `fstat` on the very
file descriptor that was read, a remote part's (ETag, size) from the listing, every ranged GET of
its footer and key column sent with `If-Match: <that ETag>`. A table is listed again on every
read, so:

- a part committed since the last read is new to the cache and gets indexed;
- a part replaced under the same name (a redo) has a new inode or ETag: indexed anew, the old
  entry is never matched again;
- a removed part is not in the listing, so never read;
- a part that changes between the listing and its indexing (`If-Match` fails, the inode moved) or
  whose footer cannot be read is *read*, not skipped, and not cached: the caller's filter still
  applies, so doubt costs bytes, never rows.

Why not a side object written at commit (a manifest or a per-part index file): it would be a
second object to keep in step with the part. A crash between the two PUTs leaves a part without
its index (or an index naming a part that never landed), concurrent writers on several machines
would contend on one manifest (conditional-put retries at every commit), and an older part written
before the index existed would need a fallback anyway. The part's own bytes cannot disagree with
the part, and need no commit protocol of their own. Why not the Parquet min/max statistics alone:
a shard's ids are not a range of the sort order in general (pending work after reruns, several
sources), so min/max prunes only a sorted plan; they are used here as a first, free test.
"""
from __future__ import annotations

import bisect
import io
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import conditional

log = logging.getLogger(__name__)
LOAD_THREADS = 16  # parts indexed at once
MAX_ENTRIES = 50_000  # parts remembered per process (an entry is one part's distinct keys: ~15 B per key)


@dataclass(frozen=True)
class PartRef:
    """One part as a listing saw it: the path pyarrow or the filesystem opens, and its identity."""

    path: str
    identity: tuple


@dataclass(frozen=True)
class PartKeys:
    """A part's distinct non-null keys, sorted, with their smallest and largest."""

    values: pa.Array

    @classmethod
    def of(cls, column: pa.ChunkedArray | pa.Array) -> "PartKeys":
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        arr = pc.drop_null(pc.unique(arr.cast(pa.string())))
        return cls(pc.take(arr, pc.sort_indices(arr)))

    def holds_any(self, wanted: "Wanted") -> bool:
        if len(self.values) == 0 or not wanted.sorted:
            return False
        lo, hi = self.values[0].as_py(), self.values[-1].as_py()
        i = bisect.bisect_left(wanted.sorted, lo)
        if i == len(wanted.sorted) or wanted.sorted[i] > hi:  # no wanted id inside [lo, hi]
            return False
        return bool(pc.any(pc.is_in(self.values, value_set=wanted.array)).as_py())


@dataclass(frozen=True)
class Wanted:
    """The ids one read asks for, sorted (for the min/max test) and as an Arrow array (for the exact one)."""

    sorted: list[str]
    array: pa.Array

    @classmethod
    def of(cls, ids: Sequence[str]) -> "Wanted":
        s = sorted({str(i) for i in ids if i is not None})
        return cls(s, pa.array(s, pa.string()))


class _Cache:
    """A bounded, thread-safe map from (path, identity, column) to PartKeys (oldest forgotten first)."""

    def __init__(self, limit: int = MAX_ENTRIES):
        self.limit, self._data, self._lock = limit, OrderedDict(), threading.Lock()

    def get(self, key: tuple) -> PartKeys | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, keys: PartKeys) -> None:
        with self._lock:
            self._data[key] = keys
            self._data.move_to_end(key)
            while len(self._data) > self.limit:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


CACHE = _Cache()


def local_identity(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def local_keys(path: str, column: str) -> tuple[tuple, PartKeys]:
    """The keys of a local part, and the identity of the file they were read from (fstat of that descriptor)."""
    with open(path, "rb") as fh:
        identity = local_identity(os.fstat(fh.fileno()))
        return identity, PartKeys.of(_key_column(pq.ParquetFile(fh), column))


def remote_keys(fs: Any, key: str, etag: str, size: int, column: str) -> PartKeys:
    """The keys of a remote part: its footer and key column by ranged GETs, each only if the ETag still matches."""
    if not etag:
        raise conditional.PreconditionFailed(f"{key}: the listing gave no ETag to pin the read to")
    with _RangedObject(fs, key, etag, size) as obj:
        return PartKeys.of(_key_column(pq.ParquetFile(obj), column))


def _key_column(pf: pq.ParquetFile, column: str) -> pa.ChunkedArray | pa.Array:
    if column not in pf.schema_arrow.names:  # a part of an older schema: the column is null there
        return pa.array([], pa.string())
    return pf.read(columns=[column]).column(0)


def parts_holding(parts: Sequence[PartRef], ids: Sequence[str], column: str,
                  load: Callable[[PartRef], tuple[tuple, PartKeys]]) -> list[PartRef]:
    """The parts (in the order given) that may hold any of `ids`; `load` indexes the parts not cached yet
    (up to `LOAD_THREADS` at once: on S3 each is one or two round trips).

    `load` returns the identity it actually read and the keys; they are cached under that identity.
    A part whose load fails, or whose identity moved since the listing, is kept (read, not skipped)."""
    wanted = Wanted.of(ids)
    known = _indexed(parts, column, load)
    return [p for p in parts if known[p] is None or known[p].holds_any(wanted)]


def union_keys(parts: Sequence[PartRef], column: str,
               load: Callable[[PartRef], tuple[tuple, PartKeys]]) -> tuple[set[str], list[PartRef]]:
    """The distinct non-null keys of `column` over `parts`, from the index (a part not cached yet is indexed
    first), and the parts that could not be indexed: the caller reads those itself, so nothing is missed."""
    known = _indexed(parts, column, load)
    out: set[str] = set()
    for keys in known.values():
        if keys is not None:
            out.update(keys.values.to_pylist())
    return out, [p for p in parts if known[p] is None]


def _indexed(parts: Sequence[PartRef], column: str,
             load: Callable[[PartRef], tuple[tuple, PartKeys]]) -> dict[PartRef, PartKeys | None]:
    """Each part's cached keys; the parts not cached yet are indexed, `LOAD_THREADS` at once (None: read it)."""
    known = {p: CACHE.get((p.path, p.identity, column)) for p in parts}
    missing = [p for p, keys in known.items() if keys is None]
    if missing:
        with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(missing))) as pool:
            for part, keys in zip(missing, pool.map(lambda p: _load(p, column, load), missing)):
                known[part] = keys
    return known


def _load(part: PartRef, column: str, load: Callable[[PartRef], tuple[tuple, PartKeys]]) -> PartKeys | None:
    """The part's keys, cached; None when the part must simply be read (unreadable, or changed since the listing)."""
    try:
        identity, keys = load(part)
    except Exception as exc:  # noqa: BLE001 - changed or unreadable part: read it rather than guess
        log.debug("not indexed, will be read: %s (%s)", part.path, exc)
        return None
    CACHE.put((part.path, identity, column), keys)
    return keys if identity == part.identity else None  # replaced after the listing: not what was listed


class _RangedObject(io.RawIOBase):
    """A read-only file over one S3 object version: each read the Parquet reader makes is one ranged GET
    with If-Match (the footer, then the key column's chunk); no HEAD, the size comes from the listing.
    A read inside bytes already fetched is served from them (a small part: one GET for the footer
    read, which covers the whole file). A replaced object fails with `conditional.PreconditionFailed`."""

    def __init__(self, fs: Any, key: str, etag: str, size: int):
        super().__init__()
        self.fs, self.key, self.etag, self._size, self._pos = fs, key, etag, size, 0
        self._fetched: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf) -> int:
        end = min(self._size, self._pos + len(buf))
        if end <= self._pos:
            return 0
        data = self._bytes(self._pos, end)
        buf[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def _bytes(self, start: int, end: int) -> bytes:
        for at, block in self._fetched:
            if at <= start and end <= at + len(block):
                return block[start - at:end - at]
        data = conditional.get_range(self.fs, self.key, start, end, self.etag)
        self._fetched.append((start, data))
        return data


def clear() -> None:
    """Forget every indexed part (tests and benchmarks that want a cold process)."""
    CACHE.clear()


