"""storage/staging.py against a real S3 server (moto, tests/s3_server.py): whole files or none, fetched once."""
from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from storage import staging
from storage.layout import DataRoot

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def root(s3_server, monkeypatch, tmp_path) -> DataRoot:
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine"))
    return DataRoot.open(s3_server.url(f"staging/{tmp_path.name}"))


def _gets(s3_server) -> int:
    return s3_server.requests()["GET"]


def test_staged_files_are_the_store_bytes_and_a_second_call_sends_no_request(root, s3_server):
    files = {f"images/a/{i}.png": os.urandom(1000 + i) for i in range(5)}
    for rel, data in files.items():
        root.write_bytes(rel, data)
    first = staging.stage_files(root, [*files, "images/a/absent.png"])
    assert (first.downloaded, first.reused, first.missing) == (5, 0, ["images/a/absent.png"])
    assert all((root.root / rel).read_bytes() == data for rel, data in files.items())
    before = s3_server.requests()
    again = staging.stage_files(root, list(files))
    assert (again.downloaded, again.reused) == (0, 5) and s3_server.requests() == before


def test_a_records_header_is_staged_first_then_the_data_files_it_names(root):
    header = "r1 2 500 10\nr1_a.dat 16 1000 16 0 0 0 0 I\nr1_b.dat 16 1000 16 0 0 0 0 II\n# age: 50\n"
    root.write_text("signals/x/r1.hea", header)
    root.write_bytes("signals/x/r1_a.dat", b"\x01" * 40)
    root.write_bytes("signals/x/r1_b.dat", b"\x02" * 40)
    done = staging.stage_records(root, ["signals/x/r1"])
    assert done.downloaded == 3 and not done.missing
    assert (root.root / "signals/x/r1_b.dat").read_bytes() == b"\x02" * 40


def test_a_multi_segment_record_stages_its_segments_headers_then_their_data_files(root):
    """A multi-segment header names segment records, not data files: each segment's header is staged, then
    the data files it names; the `~` gap and the layout segment's `~` signals name no file."""
    root.write_text("signals/x/m.hea", "m/3 2 500 30\nm_layout 0\nm_1 10\n~ 5\n")
    root.write_text("signals/x/m_layout.hea", "m_layout 2 500 0\n~ 0 1000 16 0 0 0 0 I\n~ 0 1000 16 0 0 0 0 II\n")
    root.write_text("signals/x/m_1.hea", "m_1 2 500 10\nm_1.dat 16 1000 16 0 0 0 0 I\nm_1.dat 16 1000 16 0 0 0 0 II\n")
    root.write_bytes("signals/x/m_1.dat", b"\x03" * 40)
    done = staging.stage_records(root, ["signals/x/m"])
    assert (done.downloaded, done.missing) == (4, [])
    assert (root.root / "signals/x/m_1.dat").read_bytes() == b"\x03" * 40
    assert staging.wfdb_files("m/2 2 500 20\nm_1 10\nm_2 10\n", "s/m") == ["s/m_1.hea", "s/m_2.hea"]


def test_a_completed_set_with_a_damaged_file_is_fetched_again(root):
    rels = ["exports/v1/train.json", "images/p.png"]
    for rel in rels:
        root.write_bytes(rel, b"x" * 500)
    staging.stage_files(root, rels)
    staging.mark_complete(root, "exports/v1/.staged.json", rels)
    assert staging.is_complete(root, "exports/v1/.staged.json")
    (root.root / "images/p.png").write_bytes(b"x" * 10)  # truncated on this disk
    assert not staging.is_complete(root, "exports/v1/.staged.json")
    assert not (root.root / "images/p.png").exists() and not (root.root / "exports/v1/.staged.json").exists()
    assert staging.stage_files(root, rels).downloaded == 1
    assert (root.root / "images/p.png").read_bytes() == b"x" * 500


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    async def read(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out


@pytest.mark.parametrize("resp, why", [
    ({"ContentLength": 20, "ETag": '"%s"' % hashlib.md5(b"a" * 10).hexdigest()}, "announced 20"),
    ({"ContentLength": 10, "ETag": '"%s"' % hashlib.md5(b"b" * 10).hexdigest()}, "MD5"),
])
def test_a_short_or_corrupt_download_is_refused(tmp_path, resp, why):
    with pytest.raises(staging.StagingError, match=why):
        asyncio.run(staging._write_body({**resp, "Body": _Body(b"a" * 10)}, tmp_path / "t", "images/p.png"))


def test_a_download_killed_midway_leaves_no_file_at_its_path_and_the_rerun_completes(root, s3_server, tmp_path):
    big = os.urandom(24 * 2**20)
    root.fs.pipe_file(root.fs_path("images/big.png"), big)
    script = ("import sys; from storage.layout import DataRoot; from storage import staging;"
              "staging.stage_files(DataRoot.open(sys.argv[1]), ['images/big.png'])")
    child = subprocess.Popen([sys.executable, "-c", script, root.location], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    folder = root.root / "images"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.name.startswith(".tmp-") and p.stat().st_size > 0
                                                  for p in (folder.iterdir() if folder.is_dir() else [])):
        assert child.poll() is None, "the download finished before it could be killed"
        time.sleep(0.005)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert not (folder / "big.png").exists()  # only the temp file: never a short final file
    done = staging.stage_files(root, ["images/big.png"])
    assert done.downloaded == 1 and (folder / "big.png").read_bytes() == big


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.from_regex(r"signals/[a-z]{1,3}/[a-z0-9]{1,8}", fullmatch=True))
def test_a_wfdb_header_of_any_text_names_only_files_beside_the_record(header, rel):
    names = staging.wfdb_files(header, rel)
    folder = rel.rsplit("/", 1)[0] + "/"
    assert all(n.startswith(folder) and "/" not in n[len(folder):] and n[len(folder):] not in (".", "..")
                         for n in names)
