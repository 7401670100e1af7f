"""s3:// dataset roots against a real S3 server (moto's standalone server, tests/s3_server.py).

Parts commit primary-last and a crashed shard's orphans are dropped from S3 listings; a process
SIGKILLed mid-commit leaves no partial part; signals, pages and exports round-trip; the ledger
mirror carries one machine's journal to another; the writer lock is a conditional-put object.
Each "machine" is a DataRoot with its own empty work folder (GEMFLOW_CACHE_DIR).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.config import GemflowConfig
from schemas.pairs import PAIRS_SCHEMA
from schemas.records import QUARANTINE_SCHEMA, RecordRef
from schemas.teacher import TeacherRequest, TeacherResponse
from storage import objects
from storage.layout import DataRoot, DataRootBusy, UnsupportedRoot, remote_location
from storage.ledger import Ledger
from storage.parquet import TableStore, rows_to_table
from storage.signals import read_signal, write_signal

REPO = Path(__file__).resolve().parents[1]
SIMPLE = pa.schema([pa.field("record_id", pa.string(), nullable=False), pa.field("v", pa.int64())])


@pytest.fixture()
def s3(s3_server, monkeypatch, tmp_path):
    """The server's env in this process, this test's own prefix, and a work folder for 'this machine'."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine-a"))
    return s3_server


def _url(server, name: str = "") -> str:
    return server.url(f"{name or 't'}-{uuid.uuid4().hex[:8]}")


def _on_machine(url: str, cache: Path, monkeypatch) -> DataRoot:
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(cache))
    return DataRoot.open(url)


def _keys(server, url: str) -> list[str]:
    prefix = url[len(f"s3://{server.bucket}/"):] + "/"
    return [k[len(prefix):] for k in server.keys(prefix)]


def _table(ids: list[str]) -> pa.Table:
    return rows_to_table([{"record_id": i, "v": n} for n, i in enumerate(ids)], SIMPLE)


def test_a_shard_commits_one_object_per_table_and_a_redo_overwrites_it(s3):
    url = _url(s3)
    root = DataRoot.open(url)
    assert root.is_remote and root.location == url
    store = TableStore(root)
    quarantine = rows_to_table([], QUARANTINE_SCHEMA)
    store.commit("ingest-aa", {"quarantine": quarantine, "records": _table(["r1", "r2"])}, primary="records")
    store.commit("ingest-aa", {"quarantine": quarantine, "records": _table(["r1", "r2"])}, primary="records")
    store.commit("ingest-bb", {"quarantine": quarantine, "records": _table(["r3"])}, primary="records")
    assert _keys(s3, url) == ["tables/quarantine/ingest-aa.parquet", "tables/quarantine/ingest-bb.parquet",
                              "tables/records/ingest-aa.parquet", "tables/records/ingest-bb.parquet"]
    assert store.keys("records", SIMPLE) == {"r1", "r2", "r3"}
    assert [p.name for p in store.parts("records", prefix="ingest-b")] == ["ingest-bb.parquet"]
    assert list(root.root.iterdir()) == [root.root / "ROOT"], "nothing but the marker is written locally"


def test_orphan_cleanup_on_s3_drops_secondaries_without_their_primary_and_upload_leftovers(s3):
    from tasks.features.stage import SHARDS
    url = _url(s3)
    root = DataRoot.open(url)
    store = TableStore(root)
    q = rows_to_table([{"record_id": "r9", "stage": "features", "reason": "x", "source": "s"}], QUARANTINE_SCHEMA)
    store.commit("features-done", {"beats": _table([]), "quarantine": q, "record_features": _table(["r1"])},
                 primary="record_features")
    root.write_bytes("tables/beats/features-dead.parquet", b"not committed")  # a crash before the primary PUT
    root.write_bytes("tables/quarantine/features-dead.parquet", b"not committed")
    root.write_bytes("tables/quarantine/ingest-other.parquet", b"another stage's part")
    root.write_bytes("tables/record_features/.tmp-123-features-x.parquet", b"a staged upload")
    assert SHARDS.drop_orphans(root) == 2
    assert _keys(s3, url) == ["tables/beats/features-done.parquet", "tables/quarantine/features-done.parquet",
                              "tables/quarantine/ingest-other.parquet", "tables/record_features/features-done.parquet"]


