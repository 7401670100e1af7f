"""OpenAI Batch API mode against the local server: results into the ledger, and crashes that never pay twice."""
from __future__ import annotations

import pytest

from storage.ledger import Ledger
from tasks.teachers.batch import submit_batches, wait_for_batches
from tests.teacher_support import contexts, fake_openai, llm_config, plan, server  # noqa: F401

N = 5
WRITES = ("batch_upsert", "set_batch", "record_many")


class Crash(BaseException):
    """Stands for a kill: nothing in gemflow catches it."""


def batch_config(server, **changes):
    return llm_config(server.base_url, batch=True, batch_poll_s=0.01, **changes)


def run_all(ledger: Ledger, work, tcfg, tmp_path):
    submitted = submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
    waited = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=5)
    return submitted, waited


def test_batch_results_and_costs_go_into_the_ledger(server, tmp_path):
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        submitted, waited = run_all(ledger, work, tcfg, tmp_path)
        assert (submitted.sent, submitted.waiting_in_batch, waited.done) == (N, N, N)
        rows = ledger._con.execute("SELECT state, batch_id, cost_usd, input_tokens, output_tokens FROM requests").fetchall()
        status = ledger._con.execute("SELECT status FROM batches WHERE batch_id NOT LIKE 'intent-%'").fetchone()[0]
    assert {r[0] for r in rows} == {"done"} and len({r[1] for r in rows}) == 1 and status == "collected"
    for _, _, cost, n_in, n_out in rows:  # Batch API prices: half of gpt-4o's
        assert cost == pytest.approx(n_in * 1.25e-6 + n_out * 5e-6, rel=1e-6)
    line = server.fake.files[next(iter(server.fake.files))]["content"].decode().splitlines()[0]
    assert '"url": "/v1/chat/completions"' in line and '"model": "gpt-4o"' in line


@pytest.mark.parametrize("crash_before_write", range(1, 10))
def test_a_crash_at_any_step_resumes_from_the_stored_batch_and_never_pays_twice(server, tmp_path, monkeypatch,
                                                                             crash_before_write):
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    calls = {"n": 0}
    originals = {name: getattr(Ledger, name) for name in WRITES}

    def crashing(name):
        def write(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == crash_before_write:
                raise Crash(f"killed before write {calls['n']} ({name})")
            return originals[name](self, *args, **kwargs)
        return write

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        for name in WRITES:
            monkeypatch.setattr(Ledger, name, crashing(name))
        crashed = False
        try:
            run_all(ledger, work, tcfg, tmp_path)
        except Crash:
            crashed = True
        for name in WRITES:
            monkeypatch.setattr(Ledger, name, originals[name])
        run_all(ledger, work, tcfg, tmp_path)
        states = set(ledger.states(r.request_id for r, _ in work).values())
    assert crashed or crash_before_write > 8
    assert states == {"done"}
    fake = server.fake
    assert len(fake.batches) == 1, "a second (paid) batch was created"
    assert sum(f["purpose"] == "batch" for f in fake.files.values()) == 1
    assert sorted(fake.counters.answered.values()) == [1] * N


def test_an_expired_batch_bills_its_answers_and_the_rest_go_into_a_new_batch(server, tmp_path):
    server.fake.reset(batch_expire_after=2)
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        _, waited = run_all(ledger, work, tcfg, tmp_path)
        assert waited.done == 2
        server.fake.settings.batch_expire_after = None
        _, waited = run_all(ledger, work, tcfg, tmp_path)
        assert waited.done == N - 2
        assert set(ledger.states(r.request_id for r, _ in work).values()) == {"done"}
    assert len(server.fake.batches) == 2 and sorted(server.fake.counters.answered.values()) == [1] * N


def test_failed_batch_lines_are_failures_and_a_rerun_sends_them_again(server, tmp_path):
    server.fake.reset(fail_first=1, faults=("500",))
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        _, waited = run_all(ledger, work, tcfg, tmp_path)
        assert waited.failed == N
        assert all(e.startswith("batch: ") for (e,) in ledger._con.execute("SELECT error FROM requests"))
        _, waited = run_all(ledger, work, tcfg, tmp_path)
        assert waited.done == N and ledger.resent() == 0


def test_batch_budget_leaves_what_does_not_fit_pending(server, tmp_path):
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        submitted = submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path, budget_usd=0.01)
        assert 0 < submitted.sent < N and submitted.not_sent_budget == N - submitted.sent
        assert "raise budget_usd" in submitted.message
