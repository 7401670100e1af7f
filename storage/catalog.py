"""The DuckDB catalog: one file per dataset root whose views carry the table names users query.

On a local root the file is `<root>/catalog.duckdb`. On an object-store root (`s3://bucket/prefix`)
it lives in this machine's work dir for that root (`root.catalog_path`, under $GEMFLOW_CACHE_DIR),
since the store cannot hold an open DuckDB file, and its views read `s3://…/tables/<t>/*.parquet`.
DuckDB reads those through its fsspec bridge: `con.register_filesystem(root.fs)`, the same s3fs
client (endpoint, credentials) the stages write with. DuckDB's own `httpfs` extension is not used:
it is downloaded at `INSTALL httpfs`, which needs extensions.duckdb.org (docs/scaling.md).
A connection that opens the file without registering the filesystem cannot read the views.
"""
from __future__ import annotations

import logging

import duckdb
import pyarrow as pa

from schemas.exports import NoSuchExport
from storage.exports import resolve_export
from storage.layout import DataRoot
from storage.parquet import TableStore

log = logging.getLogger(__name__)


def refresh_catalog(root: DataRoot, schemas: dict[str, pa.Schema]) -> bool:
    """(Re)create one view per table over its Parquet parts, or an empty typed table when none exist.

    Returns False (and logs why) when another process holds the catalog open, for example
    a user's `duckdb` shell: the Parquet tables stay the source of truth and the next stage
    refreshes the catalog again.
    """
    try:
        con = _connect(root, str(root.catalog_path))
    except duckdb.IOException as exc:
        log.warning("catalog %s not refreshed (in use elsewhere): %s", root.catalog_path, exc)
        return False
    try:
        attach_views(con, root, schemas)
    finally:
        con.close()
    return True


def attach_views(con: duckdb.DuckDBPyConnection, root: DataRoot, schemas: dict[str, pa.Schema]) -> None:
    """One view per table over its Parquet parts (an empty typed table when it has none yet)."""
    store = TableStore(root)
    for name, schema in schemas.items():
        _drop(con, name)
        select = _with_split(root) if name == "pairs" else "SELECT * FROM {src}"
        if store.parts(name):
            src = f"read_parquet('{_quote(root.path(root.table_rel(name)) + '/*.parquet')}', union_by_name=true)"
            con.execute(f"CREATE VIEW {name} AS " + select.format(src=src))
        else:
            empty = schema.empty_table()  # noqa: F841 - referenced by DuckDB's replacement scan
            con.execute(f"CREATE TABLE {name} AS " + select.format(src="empty"))


def _quote(text: str) -> str:
    return text.replace("'", "''")


_NOT_SPLIT = "COLUMNS(lambda c: c NOT IN ('split', '_pair_id'))"  # parts validated before the split moved to export carry one


def _with_split(root: DataRoot) -> str:
    """The `pairs` query: the validated pairs with the split the latest export gave them (null: not exported yet).

    The split is decided at export from the config then in force (tasks/export/llava.py), so the
    catalog shows that decision instead of storing a second, possibly stale, one."""
    latest = _latest_export_pairs(root)
    if latest is None:
        return f"SELECT {_NOT_SPLIT}, NULL::VARCHAR AS split FROM {{src}}"
    exported = f"(SELECT pair_id AS _pair_id, split FROM read_parquet('{_quote(latest)}'))"
    return (f"SELECT {_NOT_SPLIT}, e.split FROM {{src}} AS p"
            f" LEFT JOIN {exported} AS e ON p.pair_id = e._pair_id")


def _latest_export_pairs(root: DataRoot) -> str | None:
    """Where the LATEST export's pairs.parquet is (a path or an s3:// URI), or None before the first export."""
    try:
        return root.path(f"exports/{resolve_export(root)}/pairs.parquet")
    except NoSuchExport:
        return None


def _connect(root: DataRoot, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read the root's Parquet: on an object store, through the root's fsspec client."""
    con = duckdb.connect(database, read_only=read_only)
    if root.is_remote:
        con.register_filesystem(_snapshot_fs(root.fs))
    return con


def _snapshot_fs(fs):
    """A new client like `fs` (same endpoint and credentials) that caches listings for its own lifetime.

    DuckDB opens every part through fsspec, and an s3fs without a listing cache sends a HEAD for each
    open (about 9 per part per query); with the cache the sizes come from the one LIST of the glob, so a
    query costs a LIST and a GET per part. The client lives as long as the connection, so a connection
    sees the parts that existed at its first read of a table: a snapshot; the next connection lists again."""
    return type(fs)(**{**fs.storage_options, "use_listings_cache": True, "skip_instance_cache": True})


def memory_catalog(root: DataRoot, schemas: dict[str, pa.Schema]) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the same views: reads never contend with a writer's catalog lock."""
    con = _connect(root)
    attach_views(con, root, schemas)
    return con


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")


def query(root: DataRoot, sql: str) -> list[tuple]:
    """Run one read-only query on the catalog (an object-store root that has no catalog on this machine: built in memory)."""
    if root.is_remote and not root.catalog_path.exists():
        from schemas.tables import TABLE_SCHEMAS
        con = memory_catalog(root, TABLE_SCHEMAS)
    else:
        con = _connect(root, str(root.catalog_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
