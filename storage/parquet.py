"""Atomic Parquet shard parts: each stage commits a shard's tables as parts that appear all at once or not at all."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage import atomic
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


class TableStore:
    """The Parquet tables of one dataset root: read them whole, list keys, commit shard parts."""

    def __init__(self, root: DataRoot):
        self.root = root

    def parts(self, table: str, prefix: str = "") -> list[Path]:
        d = self.root.table_dir(table)
        return sorted(p for p in d.glob(f"{prefix}*.parquet") if not p.name.startswith((".", "_")))

    def read(self, table: str, schema: pa.Schema, columns: list[str] | None = None,
             filter=None) -> pa.Table:  # noqa: A002 - pyarrow's own name
        files = self.parts(table)
        if not files:
            empty = schema.empty_table()
            return empty.select(columns) if columns else empty
        dataset = ds.dataset([str(f) for f in files], schema=schema, format="parquet")
        return dataset.to_table(columns=columns, filter=filter)

    def keys(self, table: str, schema: pa.Schema, column: str = "record_id", filter=None) -> set[str]:
        col = self.read(table, schema, columns=[column], filter=filter).column(column)
        return {v for v in col.to_pylist() if v is not None}

    def commit(self, name: str, tables: Mapping[str, pa.Table], primary: str) -> None:
        """Write every table's part, the primary last: its rename is the shard's commit point."""
        for table, data in tables.items():
            if table != primary:
                write_atomic(data, self.root.table_dir(table) / f"{name}.parquet")
        write_atomic(tables[primary], self.root.table_dir(primary) / f"{name}.parquet")

    def drop_orphans(self, stage: str, primary: str, secondaries: Iterable[str]) -> list[Path]:
        """Remove parts a crash left behind: secondary parts of `stage` whose primary part never landed."""
        committed = {p.name for p in self.parts(primary, prefix=f"{stage}-")}
        removed = []
        for table in secondaries:
            for part in self.parts(table, prefix=f"{stage}-"):
                if part.name not in committed:
                    part.unlink()
                    removed.append(part)
        for table in (primary, *secondaries):
            atomic.remove_temps(self.root.table_dir(table))
        return removed

    def replace(self, table: str, data: pa.Table, name: str = "snapshot") -> None:
        """Replace a whole table by one part (for tables that are snapshots of another store)."""
        write_atomic(data, self.root.table_dir(table) / f"{name}.parquet")
        for part in self.parts(table):
            if part.name != f"{name}.parquet":
                part.unlink()
