"""The S3 writer lock's lease, against moto's real server: a dead holder on another machine is taken over once
its lease is over and not before, a live renewing one never, and two breakers cannot both win.

The holders are real processes (SIGKILLed where the test says so) that name another machine in the lock
body (`_machine` replaced in the child). Leases are a few seconds; the tests poll with generous
deadlines and compare the times they observed with the lease the lock body states, never with a
fixed sleep.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from storage import conditional, object_lock
from storage.object_lock import LockHolder, ObjectLock, ObjectLockBusy

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 90.0
HOLDER = textwrap.dedent("""
    import sys, time
    import storage.object_lock as L
    from storage import objects
    L._machine = lambda: sys.argv[2]  # this holder says it runs on another machine
    lock = L.ObjectLock(objects.s3_filesystem(), sys.argv[1], "running generate", lease_s=float(sys.argv[3]))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture()
def s3(s3_server, monkeypatch):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    return s3_server


@pytest.fixture()
def fs(s3):
    from storage.objects import s3_filesystem
    return s3_filesystem()


def _key(server) -> str:
    return f"{server.bucket}/lock-{uuid.uuid4().hex[:8]}/.writer.lock"


def _holder_process(server, key: str, machine: str, lease_s: float) -> subprocess.Popen:
    env = {**os.environ, **server.env(), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, key, machine, str(lease_s)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def _observed(fs, key: str) -> LockHolder:
    seen = conditional.get_versioned(fs, key)
    assert seen is not None
    return LockHolder.parse(seen[0])


def _attempt(fs, key: str) -> tuple[float, ObjectLock | None]:
    """One try to take the lock (no skew allowance: both sides use this machine's clock); when it ended."""
    lock = ObjectLock(fs, key, "running validate", lease_s=30, skew_s=0)
    try:
        lock.acquire()
    except ObjectLockBusy:
        return time.time(), None
    return time.time(), lock


def test_a_sigkilled_holder_on_another_machine_is_taken_over_after_its_lease_and_not_before(s3, fs):
    key = _key(s3)
    child = _holder_process(s3, key, "worker-9/feedface", lease_s=6)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    tries, deadline, won = [], time.monotonic() + DEADLINE_S, None
    while won is None and time.monotonic() < deadline:
        expires = _observed(fs, key).expires
        ended, won = _attempt(fs, key)
        tries.append((ended, expires, won is not None))
        time.sleep(0.2)
    assert won is not None, "the dead holder's lock was never taken over"
    try:
        assert all(not ok for ended, expires, ok in tries if ended <= expires), "taken before the lease was over"
        ended, expires, _ = tries[-1]
        assert ended > expires
        body = json.loads(fs.cat_file(key))
        assert (body["pid"], body["machine"], body["token"]) == (os.getpid(), object_lock._machine(), won.token)
    finally:
        won.release()
    assert not fs.exists(key)


def test_a_live_holder_on_another_machine_that_renews_is_never_broken(s3, fs):
    key = _key(s3)
    child = _holder_process(s3, key, "worker-3/c0ffee00", lease_s=2)
    try:
        first = _observed(fs, key)
        leases, tries, deadline = {first.expires}, [], time.monotonic() + DEADLINE_S
        # poll until the holder has renewed three times and we have tried past its first lease's end
        while (len(leases) < 4 or not any(ended > first.expires for ended, _ in tries)) and time.monotonic() < deadline:
            ended, lock = _attempt(fs, key)
            tries.append((ended, lock))
            leases.add(_observed(fs, key).expires)
            if lock is not None:
                lock.release()
            time.sleep(0.1)
        assert len(leases) >= 4, "the holder did not renew its lease"
        assert any(ended > first.expires for ended, _ in tries)
        assert all(lock is None for _, lock in tries), "a live, renewing holder was broken"
        assert _observed(fs, key).token == first.token
    finally:
        child.kill()
        child.wait()


def test_of_two_writers_breaking_the_same_stale_lock_only_one_gets_it(s3, fs, monkeypatch):
    key = _key(s3)
    stale = {"machine": "worker-7/0badc0de", "pid": 1, "note": "running render", "since": 0.0,
             "token": "dead", "expires": time.time() - 600, "lease_s": 120}
    fs.pipe_file(key, json.dumps(stale).encode())
    first = ObjectLock(fs, key, "running features", lease_s=30, skew_s=0)
    second = ObjectLock(fs, key, "running validate", lease_s=30, skew_s=0)
    real, raced = conditional.get_versioned, []

    def read_then_lose_the_race(fs_, key_):
        seen = real(fs_, key_)
        if not raced:  # `second` has read the stale lock; `first` breaks it before `second` can
            raced.append(True)
            first.acquire()
        return seen
    monkeypatch.setattr(conditional, "get_versioned", read_then_lose_the_race)
    try:
        with pytest.raises(ObjectLockBusy, match=f"pid {os.getpid()} on .* running features"):
            second.acquire()
        monkeypatch.setattr(conditional, "get_versioned", real)
        assert raced and _observed(fs, key).token == first.token and not second.token
    finally:
        first.release()
    assert not fs.exists(key)


def test_a_holder_whose_lease_was_taken_stops_renewing_and_leaves_the_new_lock_alone(s3, fs):
    key = _key(s3)
    lock = ObjectLock(fs, key, "running generate", lease_s=60).acquire()
    before = _observed(fs, key).expires
    assert lock.renew() and _observed(fs, key).expires > before
    other = {"machine": "worker-2/aaaabbbb", "pid": 7, "note": "running validate", "since": time.time(),
             "token": "theirs", "expires": time.time() + 60}
    fs.pipe_file(key, json.dumps(other).encode())  # another machine took it (our lease had run out)
    assert not lock.renew()
    assert "worker-2/aaaabbbb" in lock.lost
    lock.release()
    assert json.loads(fs.cat_file(key)) == other
    fs.rm_file(key)


def test_a_lock_body_that_is_not_ours_or_has_no_lease_is_never_breakable():
    here = object_lock._machine()
    now = time.time()
    assert not LockHolder.parse(b"not json").breakable(now, 0)
    assert not LockHolder.parse(b'{"machine": "m/1", "pid": 1}').breakable(now, 0)
    legacy = LockHolder("worker-1/00000000", 1, "", 0.0, "t")  # written before leases: no expiry
    assert not legacy.breakable(now + 10**9, 0)
    assert not LockHolder(here, os.getpid(), "", 0.0, "t", expires=now - 10**6).breakable(now, 0), \
        "a live process on this machine is never broken, lease or not"
    assert not LockHolder("worker-1/00000000", 1, "", 0.0, "t", expires=now - 10).breakable(now, 30), \
        "inside the skew allowance"
    assert LockHolder("worker-1/00000000", 1, "", 0.0, "t", expires=now - 31).breakable(now, 30)


def test_a_dataset_root_whose_lock_lease_ran_out_on_another_machine_is_written_again(s3, monkeypatch, tmp_path):
    from storage.layout import DataRoot, DataRootBusy
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    monkeypatch.setenv("GEMFLOW_LOCK_SKEW_S", "5")
    root = DataRoot.open(s3.url(f"lease-{uuid.uuid4().hex[:8]}"))
    body = {"machine": "worker-4/12345678", "pid": 1, "note": "running render", "since": 0.0, "token": "t"}
    root.write_bytes(".writer.lock", json.dumps({**body, "expires": time.time() + 600}).encode())
    with pytest.raises(DataRootBusy, match=r"pid 1 on worker-4/12345678 running render.*lease until"):
        with root.writer_lock("features"):
            pass
    root.write_bytes(".writer.lock", json.dumps({**body, "expires": time.time() - 60}).encode())
    with root.writer_lock("features"):  # its lease ended a minute ago, beyond the 5 s allowance
        held = json.loads(root.read_bytes(".writer.lock"))
        assert (held["pid"], held["note"]) == (os.getpid(), "running features") and held["expires"] > time.time()
    assert not root.exists(".writer.lock")