CRASH_CHILD = """
import os, sys, time
sys.path.insert(0, {repo!r})
import pyarrow as pa
from storage.layout import DataRoot
from storage.parquet import TableStore, rows_to_table
import storage.parquet as P
root = DataRoot.open({url!r})
store = TableStore(root)
real = TableStore._write
def slow(self, table, name, data):
    if table == "records":  # the primary: stop between the secondary's PUT and the commit point
        print("secondary written", flush=True)
        time.sleep(120)
    real(self, table, name, data)
TableStore._write = slow
ids = [f"r{{i}}" for i in range(50)]
rows = [dict(record_id=i, stage="ingest", reason="x", source="s") for i in ids]
from schemas.records import QUARANTINE_SCHEMA
t = pa.table({{"record_id": ids, "v": list(range(50))}})
store.commit("ingest-crash", {{"quarantine": rows_to_table(rows, QUARANTINE_SCHEMA), "records": t}}, primary="records")
"""

BIG_PUT_CHILD = """
import os, sys
sys.path.insert(0, {repo!r})
from storage.layout import DataRoot
root = DataRoot.open({url!r})
data = os.urandom({size})
print("putting", flush=True)
root.write_bytes("tables/records/ingest-big.parquet", data)
print("done", flush=True)
"""


def _spawn(code: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_a_writer_sigkilled_between_parts_leaves_no_primary_and_the_rerun_commits_cleanly(s3, tmp_path):
    from tasks.ingest.stage import SHARDS
    url = _url(s3)
    env = {**os.environ, "GEMFLOW_CACHE_DIR": str(tmp_path / "child")}
    child = _spawn(textwrap.dedent(CRASH_CHILD.format(repo=str(REPO), url=url)), env)
    assert child.stdout.readline().strip() == "secondary written"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert _keys(s3, url) == ["tables/quarantine/ingest-crash.parquet"], "the commit point was never reached"
    root = DataRoot.open(url)
    assert TableStore(root).keys("records", SIMPLE) == set()
    assert SHARDS.drop_orphans(root) == 1
    store = TableStore(root)
    store.commit("ingest-crash", {"quarantine": rows_to_table([], QUARANTINE_SCHEMA), "records": _table(["r1"])},
                 primary="records")
    assert store.keys("records", SIMPLE) == {"r1"} and store.keys("quarantine", QUARANTINE_SCHEMA) == set()


@pytest.mark.parametrize("size", [8 * 2**20, objects.SINGLE_PUT_MAX + 2**20], ids=["one-put", "staged-copy"])
def test_a_writer_sigkilled_mid_upload_never_leaves_a_partial_object(s3, tmp_path, size):
    """However far the upload got when the process died, the final key is absent or whole, never partial."""
    url = _url(s3)
    env = {**os.environ, "GEMFLOW_CACHE_DIR": str(tmp_path / "child")}
    child = _spawn(textwrap.dedent(BIG_PUT_CHILD.format(repo=str(REPO), url=url, size=size)), env)
    assert child.stdout.readline().strip() == "putting"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    root = DataRoot.open(url)
    final = "tables/records/ingest-big.parquet"
    if root.exists(final):  # the PUT (or the copy) completed before the kill: then it is all there
        assert root.size(final) == size
    assert not [k for k in _keys(s3, url) if k.endswith(".parquet") and k != final]
    objects.remove_temps(root.fs, str(root.table_dir("records")))
    assert [k for k in _keys(s3, url) if ".tmp-" in k] == []


def test_signals_round_trip_through_the_store_and_read_like_local_ones(s3, tmp_path):
    rng = np.random.default_rng(7)
    signal_mv = (rng.normal(0, 0.3, (12, 5000))).astype(np.float32)
    remote = DataRoot.open(_url(s3))
    local = DataRoot.open(tmp_path / "local")
    rel = write_signal(remote, "rec-1", "ptbxl", signal_mv, ["record_id: rec-1"])
    assert rel == write_signal(local, "rec-1", "ptbxl", signal_mv, ["record_id: rec-1"])
    for suffix in (".dat", ".hea"):
        assert remote.read_bytes(rel + suffix) == (local.root / (rel + suffix)).read_bytes()
    back = read_signal(remote, rel)
    assert back.shape == (12, 5000) and np.array_equal(back, read_signal(local, rel))
    assert np.max(np.abs(back - signal_mv)) <= 0.0005 + 1e-6


def test_a_page_rendered_on_s3_is_byte_identical_to_the_local_one_and_reused_on_rerun(s3, tmp_path):
    from schemas.images import IMAGES_SCHEMA, RenderSettings
    from tasks.render.stage import render_shard
    rng = np.random.default_rng(3)
    t = np.arange(5000) / 500
    sig = (0.8 * np.sin(2 * np.pi * 1.2 * t)[None, :] + rng.normal(0, 0.02, (12, 5000))).astype(np.float32)
    roots = {"s3": DataRoot.open(_url(s3)), "local": DataRoot.open(tmp_path / "local")}
    pages = {}
    for name, root in roots.items():
        item = RecordRef(record_id="rec-p", source="ptbxl", signal_path=write_signal(root, "rec-p", "ptbxl", sig, []))
        counts = render_shard(root.location, [item], RenderSettings())
        assert counts.rendered == 1
        row = TableStore(root).read("images", IMAGES_SCHEMA).to_pylist()[0]
        pages[name] = (row["path"], root.read_bytes(row["path"]), row["sha256"])
    assert pages["s3"] == pages["local"]
    again = render_shard(roots["s3"].location, [item], RenderSettings())
    assert again.reused == 1 and again.rendered == 0


def _pair(i: int) -> dict:
    return {"pair_id": f"pair{i:03d}", "record_id": f"r{i}", "patient_id": f"p{i // 2}", "source": "s",
            "instruction": "<image>\nq", "answer": f"a{i}", "teacher": "template", "model": "gemflow/template",
            "prompt_version": "v1", "request_id": f"q{i}", "round": 0, "feature_version": "f",
            "image_path": f"images/{i}.png", "ecg_path": f"signals/{i}"}


def test_an_export_on_s3_has_the_local_files_and_bytes_and_is_never_overwritten(s3, tmp_path):
    from tasks.export.llava import export_dataset
    rows = rows_to_table([_pair(i) for i in range(30)], PAIRS_SCHEMA)
    remote, local = DataRoot.open(_url(s3)), DataRoot.open(tmp_path / "local")
    results = {}
    for name, root in (("s3", remote), ("local", local)):
        TableStore(root).commit("validate-a", {"pairs": rows}, primary="pairs")
        results[name] = export_dataset(root, GemflowConfig())
    r, lo = results["s3"], results["local"]
    assert r.version == lo.version and r.created and r.counts == lo.counts
    assert r.path == f"{remote.location}/exports/{r.version}"
    for f in ("train.json", "val.json", "test.json", "pairs.parquet"):
        assert remote.read_bytes(f"exports/{r.version}/{f}") == (lo.path / f).read_bytes(), f
    assert remote.read_text("exports/LATEST").strip() == r.version
    assert remote.ls("exports", dirs_only=True) == [r.version]
    assert export_dataset(remote, GemflowConfig()).created is False


def _req(i: int) -> TeacherRequest:
    return TeacherRequest(request_id=f"q{i}", record_id=f"rec{i}", teacher="t", model="m", prompt_version="v1",
                          instruction="<image>\nq", messages=[{"role": "user", "content": "hi"}])


def test_the_ledger_mirror_carries_one_machines_journal_to_another_and_keeps_a_replaced_copy(s3, tmp_path,
                                                                                           monkeypatch):
    url = _url(s3)
    a = _on_machine(url, tmp_path / "a", monkeypatch)
    with Ledger(a.ledger_path) as ledger:
        ledger.register([_req(1), _req(2)])
        ledger.record(TeacherResponse(request_id="q1", status="ok", text="answer one", cost_usd=0.01))
    a.push_ledger()
    b = _on_machine(url, tmp_path / "b", monkeypatch)
    assert not (b.root / "ledger.sqlite").exists()
    with Ledger(b.ledger_path) as ledger:  # pulled: the local copy was missing
        assert ledger.counts() == {("t", "done"): 1, ("t", "pending"): 1}
        ledger.record(TeacherResponse(request_id="q2", status="ok", text="answer two", cost_usd=0.02))
    with b.writer_lock("generate"):  # letting the lock go uploads the changed ledger
        pass
    with Ledger(a.ledger_path) as ledger:  # a's copy is stale now: replaced by the store's
        assert ledger.counts() == {("t", "done"): 2}
        assert ledger.spent_usd() == pytest.approx(0.03)
    assert any(p.name.startswith("ledger.sqlite.replaced-") for p in a.root.iterdir()), "the old copy is kept"
    with Ledger(a.ledger_path) as ledger:  # in step with the store: read, not downloaded again
        ledger.counts()
    assert len([p for p in a.root.iterdir() if p.name.startswith("ledger.sqlite.replaced-")]) == 1
    assert not a.ledger_mirror().dirty(), "a reader leaves nothing to upload when it lets the lock go"


LOCK_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from storage.layout import DataRoot
root = DataRoot.open({url!r})
with root.writer_lock("generate"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_the_writer_lock_object_refuses_a_second_writer_and_is_taken_over_after_its_holder_is_killed(s3, tmp_path):
    url = _url(s3)
    env = {**os.environ, "GEMFLOW_CACHE_DIR": str(tmp_path / "child")}
    child = _spawn(textwrap.dedent(LOCK_CHILD.format(repo=str(REPO), url=url)), env)
    assert child.stdout.readline().strip() == "locked"
    root = DataRoot.open(url)
    holder = json.loads(root.read_bytes(".writer.lock"))
    assert holder["pid"] == child.pid and holder["note"] == "running generate"
    with pytest.raises(DataRootBusy, match=f"pid {child.pid} .* running generate"):
        with root.writer_lock("validate"):
            pass
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with root.writer_lock("validate"):  # same machine, holder gone: the stale lock is taken over
        assert json.loads(root.read_bytes(".writer.lock"))["pid"] == os.getpid()
    assert not root.exists(".writer.lock")


def test_a_lock_held_from_another_machine_is_refused_with_its_holder_and_the_key_to_delete(s3):
    root = DataRoot.open(_url(s3))
    other = {"machine": "worker-7/0badc0de", "pid": 1, "note": "running render", "since": time.time(), "token": "x"}
    root.write_bytes(".writer.lock", json.dumps(other).encode())
    with pytest.raises(DataRootBusy, match=r"pid 1 on worker-7/0badc0de running render.*delete s3://.*\.writer\.lock"):
        with root.writer_lock("features"):
            pass
    assert json.loads(root.read_bytes(".writer.lock")) == other, "someone else's lock is never removed"


SAFE_SEGMENT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
                       min_size=1, max_size=12).filter(lambda s: s not in (".", "..") and "/" not in s
                                                       and s == s.strip())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(SAFE_SEGMENT, min_size=1, max_size=3), data=st.binary(max_size=2048))
