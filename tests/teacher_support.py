"""Shared helpers of the teacher tests: the fake OpenAI server fixtures, synthetic records, teacher configs."""
from __future__ import annotations

import pytest

from schemas.config import TeacherConfig
from schemas.teacher import LabelRef, LeadFacts, RecordContext, TeacherRequest
from schemas.vocab import Vocabulary
from tasks.teachers.base import plan_request
from tests.openai_server import TEST_KEY, FakeOpenAI, ServerThread

KEY_ENV = "GEMFLOW_TEST_TEACHER_KEY"
KEY = TEST_KEY  # the key the fake server demands on every /v1 route


@pytest.fixture(scope="module")
def fake_openai():
    """One fake OpenAI server per test module, on a free 127.0.0.1 port."""
    server = ServerThread(FakeOpenAI()).start()
    yield server
    server.stop()


@pytest.fixture
def server(fake_openai, monkeypatch):
    """The module's server with default settings and zero counters, and the test key in the environment."""
    fake_openai.fake.reset(api_key=KEY)
    monkeypatch.setenv(KEY_ENV, KEY)
    return fake_openai


def contexts(n: int, prefix: str = "r", source: str = "demo", credentialed: bool = False) -> list[RecordContext]:
    """Synthetic records with a rate, a QRS duration, a label and per-lead facts."""
    leads = {x: LeadFacts(lead=x, n_beats=10, r_amp_mv=1.0) for x in ("I", "II", "V1")}
    return [RecordContext(record_id=f"{prefix}{i:04d}", patient_id=f"p{i}", source=source, credentialed=credentialed,
                          features={"hr_bpm": 60.0 + i % 40, "qrs_ms": 90.0, "rhythm": "regular"},
                          labels=[LabelRef(code="426783006", name="sinus rhythm")], leads=leads)
            for i in range(n)]


def llm_config(base_url: str, **changes) -> TeacherConfig:
    """A litellm teacher on the fake server with fast retries (gpt-4o prices from litellm's map)."""
    base = dict(model="openai/gpt-4o", api_base=base_url, api_key_env=KEY_ENV, rpm=60_000, tpm=10**8,
                max_concurrency=8, timeout_s=2.0, retry_base_s=0.01, retry_max_s=0.05, max_attempts=8)
    return TeacherConfig(**{**base, **changes})


def plan(ctxs: list[RecordContext], name: str, tcfg: TeacherConfig) -> list[tuple[TeacherRequest, RecordContext]]:
    vocab = Vocabulary.load()
    return [(plan_request(c, name, tcfg, "v1", vocab), c) for c in ctxs]


def drive(argv: list[str] | None = None) -> None:
    """The process the crash test kills: send `--n` synthetic requests through the generate stage's runner."""
    import argparse

    from schemas.config import GemflowConfig
    from storage.ledger import Ledger
    from tasks.teachers.stage import run_requests

    ap = argparse.ArgumentParser()
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args(argv)
    tcfg = llm_config(args.base_url, max_concurrency=4, rpm=600)
    cfg = GemflowConfig(teachers={"fake": tcfg}, teacher="fake")
    with Ledger(args.ledger) as ledger:
        counts = run_requests(plan(contexts(args.n), "fake", tcfg), ledger, cfg, "fake")
    print(f"done={counts.done} failed={counts.failed} skipped={counts.skipped_done}", flush=True)


def zygote() -> None:
    """Import once, then fork one driver per stdin line (its arguments); prints `pid N`, then `exit STATUS`.

    The crash test kills the forked drivers with SIGKILL: real `kill -9`s of the generating process,
    without paying litellm's import (seconds on a busy machine) for every one.
    """
    import os
    import sys

    import tasks.teachers.runner  # noqa: F401  (litellm and the rest, before forking)

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                drive(line.split())
            finally:
                os._exit(0)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)


if __name__ == "__main__":
    zygote()
