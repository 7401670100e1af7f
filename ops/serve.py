"""`gemflow serve`: a local Prefect server, the work pools, the teacher limits, the deployments and workers.

What it does, in order (each step is idempotent, so a second `serve` changes nothing twice):
1. starts `prefect server start` (SQLite under PREFECT_HOME, or the Postgres URL given), unless a
   server already answers on that address, which is then used and left alone;
2. creates the work pools `cpu` and `gpu` (process pools; an existing pool is kept as it is, so a
   `gpu` pool you re-created as Kubernetes or Docker stays so);
3. creates the strict global concurrency limits of every configured LLM teacher (flows/limits.py);
4. runs `prefect deploy --all` on prefect.yaml (deployments whose entrypoint file is missing are
   skipped with a warning);
5. starts one process worker per local process pool;
6. prints the UI address and waits. Ctrl-C (or SIGTERM) stops the processes it started, in their
   own process groups, and nothing else.

A second `serve` while one runs (same PREFECT_HOME and port) re-applies steps 2-4 and exits: the
first one holds `serve-<port>.lock`.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

import httpx
import yaml

from storage.atomic import FileLock, LockBusy

REPO = Path(__file__).resolve().parents[1]
POOLS = ("cpu", "gpu")
DATABASE_ENV = "PREFECT_SERVER_DATABASE_CONNECTION_URL"


class ServeError(RuntimeError):
    """A step of `gemflow serve` failed; the message says which and shows the log tail."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 4200
    database_url: str | None = None  # postgresql+asyncpg://user:password@host:5432/prefect; None: SQLite
    workers: tuple[str, ...] = POOLS  # pools to start a local worker for
    config_path: str | None = None  # gemflow.yaml (teachers)
    prefect_file: Path = REPO / "prefect.yaml"
    deploy: bool = True
    startup_timeout_s: float = 180.0

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


