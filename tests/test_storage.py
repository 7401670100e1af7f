"""Storage: atomic shard commits, orphan cleanup, the DuckDB catalog, the request ledger, the writer lock."""
from __future__ import annotations

import duckdb
import pytest

from schemas.pairs import PAIRS_SCHEMA
from schemas.records import QUARANTINE_SCHEMA, RECORDS_SCHEMA
from schemas.tables import TABLE_SCHEMAS
from schemas.teacher import TeacherRequest, TeacherResponse
from storage.catalog import refresh_catalog
from storage.layout import DataRoot, DataRootBusy
from storage.ledger import Ledger
from storage.parquet import TableStore, part_name, rows_to_table


def _rec(rid: str) -> dict:
    return {"record_id": rid, "source": "s", "source_kind": "wfdb", "path": f"/x/{rid}", "patient_id": rid,
            "signal_path": f"signals/s/00/{rid}", "labels": ["SR"]}


def test_part_names_are_deterministic_per_shard():
    assert part_name("ingest", ["b", "a"]) == part_name("ingest", ["a", "b"]) != part_name("ingest", ["a"])


def test_commit_writes_the_primary_last_and_a_redo_overwrites(tmp_path):
    store = TableStore(DataRoot.open(tmp_path))
    name = part_name("ingest", ["a", "b"])
    tables = {"quarantine": rows_to_table([], QUARANTINE_SCHEMA),
              "records": rows_to_table([_rec("a"), _rec("b")], RECORDS_SCHEMA)}
    store.commit(name, tables, primary="records")
    store.commit(name, tables, primary="records")
    assert store.read("records", RECORDS_SCHEMA).num_rows == 2
    assert store.keys("records", RECORDS_SCHEMA) == {"a", "b"}
    assert not list(store.root.table_dir("records").glob(".tmp-*"))


def test_orphan_secondary_parts_from_a_crash_are_dropped(tmp_path):
    store = TableStore(DataRoot.open(tmp_path))
    bad = {"record_id": "x", "stage": "features", "reason": "r", "detail": ""}
    # a crash after the quarantine part landed but before the primary part did
    from storage.parquet import write_atomic
    write_atomic(rows_to_table([bad], QUARANTINE_SCHEMA), store.root.table_dir("quarantine") / "features-dead.parquet")
    write_atomic(rows_to_table([bad], QUARANTINE_SCHEMA), store.root.table_dir("quarantine") / "ingest-keep.parquet")
    removed = store.drop_orphans("features", "record_features", ["quarantine"])
    assert [p.name for p in removed] == ["features-dead.parquet"]
    assert [p.name for p in store.parts("quarantine")] == ["ingest-keep.parquet"]


def test_catalog_exposes_every_table_by_name_even_when_empty(tmp_path):
    root = DataRoot.open(tmp_path)
    TableStore(root).commit("ingest-x", {"records": rows_to_table([_rec("a")], RECORDS_SCHEMA)}, primary="records")
    assert refresh_catalog(root, TABLE_SCHEMAS)
    con = duckdb.connect(str(root.catalog_path), read_only=True)
    assert con.execute("select record_id, labels from records").fetchall() == [("a", ["SR"])]
    for table in TABLE_SCHEMAS:
        con.execute(f"select count(*) from {table}").fetchone()
    assert [c[0] for c in con.execute("describe pairs").fetchall()][:3] == ["pair_id", "record_id", "patient_id"]
    con.close()


def test_catalog_refresh_reports_false_while_a_user_holds_it_open(tmp_path):
    root = DataRoot.open(tmp_path)
    refresh_catalog(root, TABLE_SCHEMAS)
    holder = duckdb.connect(str(root.catalog_path))
    try:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            assert pool.apply(refresh_catalog, (root, TABLE_SCHEMAS)) is False
    finally:
        holder.close()


def _req(i: int) -> TeacherRequest:
    return TeacherRequest(request_id=f"r{i}", record_id=f"rec{i}", teacher="t", model="m", prompt_version="v1",
                          instruction="<image>\nq", messages=[{"role": "user", "content": "hi"}])


