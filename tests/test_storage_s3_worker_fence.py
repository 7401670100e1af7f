"""A shard committed on a worker process is fenced by the flow's lease (storage/object_lock.py, "Fencing").

Against moto's real server, with real processes, each naming its own machine in lock bodies (as in
tests/test_storage_s3_fence.py): A, the flow, takes the root's writer lock and hands a worker W its
`DataRoot.handle()`, pickled as Dask would send it. W, in its own process with its own work folder,
runs a real ingest shard with it, which commits. A is then paused past its lease and B takes the lock
over and commits. W's next shard, still under A's lease, is refused with `LeaseLost` naming B, and
leaves no part in any table and no signal. A process holding no lease at all is refused too while
B holds the lock. Runs in ~20 s.
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from storage.layout import DataRoot, RootHandle
from storage.object_lock import LeaseLost

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 90.0
FLOW = textwrap.dedent("""
    import pickle, sys
    import storage.object_lock as L
    L._machine = lambda: sys.argv[2]
    from storage.layout import DataRoot
    root = DataRoot.open(sys.argv[1])
    with root.writer_lock("ingest"):
        print(pickle.dumps(root.handle()).hex(), flush=True)
        sys.stdin.readline()  # the test says when to let the lock go
""")
WORKER = textwrap.dedent("""
    import pickle, sys
    import storage.object_lock as L
    L._machine = lambda: "machine-w"
    from schemas.config import IngestSettings, SourceConfig
    from storage.layout import DataRoot
    from storage.parquet import TableStore, rows_to_table
    from schemas.records import RECORDS_SCHEMA
    from tasks.ingest.sources import open_reader
    from tasks.ingest.stage import ingest_shard
    url, handle, source = sys.argv[1], pickle.loads(bytes.fromhex(sys.argv[2])), SourceConfig(path=sys.argv[3])
    metas = list(open_reader(source, IngestSettings()).discover())
    for line in sys.stdin:  # "shard N": ingest record N under the handle; "plain": a commit with no lease
        try:
            if line.startswith("shard"):
                counts = ingest_shard(source, IngestSettings(), handle, [metas[int(line.split()[1])]])
                print("committed", counts.ingested, flush=True)
            else:
                TableStore(DataRoot.open(url)).commit("ingest-plain", {"records": rows_to_table([], RECORDS_SCHEMA)},
                                                      primary="records")
                print("committed", flush=True)
        except L.LeaseLost as exc:
            print("refused", type(exc).__name__, exc, flush=True)
""")


def _env(server, tmp: Path, machine: str, lease_s: str) -> dict:
    return {**os.environ, **server.env(), "PYTHONPATH": str(REPO), "GEMFLOW_CACHE_DIR": str(tmp / machine),
            "GEMFLOW_LOCK_LEASE_S": lease_s, "GEMFLOW_LOCK_SKEW_S": "0"}


def _start(code: str, args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _say(child: subprocess.Popen, line: str) -> str:
    child.stdin.write(line + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def _take_over(s3, url: str, tmp: Path) -> subprocess.Popen:
    """B, on its own machine, retries until A's lease is over."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        b = _start(FLOW, [url, "machine-b"], _env(s3, tmp, "machine-b", "30"))
        if len(b.stdout.readline().strip()) > 20:  # its handle: B holds the lock
            return b
        assert "being written by another gemflow process" in b.communicate()[1]
        assert time.monotonic() < deadline, "B never took over the expired lease"
        time.sleep(0.5)


def _stop(*children: subprocess.Popen | None) -> None:
    for child in children:
        if child is not None and child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()


def test_a_worker_committing_under_a_lost_lease_is_refused_and_leaves_nothing(s3_server, tmp_path, cinc2021_dir):
    s3, url = s3_server, s3_server.url(f"wfence-{uuid.uuid4().hex[:8]}")
    under = url[len(f"s3://{s3.bucket}/"):] + "/"
    a = _start(FLOW, [url, "machine-a"], _env(s3, tmp_path, "machine-a", "3"))
    b = w = None
    try:
        handle_hex = a.stdout.readline().strip()
        handle = pickle.loads(bytes.fromhex(handle_hex))
        assert isinstance(handle, RootHandle) and handle.location == url and handle.lease
        assert handle.lease not in str(handle) + repr(handle), "the token stays out of logs and run names"
        w = _start(WORKER, [url, handle_hex, str(cinc2021_dir)], _env(s3, tmp_path, "machine-w", "3"))
        assert _say(w, "shard 0") == "committed 1", w.stderr.read() if w.poll() is not None else ""
        live = {k[len(under):] for k in s3.keys(under)}
        os.kill(a.pid, signal.SIGSTOP)  # the flow is paused: its lease runs out, nobody renews it
        b = _take_over(s3, url, tmp_path)
        answer = _say(w, "shard 1")
        assert answer.startswith("refused LeaseLost") and "was lost" in answer and "machine-b" in answer, answer
        after = {k[len(under):] for k in s3.keys(under)}
        assert after == live, f"the stale worker left {sorted(after - live)}"
        assert any(k.startswith("tables/records/") for k in live) and any(k.startswith("signals/") for k in live)
        plain = _say(w, "plain")
        assert plain.startswith("refused LeaseLost") and "holds no lease" in plain, plain
        assert not any("ingest-plain" in k for k in s3.keys(under))
    finally:
        _stop(a, b, w)


def test_the_handle_carries_the_held_lease_and_a_released_lease_fences_nothing_in(s3_server, tmp_path, monkeypatch):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    root = DataRoot.open(s3_server.url(f"handle-{uuid.uuid4().hex[:8]}"))
    assert root.handle() == RootHandle(root.location)  # no lock held: nothing to hand on
    with root.writer_lock("features"):
        handle = root.handle()
        assert handle.lease
        worker = DataRoot.open(handle)
        assert worker.lease == handle.lease and worker.handle() == handle  # a worker hands the same lease on
        worker.fence()  # the lease is live
        DataRoot.open(root.location).fence()  # a thread of the holding process: its own lock is checked
    with pytest.raises(LeaseLost, match="was lost") as lost:
        worker.fence()  # the flow let the lock go: its workers commit nothing more
    assert pickle.loads(pickle.dumps(lost.value)).taken, "a worker's LeaseLost reaches the flow as it was"
    DataRoot.open(root.location).fence()  # nobody holds the root: an unlocked write is as before


def test_run_stage_hands_its_shard_tasks_the_lease_it_holds(s3_server, tmp_path, monkeypatch):
    import flows.stages as stages
    from tasks.shards import Counts, ShardStage
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    root = DataRoot.open(s3_server.url(f"stage-{uuid.uuid4().hex[:8]}"))
    seen = []

    def fake_run_shards(name, head, pending, task, *args, **kw):
        seen.append((head, DataRoot.open(head).handle()))
        DataRoot.open(head).fence()
        return Counts()
    monkeypatch.setattr(stages, "run_shards", fake_run_shards)
    monkeypatch.setattr(stages, "refresh", lambda root: None)
    stages.run_stage(ShardStage("features", "record_features"), root, lambda: [], None, shard_size=1, zero=Counts())
    (head, again), = seen
    assert isinstance(head, RootHandle) and head.lease and again == head
