"""A writer that lost its S3 lock commits nothing (storage/object_lock.py, "Fencing"), against moto's real server.

Two real processes, each naming its own machine in the lock body (`_machine` replaced in the child,
as tests/test_storage_s3_lock.py does): A takes the root's writer lock and is paused with SIGSTOP,
so it cannot renew; once its lease is over, B takes the lock over and commits. A is then resumed
and asked to commit a part: it is refused (`LeaseLost`), its part never reaches the store, and B's
lock is left alone. Runs in ~15 s.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from storage import conditional
from storage.object_lock import LeaseLost, LockHolder, ObjectLock

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 90.0
WRITER = textwrap.dedent("""
    import sys
    import pyarrow as pa
    import storage.object_lock as L
    L._machine = lambda: sys.argv[2]  # this writer says it runs on its own machine
    from storage.layout import DataRoot
    from storage.parquet import TableStore
    root = DataRoot.open(sys.argv[1])
    with root.writer_lock("generate"):
        print("locked", flush=True)
        sys.stdin.readline()  # the test says when to commit
        try:
            TableStore(root).commit(sys.argv[3], {"t": pa.table({"record_id": ["r1"]})}, primary="t")
            print("committed", flush=True)
        except L.LeaseLost as exc:
            print("refused", type(exc).__name__, exc, flush=True)
        sys.stdin.readline()  # and when to let the lock go
""")


@pytest.fixture()
def s3(s3_server, monkeypatch, tmp_path):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    return s3_server


def _writer(server, url: str, machine: str, part: str, tmp: Path, lease_s: str) -> subprocess.Popen:
    env = {**os.environ, **server.env(), "PYTHONPATH": str(REPO), "GEMFLOW_CACHE_DIR": str(tmp / machine),
           "GEMFLOW_LOCK_LEASE_S": lease_s, "GEMFLOW_LOCK_SKEW_S": "0"}
    return subprocess.Popen([sys.executable, "-c", WRITER, url, machine, part], env=env, cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _say(child: subprocess.Popen, line: str = "go") -> str:
    child.stdin.write(line + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def test_a_writer_paused_past_its_lease_is_taken_over_and_its_commit_is_refused(s3, tmp_path):
    from storage.objects import s3_filesystem
    url = s3.url(f"fence-{uuid.uuid4().hex[:8]}")
    prefix = url[len("s3://"):]
    fs = s3_filesystem()
    a = _writer(s3, url, "machine-a", "generate-a", tmp_path, "2")
    b = None
    try:
        assert a.stdout.readline().strip() == "locked"
        os.kill(a.pid, signal.SIGSTOP)  # paused: no renewals from here on
        deadline = time.monotonic() + DEADLINE_S
        while True:  # B retries until A's lease is over (its writer_lock refuses while A's lease runs)
            b = _writer(s3, url, "machine-b", "validate-b", tmp_path, "30")
            first = b.stdout.readline().strip()
            if first == "locked":
                break
            assert "being written by another gemflow process" in b.communicate()[1]
            assert time.monotonic() < deadline, "B never took over the expired lease"
            time.sleep(0.5)
        assert _say(b) == "committed"
        os.kill(a.pid, signal.SIGCONT)
        answer = _say(a)
        assert answer.startswith("refused LeaseLost") and "machine-b" in answer, answer
        _say(a, "release")
        assert a.wait(60) == 0, a.stderr.read()
        under = prefix.split("/", 1)[1] + "/"  # the key prefix inside the bucket
        keys = {k[len(under):] for k in s3.keys(under)}
        assert "tables/t/validate-b.parquet" in keys
        assert "tables/t/generate-a.parquet" not in keys, "the writer that lost its lease committed nothing"
        holder = LockHolder.parse(conditional.get_versioned(fs, f"{prefix}/.writer.lock")[0])
        assert holder.machine == "machine-b", "A's release left B's lock alone"
        _say(b, "release")
        assert b.wait(60) == 0, b.stderr.read()
        assert conditional.get_versioned(fs, f"{prefix}/.writer.lock") is None, "B let its lock go"
    finally:
        for child in (a, b):
            if child is not None and child.poll() is None:
                os.kill(child.pid, signal.SIGCONT)
                child.kill()
                child.wait()


def test_a_holder_whose_renewals_stopped_refuses_to_commit_before_its_lease_ends(s3):
    from storage.objects import s3_filesystem
    fs = s3_filesystem()
    lock = ObjectLock(fs, f"{s3.bucket}/fence-{uuid.uuid4().hex[:8]}/.writer.lock", "running validate",
                      lease_s=20, skew_s=0).acquire()
    try:
        lock.check_held(margin_s=1)  # ours, 20 s left
        lock._stop.set()  # renewals stop (as when a holder is starved or its requests fail)
        lock._thread.join()
        with pytest.raises(LeaseLost, match="s left"):
            lock.check_held(margin_s=25)  # less lease left than a commit may take
        assert not lock.lost, "the lock is still ours: refusing is not losing it"
    finally:
        lock.release()
    with pytest.raises(LeaseLost, match="was lost"):
        lock.check_held()  # released: nothing more may be committed under it