def redact_url(url: str) -> str:
    """A database URL without its password, for printing."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def child_env(opts: ServeOptions) -> dict[str, str]:
    """The environment of what serve starts besides the server: the API address, no telemetry, library logs
    forwarded, and no database URL (workers and the flow runs they spawn never need its password)."""
    from flows.common import LIBRARY_LOGGERS
    from tasks.offline import OFFLINE_ENV
    env = {k: v for k, v in os.environ.items() if k not in (DATABASE_ENV, "GEMFLOW_DATABASE_URL")}
    env.update({"PREFECT_API_URL": opts.api_url, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"})
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", LIBRARY_LOGGERS)
    return env


def server_env(opts: ServeOptions, env: dict[str, str]) -> dict[str, str]:
    """The server's environment: the others' plus the database URL (SQLite under PREFECT_HOME when unset)."""
    env = dict(env)
    if opts.database_url:
        env[DATABASE_ENV] = opts.database_url
    elif DATABASE_ENV in os.environ:
        env[DATABASE_ENV] = os.environ[DATABASE_ENV]  # a URL the user set for Prefect directly
    return env


def api_healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Children:
    """The processes serve started, each in a new session (its own process group)."""

    log_dir: Path
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    _logs: list[TextIO] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        self._logs.append(log)
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def dead(self) -> list[str]:
        return [name for name, p in self.procs if p.poll() is not None]

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop each started process group, newest first (workers before the server they report to).

        SIGINT (what Ctrl-C would send), SIGTERM after `timeout_s`, then SIGKILL for the group."""
        for _, proc in reversed(self.procs):
            for sig in (signal.SIGINT, signal.SIGTERM):
                _signal_group(proc, sig)
                try:
                    proc.wait(timeout=timeout_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            _signal_group(proc, signal.SIGKILL)  # stragglers in the group (flow-run subprocesses)
            proc.wait()
        for log in self._logs:
            log.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the child's pid
    except ProcessLookupError:
        pass  # the whole group has exited already


def prefect_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def start_server(opts: ServeOptions, children: Children, env: dict[str, str], say: Callable[[str], None]) -> bool:
    """Start the server unless one answers already; wait until healthy. True when this call started it."""
    if api_healthy(opts.api_url):
        say(f"server: using the one already running at {opts.ui_url} (it will be left running)")
        return False
    with socket.socket() as s:
        if s.connect_ex((opts.host, opts.port)) == 0:
            raise ServeError(f"{opts.host}:{opts.port} is taken by something that is not a Prefect server; use --port")
    url = server_env(opts, env).get(DATABASE_ENV)
    db = redact_url(url) if url else "SQLite in PREFECT_HOME"
    say(f"server: starting on {opts.ui_url} ({db}); log {children.log_dir / 'server.log'}")
    proc = children.start("server", prefect_cmd("server", "start", "--host", opts.host, "--port", str(opts.port)),
                          server_env(opts, env))
    deadline = time.monotonic() + opts.startup_timeout_s
    while not api_healthy(opts.api_url):
        if proc.poll() is not None:
            raise ServeError(f"the Prefect server exited ({proc.returncode}):\n{children.log_tail('server')}")
        if time.monotonic() > deadline:
            raise ServeError(f"the Prefect server was not healthy after {opts.startup_timeout_s:.0f} s:\n"
                             f"{children.log_tail('server')}")
        time.sleep(0.5)
    return True


def ensure_pools(client, say: Callable[[str], None]) -> dict[str, str]:
    """Create the `cpu` and `gpu` process pools when missing; returns every pool's type."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker
    types = {}
    for name in POOLS:
        try:
            types[name] = client.read_work_pool(name).type
            say(f"work pool {name}: exists ({types[name]})")
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template(),
                description=f"gemflow {name} work (process pool; see docs/operations.md for Kubernetes/Docker)"))
            types[name] = "process"
            say(f"work pool {name}: created (process)")
    return types


def ensure_limits(config_path: str | None, say: Callable[[str], None]) -> list[str]:
    """The strict Prefect limits of every configured LLM teacher (the template teacher makes no calls)."""
    from flows.limits import ensure_teacher_limits
    from schemas.config import load_config
    cfg = load_config(config_path)
    names = []
    for teacher, tcfg in sorted(cfg.teachers.items()):
        if tcfg.kind != "litellm":
            continue
        lim = ensure_teacher_limits(teacher, tcfg)
        names += [lim.rpm, lim.tpm]  # the in-flight cap is a slot lease file, not a Prefect limit (flows/limits.py)
        say(f"limits {teacher}: in flight {lim.inflight_limit}, rpm {tcfg.rpm}/min, tpm {tcfg.tpm}/min")
    return names


def deployable(prefect_file: Path) -> tuple[list[str], list[str]]:
    """Deployment names in prefect.yaml whose entrypoint file exists, and those whose file does not."""
    spec = yaml.safe_load(prefect_file.read_text()) or {}
    ok, missing = [], []
    for dep in spec.get("deployments") or []:
        path = str(dep.get("entrypoint", "")).split(":", 1)[0]
        (ok if (prefect_file.parent / path).is_file() else missing).append(dep["name"])
    return ok, missing


def deploy(opts: ServeOptions, env: dict[str, str], say: Callable[[str], None]) -> list[str]:
    """`prefect deploy --all` (or the deployable names) from the repository root."""
    ok, missing = deployable(opts.prefect_file)
    for name in missing:
        say(f"deploy: skipping {name} (its entrypoint file does not exist yet)")
    if not ok:
        return []
    which = ["--all"] if not missing else [a for n in ok for a in ("--name", n)]
    cmd = prefect_cmd("--no-prompt", "deploy", *which, "--prefect-file", str(opts.prefect_file))
    done = subprocess.run(cmd, env=env, cwd=opts.prefect_file.parent, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ServeError(f"prefect deploy failed ({done.returncode}):\n{tail}")
    say(f"deploy: {', '.join(ok)}")
    return ok


def worker_name(pool: str) -> str:
    return f"gemflow-{pool}-{socket.gethostname()}"


def start_workers(opts: ServeOptions, pool_types: dict[str, str], children: Children, env: dict[str, str],
                  say: Callable[[str], None]) -> None:
    for pool in opts.workers:
        if pool_types.get(pool) != "process":
            say(f"worker {pool}: not started here (the pool is {pool_types.get(pool)}; run its worker where it runs)")
            continue
        children.start(f"worker-{pool}", prefect_cmd("worker", "start", "--pool", pool, "--type", "process",
                                                    "--name", worker_name(pool)), env)
        say(f"worker {pool}: started ({worker_name(pool)}); log {children.log_dir / f'worker-{pool}.log'}")


def state_dir() -> Path:
    from prefect.settings import PREFECT_HOME
    path = Path(PREFECT_HOME.value()).expanduser() / "gemflow-serve"
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup(opts: ServeOptions, env: dict[str, str], say: Callable[[str], None]) -> dict[str, str]:
    """Pools, limits and deployments on a running server (all idempotent)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: opts.api_url}):
        with get_client(sync_client=True) as client:
            types = ensure_pools(client, say)
        ensure_limits(opts.config_path, say)
    if opts.deploy:
        deploy(opts, env, say)
    return types


def serve(opts: ServeOptions, say: Callable[[str], None] = print) -> int:
    """Bring everything up, wait for Ctrl-C or SIGTERM, then stop what this call started."""
    run_dir = state_dir()
    env = child_env(opts)
    try:
        lock = FileLock(run_dir / f"serve-{opts.port}.lock").acquire()
    except LockBusy as busy:
        say(f"gemflow serve is already running for port {opts.port} ({busy.holder}); refreshing its setup")
        if not api_healthy(opts.api_url):
            raise ServeError(f"the other serve holds the lock but {opts.api_url} does not answer")
        setup(opts, env, say)
        say(f"UI: {opts.ui_url}")
        return 0
    children = Children(run_dir)
    # Ctrl-C and SIGTERM both end the wait (SIGINT too: a shell starting serve in the background ignores it)
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        start_server(opts, children, env, say)
        types = setup(opts, env, say)
        start_workers(opts, types, children, env, say)
        say(f"UI: {opts.ui_url}   (API {opts.api_url}; Ctrl-C stops what serve started)")
        return _wait(children, say)
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        children.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()
        say(f"stopped: {', '.join(n for n, _ in children.procs) or 'nothing was started'}")


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _wait(children: Children, say: Callable[[str], None]) -> int:
    """Block until interrupted; a started process that dies ends serve with its log tail."""
    while True:
        time.sleep(1.0)
        dead = children.dead()
        if dead:
            for name in dead:
                say(f"{name} exited unexpectedly:\n{children.log_tail(name)}")
            return 1
