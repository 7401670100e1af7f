"""A table's keys come from the part index and equal a whole-table read's, on local and s3:// roots.

`TableStore.keys` (no filter) and `TableStore.keys_where` are what the generate and validate stages
read to find their pending work (quarantined records, request ids already paired or rejected, calls
rejected as failed). Checked against the old way (read every part, then the filter) on random part
layouts, and on moto's S3 server with the requests counted: a warm process only lists. Runs in ~15 s.
"""
from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import part_index
from storage.layout import DataRoot
from storage.parquet import TableStore, rows_to_table

SCHEMA = pa.schema([pa.field("request_id", pa.string()), pa.field("reason", pa.string()),
                    pa.field("n", pa.int64())])
OLD_SCHEMA = pa.schema([pa.field("n", pa.int64())])  # a part written before the table had these columns


def _old_keys(store: TableStore, column: str, filter=None) -> set[str]:  # noqa: A002
    col = store.read("t", SCHEMA, columns=[column], filter=filter).column(column)
    return {v for v in col.to_pylist() if v is not None}


def _part(rows: list[tuple[str | None, str | None]]) -> pa.Table:
    return rows_to_table([{"request_id": r, "reason": why, "n": i} for i, (r, why) in enumerate(rows)], SCHEMA)


@pytest.fixture()
def s3(s3_server, monkeypatch, tmp_path):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    part_index.clear()
    return s3_server


_id = st.sampled_from([f"q{i:02d}" for i in range(10)] + ["", "ünï", None])
_reason = st.sampled_from(["teacher_failed", "teacher_failed,no_context", "lead_not_usable", None])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.lists(st.tuples(_id, _reason), max_size=6), min_size=0, max_size=6), old=st.booleans(),
       wanted=st.lists(_reason.filter(lambda r: r is not None), min_size=1, max_size=2))
def test_keys_and_keys_where_equal_a_whole_table_read(tmp_path_factory, parts, old, wanted):
    store = TableStore(DataRoot.open(tmp_path_factory.mktemp("keys")))
    for k, rows in enumerate(parts):
        store.commit(f"s-{k}", {"t": _part(rows)}, primary="t")
    if old:
        store.commit("s-old", {"t": pa.table({"n": [1]}, schema=OLD_SCHEMA)}, primary="t")
    for _ in range(2):  # cold, then from the index
        assert store.keys("t", SCHEMA, "request_id") == _old_keys(store, "request_id")
        assert store.keys_where("t", SCHEMA, "request_id", "reason", wanted) == _old_keys(
            store, "request_id", ds.field("reason").isin(wanted))


def test_on_s3_a_warm_process_lists_and_reads_only_new_parts(s3):
    store = TableStore(DataRoot.open(s3.url(f"keys-{uuid.uuid4().hex[:8]}")))
    for k in range(6):
        store.commit(f"s-{k}", {"t": _part([(f"r{k}-{i}", "lead_not_usable") for i in range(40)])}, primary="t")
    store.commit("s-f", {"t": _part([("f-1", "teacher_failed")])}, primary="t")

    def sent(call):
        before = s3.requests(by_area=True)
        out = call()
        return out, {k: c for (k, area), c in (s3.requests(by_area=True) - before).items() if area == "tables/t"}

    whole, old = sent(lambda: _old_keys(store, "request_id"))
    assert old == {"LIST": 1, "GET": 7}
    cold_keys, cold = sent(lambda: store.keys("t", SCHEMA, "request_id"))
    assert cold_keys == whole and cold == {"LIST": 1, "GET": 7}, "cold: one ranged GET per small part"
    warm_keys, warm = sent(lambda: store.keys("t", SCHEMA, "request_id"))
    assert warm_keys == whole and warm == {"LIST": 1}, "warm: the listing only"
    store.commit("s-new", {"t": _part([("n-1", None)])}, primary="t")
    fresh, after = sent(lambda: store.keys("t", SCHEMA, "request_id"))
    assert fresh == whole | {"n-1"} and after == {"LIST": 1, "GET": 1}, "only the new part is read"
    failed, where = sent(lambda: store.keys_where("t", SCHEMA, "request_id", "reason", ["teacher_failed"]))
    assert failed == {"f-1"}
    assert where == {"LIST": 1, "GET": 8 + 1}, "the reason column indexed once per part, then the one part read"
    _, again = sent(lambda: store.keys_where("t", SCHEMA, "request_id", "reason", ["teacher_failed"]))
    assert again == {"LIST": 1, "GET": 1}


def test_a_part_replaced_after_the_listing_is_read_for_its_keys_not_skipped(s3, tmp_path):
    for root in (DataRoot.open(tmp_path / "local"), DataRoot.open(s3.url(f"keys-{uuid.uuid4().hex[:8]}"))):
        store = TableStore(root)
        store.commit("s-a", {"t": _part([("a1", None)])}, primary="t")
        listed = store.part_refs("t")
        store.commit("s-a", {"t": _part([("a2", None)])}, primary="t")  # a redo replaced it meanwhile
        found, unindexed = part_index.union_keys(listed, "request_id", store._key_loader("request_id"))
        assert found == set() and [p.path for p in unindexed] == [listed[0].path]
        assert store.keys("t", SCHEMA, "request_id") == {"a2"}
