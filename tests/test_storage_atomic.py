"""storage/atomic.py: a write killed midway leaves the old bytes, and a lock held by another process refuses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import atomic

REPO = Path(__file__).resolve().parents[1]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=4096), st.binary(max_size=4096))
def test_a_rewrite_replaces_the_bytes_and_leaves_no_temp_file(tmp_path_factory, first, second):
    folder = tmp_path_factory.mktemp("w")
    target = folder / "sub" / "part.bin"
    atomic.write_bytes(target, first)
    atomic.write_bytes(target, second)
    assert target.read_bytes() == second
    assert [p.name for p in target.parent.iterdir()] == ["part.bin"]


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temp(tmp_path):
    target = tmp_path / "x.txt"
    atomic.write_text(target, "old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_with(target, broken)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_writer_killed_mid_write_leaves_the_old_content(tmp_path):
    """A real process is SIGKILLed while its temp file is half written; the target keeps the old bytes."""
    target = tmp_path / "big.bin"
    atomic.write_bytes(target, b"old")
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from storage import atomic
        def slow(tmp):
            with open(tmp, "wb") as fh:
                fh.write(b"x" * 1024)
                fh.flush()
                print("writing", flush=True)
                time.sleep(60)
        atomic.write_with(__import__("pathlib").Path({str(target)!r}), slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert target.read_bytes() == b"old"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(p.name.startswith(atomic.TEMP_PREFIX) for p in leftovers)
    assert atomic.remove_temps(tmp_path) == len(leftovers)
    assert list(tmp_path.iterdir()) == [target]


def test_publish_dir_moves_a_filled_staging_folder_into_place(tmp_path):
    staging = tmp_path / ".staging-v1"
    staging.mkdir()
    (staging / "a.json").write_text("[]")
    final = atomic.publish_dir(staging, tmp_path / "v1")
    assert (final / "a.json").read_text() == "[]" and not staging.exists()


def test_a_lock_held_by_another_process_is_refused_with_its_note(tmp_path):
    path = tmp_path / ".writer.lock"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from storage.atomic import FileLock
        held = FileLock(__import__("pathlib").Path({str(path)!r}), "running features").acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(atomic.LockBusy) as busy:
            atomic.FileLock(path).acquire()
        assert busy.value.holder == f"pid {proc.pid} running features"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the kernel drops an flock with its process
        proc.wait(timeout=10)
    for _ in range(50):
        try:
            lock = atomic.FileLock(path, "evaluate").acquire()
            assert path.read_text() == f"pid {os.getpid()} evaluate\n"
            lock.release()
            break
        except atomic.LockBusy:
            time.sleep(0.1)
    else:
        pytest.fail("the lock of a killed process was never released")
    assert path.read_text() == ""  # released: no stale holder note