def test_any_key_inside_the_root_round_trips_and_lists(s3, segments, data):
    root = DataRoot.open(s3.url("prop"))
    rel = "/".join(["tables", "x", *segments])
    root.write_bytes(rel, data)
    assert root.read_bytes(rel) == data and root.exists(rel)
    parent, _, name = rel.rpartition("/")
    assert name in root.ls(parent)
    root.rm(rel)
    assert not root.exists(rel)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_a_root_url_is_normalised_or_refused_never_anything_else(tail):
    try:
        loc = remote_location("s3://" + tail)
    except UnsupportedRoot:
        return
    assert loc.startswith("s3://") and not loc.endswith("/") and "/../" not in loc + "/"
    assert remote_location(loc) == loc


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_relative_path_never_leaves_the_root(rel):
    root = DataRoot(Path("/unused"), "s3://bucket-x/pre", fs=object())
    try:
        key = root.fs_path(rel)
    except ValueError:
        return
    assert key == "bucket-x/pre" or key.startswith("bucket-x/pre/")
    assert ".." not in key[len("bucket-x/pre"):].split("/")


def _stage_run(location: str, src: Path, cfg: GemflowConfig) -> None:
    """Every stage's shard work, in order, each opening the root afresh from its location (as a worker does)."""
    from schemas.config import SourceConfig
    from tasks.features.stage import features_shard, pending_features
    from tasks.export.llava import export_dataset
    from tasks.ingest.stage import ingest_shard, pending_records
    from tasks.render.stage import pending_render, render_shard
    from tasks.teachers.stage import generate_shard, pending_generation
    from tasks.validate.stage import check_shard, commit_checked, duplicate_index, pending_validation
    source = SourceConfig(path=str(src))
    ingest_shard(source, cfg.ingest, location, pending_records(source, cfg.ingest, TableStore(DataRoot.open(location))))
    features_shard(location, pending_features(DataRoot.open(location)), cfg.features)
    render_shard(location, pending_render(DataRoot.open(location), cfg.render), cfg.render)
    generate_shard(location, pending_generation(DataRoot.open(location), "template", "v1"), cfg, "template", "v1")
    root = DataRoot.open(location)
    checked = check_shard(location, pending_validation(root, "template", "v1"), cfg)
    commit_checked(location, checked, duplicate_index(root, cfg))
    export_dataset(DataRoot.open(location), cfg)


