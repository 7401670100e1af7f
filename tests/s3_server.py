"""A real S3-compatible server for tests and benchmarks: moto's standalone server on 127.0.0.1, one bucket.

`moto_s3()` starts `python -m moto.server` (moto[server] from PyPI) as its own process on a free
loopback port, waits until it answers, creates the bucket and yields an `S3Server`: the endpoint,
the (fake) credentials and `env()`, the variables a child process (the CLI, a Dask worker) needs to
reach it through boto3/s3fs/pyarrow. The server is killed when the context exits. It keeps objects
in memory, so every start is an empty store.

pytest: the session fixture `s3_server` (tests/conftest.py) wraps it.
Alone (benchmarks, by hand): `python tests/s3_server.py` prints the endpoint and serves until ^C.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

BUCKET = "gemflow-test"
# moto accepts any credentials; these are fixed so a leak into logs or Parquet is easy to search for.
ACCESS_KEY = "AKIAGEMFLOWTEST0000"
SECRET_KEY = "gemflow-moto-secret-5ec2e7-do-not-leak"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """One running moto server and its bucket."""

    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    log_path: str = ""  # the server's request log (werkzeug: one line per HTTP request)

    def url(self, prefix: str = "") -> str:
        """An s3:// URI inside the bucket: `url("run1")` -> s3://gemflow-test/run1."""
        return f"s3://{self.bucket}/{prefix.strip('/')}".rstrip("/")

    def env(self) -> dict[str, str]:
        """The variables boto3, s3fs and pyarrow read to reach this server (for os.environ or a child's env)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # never read a developer's ~/.aws profile or an instance role instead of the test server
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self):
        """A boto3 S3 client on this server (for assertions: list keys, read objects)."""
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under `prefix`, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


    def requests(self, by_area: bool = False) -> Counter:
        """HTTP requests the server has answered so far, by kind: GET, PUT, HEAD, DELETE, POST, and LIST
        (a GET on the bucket itself: a listing). Diff two calls to count what one step sent.

        `by_area`: keyed by (kind, area) instead, the area being the part of the key (or of a listing's
        prefix) under the root prefix: `tables/<table>`, `signals`, `images`, `exports`, `ledger.sqlite`…"""
        counts: Counter = Counter()
        if not self.log_path:
            return counts
        with open(self.log_path, errors="replace") as fh:
            for line in fh:
                m = _REQUEST_LINE.search(line)
                if m and not m.group(2).startswith("/moto-api"):
                    kind, area = self._classify(m.group(1), m.group(2))
                    counts[(kind, area) if by_area else kind] += 1
        return counts

    def _classify(self, method: str, target: str) -> tuple[str, str]:
        path, _, query = target.partition("?")
        path = urllib.parse.unquote(path).strip("/")
        if method == "GET" and path == self.bucket:
            prefix = urllib.parse.parse_qs(query).get("prefix", [""])[0]
            return "LIST", _area(prefix.split("/", 1)[1] if "/" in prefix else "")
        key = path[len(self.bucket) + 1:]
        return method, _area(key.split("/", 1)[1] if "/" in key else key)


def _area(rel: str) -> str:
    """`tables/beats/x.parquet` -> `tables/beats`; `signals/cinc/00/r.dat` -> `signals`; `` -> `(root)`."""
    parts = [p for p in rel.split("/") if p]
    if not parts:
        return "(root)"
    return "/".join(parts[:2]) if parts[0] == "tables" and len(parts) > 1 else parts[0]


_REQUEST_LINE = re.compile(r'"(GET|PUT|HEAD|DELETE|POST) (\S+) HTTP/[\d.]+" \d{3}')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, log, endpoint: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"moto server exited with {proc.returncode}: {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise TimeoutError(f"moto server at {endpoint} did not answer within {timeout_s:.0f} s")


@contextlib.contextmanager
def moto_s3(bucket: str = BUCKET, timeout_s: float = 120.0) -> Iterator[S3Server]:
    """Start moto's S3 server on a free 127.0.0.1 port, create `bucket`, yield it, then stop the server."""
    # werkzeug logs every request: to a file, since a pipe nobody drains would block the server when full
    with tempfile.NamedTemporaryFile("w+", prefix="moto-", suffix=".log") as log:
        proc, server = _start(bucket, log, timeout_s)
        try:
            server.client().create_bucket(Bucket=bucket)
            yield server
        finally:
            stop_process(proc)


def _start(bucket: str, log, timeout_s: float) -> tuple[subprocess.Popen, S3Server]:
    for attempt in range(3):  # the free port can be taken between probing and binding: try another
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=log, text=True)
        server = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket=bucket, log_path=log.name)
        try:
            _wait_ready(proc, log, server.endpoint, timeout_s)
            return proc, server
        except RuntimeError:
            if attempt == 2:
                raise
        except BaseException:
            stop_process(proc)
            raise
    raise AssertionError("unreachable")


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM a child process, and SIGKILL it if it has not exited within `grace_s` (servers, cluster processes)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def s3_env(server: S3Server) -> Iterator[None]:
    """Point this process's boto3/s3fs/pyarrow at `server` for the block, then restore the old environment."""
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":
    with moto_s3() as srv:
        print(srv.endpoint, srv.url(), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
