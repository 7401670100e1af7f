"""`gemflow serve --database-url`: the Prefect server on a real PostgreSQL, started here for the test.

Proves the production database path end to end: serve migrates an empty Postgres database, creates
the pools and teacher limits in it, a real flow run lands in its tables, the password never reaches
serve's output or its logs, and only the server process is handed the database URL.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_ops_serve import REPO, _children_of, _free_port, api_client, running_serve

pytestmark = pytest.mark.slow

PASSWORD = "pg-Secret-4f1c9a"  # must never appear in what serve prints or logs


def _pg_bin() -> Path | None:
    """The PostgreSQL server binaries: on PATH, or Debian's versioned folder."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@dataclass
class Postgres:
    url: str
    port: int

    def query(self, sql: str) -> list[tuple]:
        import asyncpg

        async def run():
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="gemflow", password=PASSWORD,
                                         database="prefect")
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()
        return asyncio.run(run())


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster on a free loopback port, with password auth and an empty `prefect` db."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql; .ci/run installs it)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="gemflow-pg-"))  # under /tmp: the server's user must reach it
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as Debian's `postgres` user
        if shutil.which("runuser") is None or subprocess.run(["id", "-u", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a `postgres` user to run the cluster as")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    (folder / "pw").write_text(PASSWORD + "\n")
    if as_user:
        shutil.chown(folder / "pw", "postgres")
    data, port = folder / "data", _free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True,  # noqa: E731
                                      timeout=120)
    run(str(bindir / "initdb"), "-D", str(data), "-U", "gemflow", "--auth=scram-sha-256", f"--pwfile={folder / 'pw'}")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
        "-o", f"-p {port} -h 127.0.0.1 -k {folder}", "start")
    try:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run([*as_user, "env", f"PGPASSWORD={PASSWORD}", str(bindir / "createdb"), "-h", "127.0.0.1",
                        "-p", str(port), "-U", "gemflow", "prefect"], check=True, env=env, timeout=60)
        yield Postgres(f"postgresql+asyncpg://gemflow:{PASSWORD}@127.0.0.1:{port}/prefect", port)
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def served_on_postgres(postgres, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-pg")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "GEMFLOW_DATABASE_URL")}
    env.update({"PREFECT_HOME": str(home / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "GEMFLOW_DATABASE_URL": postgres.url})  # the documented way to pass it without a visible argument
    with running_serve(["--port", str(_free_port()), "--worker", "cpu", "--no-deploy"], env,
                       home / "serve.log") as s:
        yield s.url, s.proc, s.log, home


def test_serve_migrates_postgres_and_keeps_pools_limits_and_flow_runs_there(postgres, served_on_postgres, wfdb_samples_dir,
                                                                           tmp_path):
    url, proc, log, _ = served_on_postgres
    with api_client(f"{url}/api") as client:
        pools = {p.name: p.type for p in client.read_work_pools()}
        limits = {lim.name for lim in client.read_global_concurrency_limits(limit=200)}
    assert pools == {"cpu": "process", "gpu": "process"}
    assert "gemflow-teacher-gpt-4o-rpm" in limits
    # the same objects, read straight from Postgres: the server is not on SQLite
    assert sorted(r[0] for r in postgres.query("SELECT name FROM work_pool")) == ["cpu", "gpu"]
    assert ("gemflow-teacher-gpt-4o-rpm",) in postgres.query("SELECT name FROM concurrency_limit_v2")
    # a real flow run reported to this server is stored in Postgres, completed
    env = {**os.environ, "PREFECT_API_URL": f"{url}/api"}
    done = subprocess.run([sys.executable, "-m", "ops.cli", "ingest", "--source", str(wfdb_samples_dir),
                           "--data", str(tmp_path / "data"), "--quiet"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    runs = postgres.query("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id")
    assert ("ingest", "COMPLETED") in [(name, str(state)) for name, state in runs], runs


def test_the_database_password_stays_out_of_output_logs_and_other_processes(postgres, served_on_postgres):
    url, proc, log, home = served_on_postgres
    text = log.read_text(errors="replace")
    assert "gemflow:***@127.0.0.1" in text, text  # serve says which database, redacted
    leaks = [p for p in [log, *home.rglob("*.log")] if PASSWORD in p.read_text(errors="replace")]
    assert leaks == [], f"password found in {leaks}"
    environs = {}
    for pid in _children_of(proc.pid):
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        environs[cmd] = PASSWORD.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    assert [has for cmd, has in environs.items() if " server start" in cmd] == [True], environs
    assert not any(has for cmd, has in environs.items() if " worker start" in cmd), environs
