"""A shard's read of its records touches only the parts that hold them, and gives exactly what a whole-table read gives.

`TableStore.read_records` against `TableStore.read(filter=isin)` (the way every context read went
before): on random part layouts (local), on moto's S3 server with the requests it sends counted,
after parts are added, replaced under the same name (a redo) or removed, with a part replaced
between the listing and its indexing, and through `build_contexts` on real CinC-2021 records.
"""
from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.records import RECORDS_SCHEMA
from storage import part_index
from storage.layout import DataRoot
from storage.parquet import TableStore, rows_to_table
from tests.records_support import build_tables, copy_records

SCHEMA = pa.schema([pa.field("record_id", pa.string()), pa.field("v", pa.int64())])
OLD_SCHEMA = pa.schema([pa.field("v", pa.int64())])  # a part written before the table had record_id


def _whole(store: TableStore, table: str, ids: list[str], schema=SCHEMA) -> pa.Table:
    """The old way: every part, then the filter."""
    return store.read(table, schema, filter=ds.field("record_id").isin(ids))


def _part(ids: list[str | None]) -> pa.Table:
    return rows_to_table([{"record_id": i, "v": n} for n, i in enumerate(ids)], SCHEMA)


@pytest.fixture()
def s3(s3_server, monkeypatch, tmp_path):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    part_index.clear()
    return s3_server


_ids = st.sampled_from([f"r{i:02d}" for i in range(12)] + ["", "ünï", "r0", None])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.lists(_ids, max_size=8), min_size=1, max_size=6),
       wanted=st.lists(_ids.filter(lambda i: i is not None), min_size=1, max_size=6),
       old=st.booleans())
def test_the_rows_a_shard_reads_are_exactly_those_a_whole_table_read_keeps(tmp_path_factory, parts, wanted, old):
    store = TableStore(DataRoot.open(tmp_path_factory.mktemp("idx")))
    for n, ids in enumerate(parts):
        store.commit(f"s-{n}", {"t": _part(ids)}, primary="t")
    if old:  # a part of an older schema (no record_id column) holds none of the ids
        store.commit("s-old", {"t": pa.table({"v": [1, 2]}, schema=OLD_SCHEMA)}, primary="t")
    assert store.read_records("t", SCHEMA, wanted).equals(_whole(store, "t", wanted))
    assert store.read_records("t", SCHEMA, wanted, columns=["v"]).equals(
        store.read("t", SCHEMA, columns=["v"], filter=ds.field("record_id").isin(wanted)))


def _holding(store: TableStore, ids: list[str]) -> list[str]:
    refs = part_index.parts_holding(store.part_refs("t"), ids, "record_id", store._key_loader("record_id"))
    return [r.path.rsplit("/", 1)[-1] for r in refs]


def _each_root(tmp_path, server) -> list[TableStore]:
    roots = [DataRoot.open(tmp_path / "local")]
    if server is not None:
        roots.append(DataRoot.open(server.url(f"idx-{uuid.uuid4().hex[:8]}")))
    return [TableStore(r) for r in roots]


def test_new_replaced_and_removed_parts_are_seen_by_the_next_read(s3, tmp_path):
    for store in _each_root(tmp_path, s3):
        store.commit("s-a", {"t": _part(["a1", "a2"])}, primary="t")
        assert _holding(store, ["a1"]) == ["s-a.parquet"]
        store.commit("s-b", {"t": _part(["b1"])}, primary="t")  # committed after the first read
        assert _holding(store, ["b1", "a2"]) == ["s-a.parquet", "s-b.parquet"]
        store.commit("s-a", {"t": _part(["a9"])}, primary="t")  # a redo under the same name, other rows
        assert _holding(store, ["a1"]) == [], "the replaced part's old keys are not used again"
        assert store.read_records("t", SCHEMA, ["a9", "a1"]).equals(_whole(store, "t", ["a9", "a1"]))
        store._remove(store.parts("t")[0])
        assert _holding(store, ["a9", "b1"]) == ["s-b.parquet"]


def test_a_part_replaced_between_the_listing_and_its_indexing_is_read_not_skipped(s3, tmp_path):
    for store in _each_root(tmp_path, s3):
        store.commit("s-a", {"t": _part(["a1"])}, primary="t")
        listed = store.part_refs("t")  # the listing a shard saw ...
        store.commit("s-a", {"t": _part(["a2", "a3"])}, primary="t")  # ... then a redo replaced the part
        held = part_index.parts_holding(listed, ["zz"], "record_id", store._key_loader("record_id"))
        assert [r.path for r in held] == [listed[0].path], "a part that moved under the read is kept"
        assert part_index.CACHE.get((listed[0].path, listed[0].identity, "record_id")) is None
        assert store.read_records("t", SCHEMA, ["a2"]).column("record_id").to_pylist() == ["a2"]


def test_on_s3_a_shard_gets_only_its_own_parts_and_a_warm_process_only_lists(s3):
    store = TableStore(DataRoot.open(s3.url(f"idx-{uuid.uuid4().hex[:8]}")))
    for n in range(8):
        store.commit(f"s-{n}", {"t": _part([f"r{n}-{i}" for i in range(50)])}, primary="t")

    def sent(ids):
        before = s3.requests(by_area=True)
        table = store.read_records("t", SCHEMA, ids)
        return table, {k: c for (k, area), c in (s3.requests(by_area=True) - before).items() if area == "tables/t"}

    table, cold = sent(["r3-1", "r3-7"])
    assert table.equals(_whole(store, "t", ["r3-1", "r3-7"]))
    assert cold == {"LIST": 1, "GET": 8 + 1}, "cold: one ranged GET per small part to index it, then the part's GET"
    for n in (0, 5):
        table, warm = sent([f"r{n}-0"])
        assert warm == {"LIST": 1, "GET": 1}, "warm: a listing and the one part that holds the record"
        assert table.column("record_id").to_pylist() == [f"r{n}-0"]


@pytest.fixture(scope="module")
def cinc_store(cinc2021_dir, tmp_path_factory):
    """Six real records through ingest and features, two records per shard: three parts per table (about 3 s)."""
    tmp = tmp_path_factory.mktemp("ctx")
    src = copy_records(cinc2021_dir, ("E07500", "E07509", "HR06003", "JS20004", "JS20007", "E07501"), tmp / "src")
    return build_tables(src, tmp / "data", shard_size=2)


def test_contexts_built_from_a_shards_own_parts_equal_those_from_whole_tables(cinc_store, monkeypatch):
    from tasks.teachers.context import build_contexts
    ids = sorted(cinc_store.keys("records", RECORDS_SCHEMA))
    assert len(cinc_store.parts("beats")) >= 3 and len(ids) >= 5
    for subset in (ids[:1], ids[1:4], ids[::2] + ["not-a-record"], ids):
        new = build_contexts(cinc_store, subset)
        with monkeypatch.context() as m:  # the old way: every part of every table, then the filter
            m.setattr(TableStore, "read_records", lambda self, table, schema, want, column="record_id", columns=None:
                      self.read(table, schema, columns, filter=ds.field(column).isin(list(want))))
            old = build_contexts(cinc_store, subset)
        assert [c.model_dump() for c in new] == [c.model_dump() for c in old]
        assert [c.record_id for c in new] == [i for i in subset if i in ids]
