"""Exactly-once under `kill -9`: the generating process is killed mid-call several times, then finishes."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from storage.ledger import Ledger
from tests.teacher_support import KEY, KEY_ENV, fake_openai, server  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 40


class Drivers:
    """A zygote process that forks one generating driver per run (see tests/teacher_support.zygote)."""

    def __init__(self, ledger_path, base_url):
        env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": REPO}
        self.args = f"--ledger {ledger_path} --base-url {base_url} --n {N}\n"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.teacher_support"], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _line(self, prefix: str) -> str:
        while True:
            line = self.proc.stdout.readline()
            assert line, "the zygote died"
            if line.startswith(prefix):
                return line.split(maxsplit=1)[1].strip()

    def start(self) -> int:
        self.proc.stdin.write(self.args)
        self.proc.stdin.flush()
        return int(self._line("pid "))

    def wait(self) -> int:
        return int(self._line("exit "))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def kill_after(pid: int, fake, new_requests: int, limit_s: float = 60.0) -> None:
    """SIGKILL the driver once the server has received `new_requests` more calls."""
    target = sum(fake.counters.received.values()) + new_requests
    deadline = time.monotonic() + limit_s
    while sum(fake.counters.received.values()) < target:
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)


def done_answers(ledger_path, fake) -> dict[str, int]:
    if not ledger_path.exists():
        return {}
    with Ledger(ledger_path) as ledger:
        done = [rid for rid, state in ledger._con.execute("SELECT request_id, state FROM requests") if state == "done"]
    return {rid: fake.counters.answered[rid] for rid in done}


@pytest.mark.slow
def test_kill_9_at_random_points_sends_no_completed_request_again_and_loses_none(server, tmp_path):
    server.fake.reset(latency_s=0.1, fault_rate=0.1, seed=11, faults=("500", "503", "empty"))
    ledger_path = tmp_path / "ledger.sqlite"
    rng = random.Random(20240607)
    drivers = Drivers(ledger_path, server.base_url)
    try:
        for _ in range(5):
            before = done_answers(ledger_path, server.fake)
            kill_after(drivers.start(), server.fake, rng.randint(1, 7))
            assert drivers.wait() == signal.SIGKILL  # killed mid-run, not finished
            assert {rid: server.fake.counters.answered[rid] for rid in before} == before, "a done request was resent"
        drivers.start()
        assert drivers.wait() == 0
    finally:
        drivers.close()
    with Ledger(ledger_path) as ledger:
        states = dict(ledger._con.execute("SELECT request_id, state FROM requests"))
        sends = dict(ledger._con.execute("SELECT request_id, sends FROM requests"))
        resent = ledger.resent()
    assert len(states) == N and set(states.values()) == {"done"}  # none lost
    answered = server.fake.counters.answered
    assert all(1 <= answered[rid] <= sends[rid] for rid in states)  # a second answer only after a journaled resend
    extra = sum(answered[rid] - 1 for rid in states)
    assert extra <= sum(s - 1 for s in sends.values()) <= 5 * 4  # in flight at one of 5 crashes, 4 at a time
    assert resent == sum(s > 1 for s in sends.values()) and resent >= 1
