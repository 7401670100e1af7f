"""The DuckDB catalog of an s3:// dataset root reads the Parquet parts over S3 (moto's standalone server).

The catalog file lives in this machine's work folder for the root; its views name s3:// URIs and are
read through DuckDB's fsspec bridge (`register_filesystem`), since `httpfs` cannot be installed offline.
A second machine with no catalog file of its own gets the same answers (built in memory).
"""
from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.pairs import EXPORT_PAIRS_SCHEMA, PAIRS_SCHEMA
from schemas.records import RECORDS_SCHEMA
from schemas.tables import TABLE_SCHEMAS
from storage.catalog import memory_catalog, query, refresh_catalog
from storage.layout import DataRoot
from storage.parquet import TableStore, rows_to_table


@pytest.fixture()
def s3_root(s3_server, monkeypatch, tmp_path):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine-a"))
    return DataRoot.open(s3_server.url(f"catalog-{uuid.uuid4().hex[:8]}"))


def _record(rid: str) -> dict:
    return {"record_id": rid, "source": "s", "source_kind": "wfdb", "path": f"/x/{rid}", "patient_id": f"p-{rid}",
            "signal_path": f"signals/s/00/{rid}", "labels": ["SR"]}


def _pair(rid: str) -> dict:
    return {"pair_id": f"pair-{rid}", "record_id": rid, "patient_id": f"p-{rid}", "instruction": "q", "answer": "a",
            "teacher": "t", "prompt_version": "v1", "request_id": f"req-{rid}"}


def test_catalog_views_over_s3_parts_count_every_committed_row(s3_root, tmp_path):
    store = TableStore(s3_root)
    store.commit("ingest-a", {"records": rows_to_table([_record("a"), _record("b")], RECORDS_SCHEMA)}, "records")
    store.commit("ingest-b", {"records": rows_to_table([_record("c")], RECORDS_SCHEMA)}, "records")
    assert refresh_catalog(s3_root, TABLE_SCHEMAS)
    assert s3_root.catalog_path.is_file() and str(tmp_path / "machine-a") in str(s3_root.catalog_path)
    assert query(s3_root, "select record_id from records order by 1") == [("a",), ("b",), ("c",)]
    # a part committed after the refresh is seen by the same view (it globs the prefix), as on a local root
    store.commit("ingest-c", {"records": rows_to_table([_record("d")], RECORDS_SCHEMA)}, "records")
    assert query(s3_root, "select count(*) from records") == [(4,)]
    for table in TABLE_SCHEMAS:  # the tables with no parts yet are empty typed tables
        query(s3_root, f"select count(*) from {table}")


def test_pairs_show_the_split_of_the_latest_export_on_s3(s3_root):
    store = TableStore(s3_root)
    pairs = rows_to_table([_pair("a"), _pair("b")], PAIRS_SCHEMA)
    store.commit("validate-x", {"pairs": pairs}, "pairs")
    with memory_catalog(s3_root, TABLE_SCHEMAS) as cat:
        assert cat.execute("select count(*) from pairs where split is null").fetchall() == [(2,)]
    exported = pa.Table.from_pylist([{**_pair("a"), "split": "train"}, {**_pair("b"), "split": "test"}],
                                    schema=EXPORT_PAIRS_SCHEMA)
    buf = io.BytesIO()
    pq.write_table(exported, buf)
    s3_root.write_bytes("exports/v1/pairs.parquet", buf.getvalue())
    s3_root.write_text("exports/LATEST", "v1\n")
    with memory_catalog(s3_root, TABLE_SCHEMAS) as cat:
        assert cat.execute("select pair_id, split from pairs order by 1").fetchall() == [
            ("pair-a", "train"), ("pair-b", "test")]


def test_a_machine_without_the_catalog_file_gets_the_same_answers(s3_root, monkeypatch, tmp_path):
    store = TableStore(s3_root)
    store.commit("ingest-a", {"records": rows_to_table([_record("a"), _record("b")], RECORDS_SCHEMA)}, "records")
    assert refresh_catalog(s3_root, TABLE_SCHEMAS)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine-b"))
    other = DataRoot.open(s3_root.location)
    assert not other.catalog_path.exists()
    assert query(other, "select count(*) from records") == [(2,)]
    assert not other.catalog_path.exists()  # a read builds nothing on disk


def test_a_query_over_s3_parts_sends_one_get_per_part_and_no_head(s3_root, s3_server):
    store = TableStore(s3_root)
    for i in range(5):
        store.commit(f"ingest-{i}", {"records": rows_to_table([_record(f"r{i}")], RECORDS_SCHEMA)}, "records")
    with memory_catalog(s3_root, TABLE_SCHEMAS) as cat:
        before = s3_server.requests()
        assert cat.execute("select count(*) from records").fetchall() == [(5,)]
        sent = s3_server.requests() - before
    # without the connection's listing cache s3fs sent a HEAD per part per open: 55 HEADs for 6 parts
    assert sent["HEAD"] == 0 and sent["GET"] == 5 and sent["LIST"] <= 1, sent