def _rows(root: DataRoot) -> dict[str, list]:
    from schemas.tables import TABLE_SCHEMAS
    when = {"validated_at", "rejected_at"}
    out = {}
    for name, schema in TABLE_SCHEMAS.items():
        rows = TableStore(root).read(name, schema).to_pylist()
        out[name] = sorted(json.dumps({k: v for k, v in r.items() if k not in when}, sort_keys=True, default=str)
                           for r in rows)
    return out


@pytest.mark.slow
def test_every_stage_on_an_s3_root_gives_the_rows_and_bytes_of_a_local_root(s3, cinc2021_dir, tmp_path,
                                                                             monkeypatch):
    """Ingest to export on two real records; each stage on a fresh 'machine' (empty work folder) for the S3 root."""
    from tests.records_support import write_wfdb_copies
    src = write_wfdb_copies(cinc2021_dir, ("E07500", "JS20001"), tmp_path / "src")
    cfg = GemflowConfig()
    url = _url(s3, "stages")
    real_open, machines = DataRoot.open, iter(range(100))

    def on_a_new_machine(location):  # every open is another machine: only the store carries state
        if str(location).startswith("s3://"):
            monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / f"machine-{next(machines)}"))
        return real_open(location)
    monkeypatch.setattr(DataRoot, "open", staticmethod(on_a_new_machine))
    _stage_run(url, src, cfg)
    local = real_open(tmp_path / "local")
    _stage_run(local.location, src, cfg)
    remote = real_open(url)
    assert _rows(remote) == _rows(local)
    assert len(_rows(local)["pairs"]) + len(_rows(local)["rejections"]) == 2
    files = sorted(str(p.relative_to(local.root)) for p in local.root.rglob("*")
                   if p.is_file() and p.parts[len(local.root.parts)] in ("signals", "images", "exports"))
    assert any(f.endswith(".png") for f in files) and any(f.endswith("pairs.parquet") for f in files)
    for rel in files:
        if rel.endswith("pairs.parquet"):  # the export's pairs carry validated_at, a wall-clock time
            import pyarrow.parquet as pq
            tables = [pq.read_table(pa.BufferReader(b)).drop_columns(["validated_at"])
                      for b in (remote.read_bytes(rel), (local.root / rel).read_bytes())]
            assert tables[0].equals(tables[1])
            continue
        assert remote.read_bytes(rel) == (local.root / rel).read_bytes(), rel
    with Ledger(remote.ledger_path) as ledger:
        assert ledger.counts() == {("template", "done"): 2}
    secret = s3.secret_key.encode()
    assert not [k for k in _keys(s3, url) if secret in remote.read_bytes(k)], "the S3 secret reached the store"
    assert not [p for p in tmp_path.glob("machine-*/**/*") if p.is_file() and secret in p.read_bytes()]