def test_ledger_journals_before_and_after_and_counts_resends(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.register([_req(1), _req(2)]) == 2
        assert ledger.register([_req(1)]) == 0
        ledger.mark_sent("r1")
        ledger.mark_sent("r1")  # in flight at a crash, then sent again
        ledger.record(TeacherResponse(request_id="r1", status="ok", text="answer", input_tokens=10,
                                      output_tokens=5, cost_usd=0.25))
        assert ledger.states(["r1", "r2"]) == {"r1": "done", "r2": "pending"}
        assert [r.request_id for r in ledger.unfinished()] == ["r2"]
        assert ledger.resent() == 1 and ledger.spent_usd() == pytest.approx(0.25)
        snap = ledger.snapshot()
    assert snap.num_rows == 2 and snap.schema == TABLE_SCHEMAS["responses"]
    row = next(r for r in snap.to_pylist() if r["request_id"] == "r1")
    assert row["status"] == "done" and row["text"] == "answer" and row["sends"] == 2


def test_a_second_writer_gets_a_clear_error(tmp_path):
    root = DataRoot.open(tmp_path)
    import multiprocessing as mp
    with root.writer_lock("test"):
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            msg = pool.apply(_try_lock, (str(tmp_path),))
    assert "being written by another gemflow process" in msg and "running test" in msg


def _try_lock(path: str) -> str:
    try:
        with DataRoot.open(path).writer_lock("other"):
            return "acquired"
    except DataRootBusy as exc:
        return str(exc)


def test_rows_to_table_uses_the_explicit_schema():
    table = rows_to_table([{"record_id": "a", "stage": "ingest", "reason": "r"}], QUARANTINE_SCHEMA)
    assert table.schema == QUARANTINE_SCHEMA and table.column("detail").to_pylist() == [None]
    assert rows_to_table([], QUARANTINE_SCHEMA).schema == QUARANTINE_SCHEMA
    with pytest.raises(ValueError, match="'reason' must not be null"):
        rows_to_table([{"record_id": "a", "stage": "ingest", "reason": None}], QUARANTINE_SCHEMA)


def test_a_stage_drops_a_crashed_shards_orphans_before_it_looks_for_pending_work(tmp_path):
    """A features quarantine part whose record_features part never landed must not count the record as done."""
    from schemas.records import RecordRef
    from tasks.features.stage import SHARDS, pending_features
    store = TableStore(DataRoot.open(tmp_path))
    store.commit("ingest-x", {"records": rows_to_table([_rec("a"), _rec("b")], RECORDS_SCHEMA)}, primary="records")
    from storage.parquet import write_atomic
    orphan = {"record_id": "a", "source": "s", "stage": "features", "reason": "not measurable", "detail": ""}
    write_atomic(rows_to_table([orphan], QUARANTINE_SCHEMA), store.root.table_dir("quarantine") / "features-dead.parquet")
    assert [r.record_id for r in pending_features(store.root)] == ["b"]  # the orphan hides record a
    assert SHARDS.drop_orphans(store.root) == 1
    assert pending_features(store.root) == [RecordRef("a", "s", "signals/s/00/a"), RecordRef("b", "s", "signals/s/00/b")]


def test_counts_add_field_by_field_and_refuse_another_stages_counts():
    from tasks.features.stage import FeatureCounts
    from tasks.render.stage import RenderCounts
    assert FeatureCounts(1, 2, 3) + FeatureCounts(10, 20, 30) == FeatureCounts(11, 22, 33)
    assert (RenderCounts(rendered=1) + RenderCounts(reused=2)).as_dict() == {"rendered": 1, "reused": 2, "quarantined": 0}
    with pytest.raises(TypeError, match="cannot add RenderCounts to FeatureCounts"):
        FeatureCounts() + RenderCounts()


def test_rejections_keep_violations_as_structs_and_status_counts_each_rule_once_per_response(tmp_path):
    """The violations column is list<struct{rule, detail, span}>; a part from before it existed still counts."""
    import pyarrow as pa

    from schemas.pairs import REJECTIONS_SCHEMA
    from tasks.status import collect_status
    from tasks.validate.report import quality_report
    root = DataRoot.open(tmp_path)
    store = TableStore(root)
    assert REJECTIONS_SCHEMA.field("violations").type == pa.list_(pa.struct(
        [("rule", pa.string()), ("detail", pa.string()), ("span", pa.string())]))
    two = [{"rule": "numeric_claim", "detail": "QRS 80 ms, measured 120", "span": "QRS of 80 ms"},
           {"rule": "numeric_claim", "detail": "HR 60, measured 75", "span": "60 bpm"},
           {"rule": "leads", "detail": "V7 is not a recorded lead", "span": "V7"}]
    rows = [{"request_id": "q1", "record_id": "r1", "reason": "numeric_claim,leads", "detail": "[]", "violations": two},
            {"request_id": "q2", "record_id": "r2", "reason": "leads", "detail": "[]", "violations": [two[2]]}]
    store.commit("validate-new", {"pairs": rows_to_table([], PAIRS_SCHEMA),
                                  "rejections": rows_to_table(rows, REJECTIONS_SCHEMA)}, primary="pairs")
    old = REJECTIONS_SCHEMA.remove(REJECTIONS_SCHEMA.get_field_index("violations"))
    legacy = pa.Table.from_pylist([{"request_id": "q3", "record_id": "r3", "reason": "empty,leads", "detail": "[]"}],
                                  schema=old)
    from storage.parquet import write_atomic
    write_atomic(legacy, root.table_dir("rejections") / "validate-old.parquet")
    stored = store.read("rejections", REJECTIONS_SCHEMA).to_pylist()
    assert sorted(r["request_id"] for r in stored if r["violations"]) == ["q1", "q2"]
    assert next(r for r in stored if r["request_id"] == "q1")["violations"][0]["span"] == "QRS of 80 ms"
    expected = [("leads", 3), ("empty", 1), ("numeric_claim", 1)]
    assert collect_status(root).rejections == expected
    assert quality_report(root).rejections_by_rule == expected


@pytest.mark.parametrize("uri", ["gs://bucket/x", "file:///tmp/x", "s3://", "s3:///x", "s3://bucket/a/../b"])
def test_an_unsupported_or_malformed_uri_root_is_refused_instead_of_becoming_a_local_folder(tmp_path, monkeypatch, uri):
    from storage.layout import UnsupportedRoot
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedRoot, match="s3://"):
        DataRoot.open(uri)
    assert list(tmp_path.iterdir()) == []  # no ./s3:/bucket/prefix folder was made
