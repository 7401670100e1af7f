"""OpenAI Batch API mode against the local server: results into the ledger, and crashes that never pay twice."""
from __future__ import annotations

import openai
import pytest

from storage.ledger import Ledger
from tasks.teachers.batch import submit_batches, wait_for_batches
from tasks.teachers.batch_journal import leftover_files
from tests.teacher_support import KEY, contexts, fake_openai, llm_config, plan, server  # noqa: F401

N = 5
WRITES = ("batch_upsert", "set_batch", "record_many")


class Crash(BaseException):
    """Stands for a kill: nothing in gemflow catches it."""


def batch_config(server, **changes):
    return llm_config(server.base_url, batch=True, batch_poll_s=0.01, batch_enqueued_tokens=10**7, **changes)


def reset(server, **changes):
    server.fake.reset(api_key=KEY, **changes)


def run_all(ledger: Ledger, work, tcfg, tmp_path):
    submitted = submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
    waited = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=5)
    return submitted, waited


def states_of(ledger, work) -> list[str]:
    return sorted(set(ledger.states(r.request_id for r, _ in work).values()))


def test_batch_results_and_costs_go_into_the_ledger_and_no_file_stays_at_the_provider(server, tmp_path):
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        submitted, waited = run_all(ledger, work, tcfg, tmp_path)
        assert (submitted.sent, submitted.waiting_in_batch, waited.sent, waited.done) == (0, N, N, N)
        rows = ledger._con.execute("SELECT state, batch_id, cost_usd, input_tokens, output_tokens FROM requests").fetchall()
        left = leftover_files(ledger)
    assert {r[0] for r in rows} == {"done"} and len({r[1] for r in rows}) == 1
    for _, _, cost, n_in, n_out in rows:  # Batch API prices: half of gpt-4o's
        assert cost == pytest.approx(n_in * 1.25e-6 + n_out * 5e-6, rel=1e-6)
    log = server.fake.batch_log
    assert len(log.uploads) == 1 and len(log.deleted) == 2  # the input file and the output file
    assert server.fake.files == {} and left == []
    assert log.list_calls == [], "a submit listed the organisation's files"
    assert server.fake.counters.auth == {f"Bearer {KEY}"}


def test_batch_mode_uses_the_sync_key_and_a_missing_or_wrong_key_sends_nothing(server, tmp_path, monkeypatch):
    from tasks.teachers.llm import MissingApiKey
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        monkeypatch.setenv("GEMFLOW_TEST_TEACHER_KEY", "sk-wrong-key-0000")
        with pytest.raises((openai.AuthenticationError, RuntimeError)) as err:
            wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=1)
        assert "401" in str(err.value) or "key" in str(err.value).lower()
        monkeypatch.delenv("GEMFLOW_TEST_TEACHER_KEY")
        with pytest.raises(MissingApiKey, match="GEMFLOW_TEST_TEACHER_KEY"):
            wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=1)
        assert states_of(ledger, work) == ["pending"]
    assert server.fake.batches == {} and server.fake.files == {}


def _clean_run_writes(server, tmp_path, monkeypatch) -> int:
    """How many ledger writes one whole batch run makes (the crash points of the next test)."""
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    seen = {"n": 0}
    for name in WRITES:
        orig = getattr(Ledger, name)
        monkeypatch.setattr(Ledger, name, lambda self, *a, _o=orig, **k: (seen.__setitem__("n", seen["n"] + 1),
                                                                         _o(self, *a, **k))[1])
    with Ledger(tmp_path / "count.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        run_all(ledger, work, tcfg, tmp_path)
    monkeypatch.undo()
    return seen["n"]


@pytest.mark.parametrize("crash_before_write", range(1, 17))
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
        states = states_of(ledger, work)
        left = leftover_files(ledger)
    assert crashed or crash_before_write > calls["n"]
    assert states == ["done"]
    fake = server.fake
    assert len(fake.batches) == 1, "a second (paid) batch was created"
    assert len(fake.batch_log.uploads) == 1
    assert sorted(fake.counters.answered.values()) == [1] * N
    assert fake.files == {} and left == [], "a file stayed at the provider"
    assert all(c["limit"] <= 100 and c["order"] == "desc" for c in fake.batch_log.list_calls)
    assert len(fake.batch_log.list_calls) <= 1


def test_the_crash_points_cover_every_write_of_a_run(server, tmp_path, monkeypatch):
    assert _clean_run_writes(server, tmp_path, monkeypatch) <= 16


def test_an_expired_batch_bills_its_answers_and_the_rest_go_back_to_pending(server, tmp_path):
    reset(server, batch_expire_after=2)
    tcfg = batch_config(server)
    work = plan(contexts(N), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        first = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=0)
        first = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=0)
        first = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=0)
        assert first.done == 2 and first.failed == 0
        mid = ledger.states(r.request_id for r, _ in work)
        assert "failed" not in mid.values() and list(mid.values()).count("done") == 2
        waited = wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, sleep=lambda s: None, wait_s=5)
        assert waited.failed == 0 and states_of(ledger, work) == ["done"]
        costs = [c for (c,) in ledger._con.execute("SELECT cost_usd FROM requests")]
    assert all(c > 0 for c in costs)
    assert len(server.fake.batches) == 3 and sorted(server.fake.counters.answered.values()) == [1] * N
    assert server.fake.files == {}


def test_failed_batch_lines_are_failures_and_a_rerun_sends_them_again(server, tmp_path):
    reset(server, fail_first=1, faults=("500",))
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
        queued = submitted.waiting_in_batch
        assert 0 < queued < N and submitted.not_sent_budget == N - queued
        assert "raise budget_usd" in submitted.message
