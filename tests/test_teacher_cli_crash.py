"""`gemflow generate` killed with SIGKILL mid-run, twice, then rerun on the same data and Prefect home.

Real `python -m ops.cli generate` processes, an OpenAI-compatible teacher in a config file pointing
at the local server (tests/openai_server.py), the flow's own cross-process limits. What is asserted
is what the server received: no request the ledger committed as done is sent again, and the rerun
sends its first request soon after its flow run begins (before the fix it sent nothing at all: the
killed runs' Prefect concurrency slots were never released in ephemeral mode).

Runs in ephemeral mode (a fresh PREFECT_HOME, no API URL) and against a Prefect server (the
session's test server, as under `gemflow serve`). About 60-120 s on 2 cores: process start-up.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from storage.ledger import Ledger
from tests.teacher_support import KEY, KEY_ENV, fake_openai, server  # noqa: F401

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
N = 12
STARTED = "Beginning flow run"


@pytest.fixture(scope="module")
def measured(prefect_api, cinc2021_dir, tmp_path_factory) -> Path:
    """12 real CinC-2021 records, ingested and measured (once per module)."""
    from flows.features import features_flow
    from flows.ingest import ingest_flow
    root = tmp_path_factory.mktemp("crash") / "data"
    ingest_flow(str(root), sources=[str(cinc2021_dir)], limit=N)
    features_flow(str(root))
    return root


class Run:
    """One `gemflow generate` process in its own session; its output lines are timestamped as they come."""

    def __init__(self, root: Path, config: str, env: dict):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "generate", "--data", str(root), "--config", config],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def began_at(self) -> float | None:
        return next((t for t, line in self.lines if STARTED in line), None)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the CLI and the ephemeral API server it started
        self.proc.wait(timeout=30)

    def output(self) -> str:
        self._reader.join(timeout=10)
        return "\n".join(line for _, line in self.lines)


def received(fake) -> int:
    return sum(fake.counters.received.values())


def wait_for_requests(run: Run, fake, n: int, limit_s: float = 300.0) -> None:
    """Wait until the server has received `n` more requests (fails if the run ends or stalls first)."""
    target = received(fake) + n
    deadline = time.monotonic() + limit_s
    while received(fake) < target:
        assert run.proc.poll() is None, f"the run ended early:\n{run.output()[-3000:]}"
        assert time.monotonic() < deadline, f"the run sent nothing for {limit_s} s:\n{run.output()[-3000:]}"
        time.sleep(0.005)


def done_answers(root: Path, fake) -> dict[str, int]:
    path = root / "ledger.sqlite"
    if not path.exists():
        return {}
    with Ledger(path) as ledger:
        done = [c.request.request_id for c in ledger.finished() if c.done]
    return {rid: fake.counters.answered[rid] for rid in done}


def first_request_after(fake, t0: float) -> float | None:
    times = [t for ts in fake.counters.received_at.values() for t in ts if t >= t0]
    return min(times) if times else None


def write_config(path: Path, base_url: str) -> str:
    fake = {"model": "openai/gpt-4o", "api_base": base_url, "api_key_env": KEY_ENV, "rpm": 6000, "tpm": 10**7,
            "max_concurrency": 2, "timeout_s": 10, "retry_base_s": 0.01, "retry_max_s": 0.05}
    path.write_text(yaml.safe_dump({"teachers": {"fake": fake}, "teacher": "fake"}))
    return str(path)


def environment(tmp_path: Path, api_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PYTHONPATH": str(REPO), KEY_ENV: KEY, "PREFECT_HOME": str(tmp_path / "prefect-home"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"})
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@pytest.mark.parametrize("mode", ["ephemeral", "server"])
def test_a_rerun_after_two_sigkills_starts_sending_at_once_and_never_resends_a_done_request(
        mode, server, measured, prefect_api, tmp_path):
    import shutil
    root = tmp_path / "data"
    shutil.copytree(measured, root)
    server.fake.reset(latency_s=0.3)
    config = write_config(tmp_path / "gemflow.yaml", server.base_url)
    env = environment(tmp_path, prefect_api if mode == "server" else None)
    for kill in range(2):
        before = done_answers(root, server.fake)
        run = Run(root, config, env)
        wait_for_requests(run, server.fake, 3)  # two in flight (max_concurrency) and one more: mid-run
        run.kill()
        assert {rid: server.fake.counters.answered[rid] for rid in before} == before, "a done request was resent"
    before = done_answers(root, server.fake)
    assert len(before) < N  # the kills left work to do
    rerun = Run(root, config, env)
    assert rerun.proc.wait(timeout=600) == 0, rerun.output()[-3000:]
    began, first = rerun.began_at(), first_request_after(server.fake, rerun.started)
    assert began is not None and first is not None, rerun.output()[-3000:]
    waited = [f"{t - began:6.1f} s  {line}" for t, line in rerun.lines if t >= began]
    assert first - began < 30.0, f"the rerun waited {first - began:.1f} s before its first request:\n" + \
        "\n".join(waited[:40])
    assert {rid: server.fake.counters.answered[rid] for rid in before} == before, "a done request was resent"
    with Ledger(root / "ledger.sqlite") as ledger:
        calls = ledger.finished()
        sends = dict(ledger._con.execute("SELECT request_id, sends FROM requests"))
    assert len(calls) == N and all(c.done for c in calls)
    answered = server.fake.counters.answered
    assert all(1 <= answered[c.request.request_id] <= sends[c.request.request_id] for c in calls)


def test_generate_on_an_account_without_balance_stops_at_once_exits_non_zero_and_names_teacher_and_cause(
        server, measured, tmp_path):
    import shutil
    root = tmp_path / "data"
    shutil.copytree(measured, root)
    server.fake.reset(account_error="402")  # every call: 402 "Insufficient Balance", as DeepSeek answers
    config = write_config(tmp_path / "gemflow.yaml", server.base_url)
    run = Run(root, config, environment(tmp_path, None))
    code = run.proc.wait(timeout=600)
    out = run.output()
    assert code != 0, out[-3000:]
    [line] = [x for x in out.splitlines() if x.startswith("gemflow: AccountError")]
    assert "teacher 'fake' stopped" in line and "(402)" in line and "Insufficient Balance" in line
    assert KEY not in out
    assert sum(server.fake.counters.received.values()) <= 2  # the calls in flight (max_concurrency), not 12
    with Ledger(root / "ledger.sqlite") as ledger:
        states = set(dict(ledger._con.execute("SELECT request_id, state FROM requests")).values())
    assert states == {"pending"}