@pytest.mark.slow
def test_a_render_run_sigkilled_through_the_cli_on_s3_is_finished_by_a_rerun(s3, cli_env, cinc2021_dir, tmp_path):
    """`gemflow render --data s3://…` is killed after its first shard commits; the rerun takes the dead run's
    lock over, draws only what is missing, and leaves one image row and one page per record."""
    from schemas.config import SourceConfig
    from schemas.images import IMAGES_SCHEMA
    from tasks.ingest.stage import ingest_shard, pending_records
    url = _url(s3, "cli")
    cfg = GemflowConfig()
    source = SourceConfig(path=str(cinc2021_dir))
    metas = pending_records(source, cfg.ingest, TableStore(DataRoot.open(url)), limit=4)
    ingest_shard(source, cfg.ingest, url, metas)
    config = tmp_path / "gemflow.yaml"
    config.write_text("shard_size: 1\n")
    env = {**cli_env, **s3.env(), "GEMFLOW_CACHE_DIR": str(tmp_path / "cli-machine")}
    cmd = [sys.executable, "-m", "ops.cli", "render", "--data", url, "--config", str(config), "--workers", "1"]
    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while not [k for k in _keys(s3, url) if k.startswith("tables/images/render-")]:
        assert first.poll() is None and time.monotonic() < deadline, "render never committed a shard"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    committed = [k for k in _keys(s3, url) if k.startswith("tables/images/")]
    assert ".writer.lock" in _keys(s3, url) and 1 <= len(committed) < 4, "killed mid-run, its lock left behind"
    rerun = subprocess.run(cmd + ["--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    done = json.loads(rerun.stdout)
    done = done.get("render", done)
    assert done["rendered"] + done["reused"] == 4 - len(committed), "only the shards never committed are redone"
    root = DataRoot.open(url)
    rows = TableStore(root).read("images", IMAGES_SCHEMA).to_pylist()
    assert sorted(r["record_id"] for r in rows) == sorted(m.record_id for m in metas)
    pages = [k for k in _keys(s3, url) if k.startswith("images/")]
    assert sorted(pages) == sorted(r["path"] for r in rows)
    assert all(hashlib.sha256(root.read_bytes(r["path"])).hexdigest() == r["sha256"] for r in rows)
    assert ".writer.lock" not in _keys(s3, url)


def test_evaluate_and_train_resolve_latest_on_the_store_and_name_an_export_it_lacks(s3):
    from model.data import export_dir
    from schemas.exports import NoSuchExport
    from storage.exports import resolve_export
    url = _url(s3)
    root = DataRoot.open(url)
    root.write_text("exports/LATEST", "abc\n")
    root.write_text("exports/old/pairs.parquet", "x")
    with pytest.raises(NoSuchExport, match=r"export 'abc' \(its pairs.parquet\) not found under s3://.*known: old"):
        resolve_export(root)
    with pytest.raises(NoSuchExport, match=r"export 'abc' \(its train.json\)"):
        export_dir(url, "latest")
    assert resolve_export(root, "old") == "old"


def test_a_remote_table_read_is_one_listing_and_one_get_per_part_and_conforms_older_parts(s3):
    root = DataRoot.open(_url(s3))
    store = TableStore(root)
    for s in range(3):
        store.commit(f"ingest-{s}", {"records": _table([f"r{s}-{i}" for i in range(5)])}, primary="records")
    older = pa.table({"record_id": ["old-1"]})  # a part written before the column `v` existed
    from storage.parquet import table_bytes
    root.write_bytes("tables/records/ingest-old.parquet", table_bytes(older))
    before = s3.requests()
    table = store.read("records", SIMPLE)
    for _ in range(50):  # the server logs a request just after answering it: let the last line land
        sent = s3.requests() - before
        if sum(sent.values()) >= 5:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    sent = s3.requests() - before
    assert table.num_rows == 16 and table.schema == SIMPLE
    assert [r for r in table.to_pylist() if r["record_id"] == "old-1"] == [{"record_id": "old-1", "v": None}]
    assert sent == {"LIST": 1, "GET": 4}, "no HEAD per part, no second GET"
