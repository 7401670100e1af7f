"""Atomic Parquet shard parts: each stage commits a shard's tables as parts that appear all at once or not at all."""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage import atomic, objects, part_index
from storage.layout import DataRoot


def part_name(stage: str, keys: Iterable[str]) -> str:
    """A deterministic part name for a shard: the same records give the same name, so a redo overwrites."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    return f"{stage}-{digest}"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file all at once (storage/atomic.py: temp file, fsync file and folder, rename)."""
    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def rows_to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts keyed by column) to a table with the explicit schema; missing keys become null."""
    if not rows:
        return schema.empty_table()
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    table = pa.Table.from_pydict(cols, schema=schema)
    for f in schema:
        if not f.nullable and table.column(f.name).null_count:
            raise ValueError(f"column {f.name!r} must not be null ({table.column(f.name).null_count} null rows)")
    return table


def table_bytes(table: pa.Table) -> bytes:
    """A table as the bytes of one Parquet file (what an object store gets in one PUT)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: cast where present, null where missing (parts of older schemas)."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def _is_part(name: str, prefix: str) -> bool:
    return name.endswith(".parquet") and name.startswith(prefix) and not name.startswith((".", "_"))


class TableStore:
    """The Parquet tables of one dataset root: read them whole, list keys, commit shard parts.

    Local parts are `Path`s; a remote root's parts are `PurePosixPath` keys (bucket/prefix/tables/…)
    read through the root's filesystem. Both have `.name`, and `str()` is what pyarrow opens."""

    def __init__(self, root: DataRoot):
        self.root = root

    def parts(self, table: str, prefix: str = "") -> list[Path | PurePosixPath]:
        if self.root.is_remote:
            base = self.root.table_dir(table)
            return [base / n for n in self.root.ls(self.root.table_rel(table)) if _is_part(n, prefix)]
        d = self.root.table_dir(table)
        return sorted(p for p in d.glob(f"{prefix}*.parquet") if not p.name.startswith((".", "_")))

    def read(self, table: str, schema: pa.Schema, columns: list[str] | None = None,
             filter=None) -> pa.Table:  # noqa: A002 - pyarrow's own name
        """The whole table (every part), optionally only `columns` and the rows `filter` keeps."""
        return self._read_parts([str(f) for f in self.parts(table)], schema, columns, filter)

    def read_records(self, table: str, schema: pa.Schema, ids: Iterable[str], column: str = "record_id",
                     columns: list[str] | None = None) -> pa.Table:
        """The rows whose `column` is one of `ids`, from only the parts that hold any of them.

        The same table `read(table, schema, columns, filter=ds.field(column).isin(ids))` gives (the
        same rows, in the same order), but a part none of `ids` is in is never opened (remote: never
        downloaded). Which part holds which ids is storage/part_index.py's per-process index, kept
        true by listing the table on every call (its docstring says why that is safe with
        concurrent writers and crashes)."""
        ids = list(ids)
        holding = part_index.parts_holding(self.part_refs(table), ids, column, self._key_loader(column))
        return self._read_parts([p.path for p in holding], schema, columns, ds.field(column).isin(ids))

    def part_refs(self, table: str) -> list[part_index.PartRef]:
        """The table's parts (in `parts()` order) with their identity: local inode/size/mtime, remote ETag/size."""
        if not self.root.is_remote:
            refs = []
            for p in self.parts(table):
                try:
                    refs.append(part_index.PartRef(str(p), part_index.local_identity(p.stat())))
                except FileNotFoundError:  # removed since the glob: reading it fails as `read` would
                    refs.append(part_index.PartRef(str(p), ()))
            return refs
        base = str(self.root.table_dir(table)).rstrip("/") + "/"
        try:
            entries = self.root.fs.ls(base.rstrip("/"), detail=True)
        except FileNotFoundError:
            return []
        found = {e["name"]: e for e in entries if e.get("type") != "directory" and e["name"].startswith(base)
                 and _is_part(e["name"][len(base):], "")}
        return [part_index.PartRef(name, (str(found[name].get("ETag") or ""), int(found[name].get("size") or 0)))
                for name in sorted(found)]

    def _key_loader(self, column: str):
        if not self.root.is_remote:
            return lambda part: part_index.local_keys(part.path, column)
        fs = self.root.fs
        return lambda part: (part.identity, part_index.remote_keys(fs, part.path, *part.identity, column))

    def _read_parts(self, files: list[str], schema: pa.Schema, columns: list[str] | None, filter) -> pa.Table:  # noqa: A002
        if not files:
            empty = schema.empty_table()
            return empty.select(columns) if columns else empty
        if self.root.is_remote:
            return self._read_remote(files, schema).to_table(columns=columns, filter=filter)
        dataset = ds.dataset(files, schema=schema, format="parquet")
        return dataset.to_table(columns=columns, filter=filter)

    def _read_remote(self, keys: list[str], schema: pa.Schema) -> ds.Dataset:
        """A remote table's parts, one GET each, sent concurrently (a part is one shard: small), as a dataset.

        A pyarrow dataset over the fsspec bridge sends two HEADs and a GET per part, one after
        another (19 requests, ~1 s for 6 parts against moto); this sends 6 GETs at once. Parts are conformed to `schema` as a dataset would:
        a column the part lacks is null, an extra one is dropped."""
        tables = [_conform(pq.read_table(pa.BufferReader(b)), schema) for b in objects.get_many(self.root.fs, keys)]
        return ds.dataset(pa.concat_tables(tables), schema=schema)

    def keys(self, table: str, schema: pa.Schema, column: str = "record_id", filter=None) -> set[str]:
        """The distinct non-null values of `column` (of the rows `filter` keeps).

        Without a filter, a string column's values come from the part index (storage/part_index.py):
        each part's column is read once per process, so a later call reads only parts new since."""
        if filter is None and pa.types.is_string(schema.field(column).type):
            found, unindexed = part_index.union_keys(self.part_refs(table), column, self._key_loader(column))
            if unindexed:  # changed since the listing or unreadable: read as `read` would (and fail as it would)
                col = self._read_parts([p.path for p in unindexed], schema, [column], None).column(column)
                found.update(v for v in col.to_pylist() if v is not None)
            return found
        col = self.read(table, schema, columns=[column], filter=filter).column(column)
        return {v for v in col.to_pylist() if v is not None}

    def keys_where(self, table: str, schema: pa.Schema, column: str, where: str, values: Iterable[str]) -> set[str]:
        """The distinct non-null `column` values of the rows whose `where` is one of `values`, reading only
        the parts that hold such a row (`read_records` on the `where` column)."""
        col = self.read_records(table, schema, values, where, [column]).column(column)
        return {v for v in col.to_pylist() if v is not None}

    def _write(self, table: str, name: str, data: pa.Table) -> None:
        if self.root.is_remote:  # one PUT of the whole file: the part appears complete or not at all
            self.root.write_bytes(f"{self.root.table_rel(table)}/{name}.parquet", table_bytes(data))
        else:
            write_atomic(data, self.root.table_dir(table) / f"{name}.parquet")

    def _remove(self, part: Path | PurePosixPath) -> None:
        if self.root.is_remote:
            self.root.fs.rm_file(str(part))
        else:
            Path(part).unlink()

    def commit(self, name: str, tables: Mapping[str, pa.Table], primary: str) -> None:
        """Write every table's part, the primary last: its rename (or PUT) is the shard's commit point.

        On a remote root, a commit whose lease is no longer the writer lock's (the flow process's own
        lock, or the token a worker was handed: `DataRoot.fence`) is refused before its first part is
        written (`object_lock.LeaseLost`), so it leaves no part at all."""
        self.root.fence()
        for table, data in tables.items():
            if table != primary:
                self._write(table, name, data)
        self._write(primary, name, tables[primary])

    def drop_orphans(self, stage: str, primary: str, secondaries: Iterable[str]) -> list[Path | PurePosixPath]:
        """Remove parts a crash left behind: secondary parts of `stage` whose primary part never landed."""
        committed = {p.name for p in self.parts(primary, prefix=f"{stage}-")}
        removed = []
        for table in secondaries:
            for part in self.parts(table, prefix=f"{stage}-"):
                if part.name not in committed:
                    self._remove(part)
                    removed.append(part)
        for table in (primary, *secondaries):
            if self.root.is_remote:
                objects.remove_temps(self.root.fs, str(self.root.table_dir(table)))
            else:
                atomic.remove_temps(self.root.table_dir(table))
        return removed

    def replace(self, table: str, data: pa.Table, name: str = "snapshot") -> None:
        """Replace a whole table by one part (for tables that are snapshots of another store); fenced as a commit."""
        self.root.fence()
        self._write(table, name, data)
        for part in self.parts(table):
            if part.name != f"{name}.parquet":
                self._remove(part)
