"""The teacher policy against the real local server: account-wide stops, reasoning models, attempts over
all runs, rate-limit headers, the full TPM charge, teacher-keyed ids on old ledgers, and the key.

About 40-60 s on 2 cores (litellm's import and a few paced runs).
"""
from __future__ import annotations

import asyncio
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config import GemflowConfig, builtin_teachers
from schemas.teacher import TeacherRequest
from storage.ledger import Ledger
from tasks.teachers.client import AskOptions, ask
from tasks.teachers.limiter import RateLimiter
from tasks.teachers.llm import split_think
from tasks.teachers.policy import AccountError
from tests.openai_server import ACCOUNT_ERRORS
from tests.teacher_support import KEY, contexts, fake_openai, llm_config, plan, server  # noqa: F401


def states(ledger: Ledger) -> dict[str, str]:
    return dict(ledger._con.execute("SELECT request_id, state FROM requests"))


@pytest.mark.parametrize("kind", sorted(ACCOUNT_ERRORS))
def test_an_account_wide_refusal_stops_the_run_at_once_and_leaves_every_request_pending(kind, server, tmp_path):
    server.fake.reset(account_error=kind)
    tcfg = llm_config(server.base_url, max_concurrency=4)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(AccountError) as err:
            ask(plan(contexts(30), "fake", tcfg), ledger, "fake", tcfg)
        assert set(states(ledger).values()) == {"pending"} and len(states(ledger)) == 30
        assert ledger.resent() == 0  # an account stop is not a crash resend
    assert sum(server.fake.counters.received.values()) <= 4  # those in flight, not the whole queue
    line = str(err.value)
    assert "\n" not in line and "teacher 'fake' stopped" in line and "Nothing was marked failed" in line
    assert {"401": "(401)", "402": "Insufficient Balance", "403": "(403)", "insufficient_quota": "insufficient_quota",
            "model_not_found": "model_not_found"}[kind] in line
    assert KEY not in line


def test_a_missing_key_is_refused_by_the_server_and_stops_the_run(server, tmp_path):
    tcfg = llm_config(server.base_url, api_key_env=None)  # a local endpoint: "EMPTY" is sent
    with Ledger(tmp_path / "ledger.sqlite") as ledger, pytest.raises(AccountError, match=r"\(401\)"):
        ask(plan(contexts(3), "fake", tcfg), ledger, "fake", tcfg)
    assert server.fake.counters.refused_auth >= 1 and not server.fake.counters.received


def test_a_length_stop_is_retried_with_a_larger_limit_never_the_same(server, tmp_path):
    server.fake.reset(length_below=1400)
    tcfg = llm_config(server.base_url, max_tokens=700)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        asked = ask(plan(contexts(1), "fake", tcfg), ledger, "fake", tcfg)
    assert asked.done == 1 and server.fake.counters.max_tokens_seen == [700, 1400]


def test_a_length_stop_at_the_ceiling_fails_with_its_reason_after_one_call(server, tmp_path):
    server.fake.reset(length_below=10**6)
    tcfg = llm_config(server.base_url, max_tokens=700, max_tokens_ceiling=700)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        asked = ask(plan(contexts(1), "fake", tcfg), ledger, "fake", tcfg)
    [call] = asked.calls.values()
    assert not call.done and "max_tokens=700" in call.response.error and "not retried" in call.response.error
    assert server.fake.counters.max_tokens_seen == [700]


def test_a_request_is_attempted_at_most_max_attempts_total_times_over_all_runs(server, tmp_path):
    server.fake.reset(fail_first=99, faults=("500",))
    tcfg = llm_config(server.base_url, max_attempts=3, max_attempts_total=5)
    work = plan(contexts(1), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runs = [ask(work, ledger, "fake", tcfg) for _ in range(3)]
        attempts = ledger.attempts(r.request_id for r, _ in work)
    assert [r.attempts for r in runs] == [3, 2, 0] and runs[2].exhausted == 1
    assert sum(server.fake.counters.received.values()) == 5 and list(attempts.values()) == [5]
    [call] = runs[2].calls.values()
    assert not call.done and "500" in call.response.error  # left failed with its reason


@pytest.mark.parametrize("tags", ["lone", "pair"])
def test_a_chain_of_thought_behind_think_tags_goes_to_the_reasoning_column(tags, server, tmp_path):
    server.fake.reset(reasoning=True, think_tags=tags)
    tcfg = llm_config(server.base_url)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        asked = ask(plan(contexts(2), "fake", tcfg), ledger, "fake", tcfg)
    for call in asked.calls.values():
        assert call.response.text.startswith("The tracing shows") and "think>" not in call.response.text
        assert call.response.reasoning.startswith("Let me check")


@settings(max_examples=120, deadline=None)
@given(st.text(), st.text(), st.booleans())
def test_split_think_never_raises_and_never_leaves_a_tag_in_the_answer(before, after, opened):
    if "</think>" not in before:
        assert split_think(before) == (before, None)  # untagged content is kept whole
    tagged = ("<think>" if opened else "") + before.replace("</think>", "") + "</think>" + after
    text, reasoning = split_think(tagged)
    assert "</think>" not in text
    assert text == after.replace("</think>", "").strip()


def test_rate_limit_headers_lower_the_pace_to_the_accounts_real_limit(server, tmp_path):
    server.fake.reset(limit_rpm=120)  # the account: 2 per second; the config claims 1000 per second
    tcfg = llm_config(server.base_url, rpm=60_000, max_concurrency=1)
    limiter = RateLimiter(tcfg.rpm, tcfg.tpm)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        asked = ask(plan(contexts(5), "fake", tcfg), ledger, "fake", tcfg, AskOptions(limiter=limiter))
    assert asked.done == 5 and limiter.adapted and limiter.request_s == pytest.approx(0.5)
    starts = sorted(t for ts in server.fake.counters.received_at.values() for t in ts)
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.3  # 0.5 s apart from the first answer on (else ~0.05: back to back)
    assert server.fake.counters.faults.get("429", 0) == 0


def test_the_cross_process_tpm_cap_charges_a_request_its_whole_estimate(monkeypatch):
    import flows.limits as limits
    taken = []

    async def fake_rate_limit(name, occupy, strict):  # the Prefect call, recorded (no server needed)
        taken.append(occupy)

    monkeypatch.setattr(limits, "rate_limit", fake_rate_limit)
    tcfg = builtin_teachers()["gpt-4o"]  # tpm 30,000: a block is 700 tokens (max_tokens)
    lim = limits.teacher_limits("t", tcfg)
    credit = limits.Credit(lim.tpm, lim.tpm_block, lim.tpm_limit, lim.tpm_decay * 1000)  # fast decay: no waiting
    estimate = 6000 + tcfg.max_tokens  # a GEM prompt and its answer: about five blocks
    asyncio.run(credit.take(estimate))
    assert sum(taken) >= estimate and credit.credit == sum(taken) - estimate


def old_format_ledger(path, work, text: str) -> None:
    """A ledger as gemflow wrote it before ids included the teacher: same schema, teacher-less ids, answered."""
    con = sqlite3.connect(path)
    with Ledger(path):  # the schema (unchanged by the new ids)
        pass
    for req, _ in work:
        old = req.model_copy(update={"request_id": req.legacy_request_id})
        con.execute("INSERT INTO requests (request_id, record_id, teacher, model, prompt_version, instruction,"
                    " request_json, state, attempts, sends, text, created_at) VALUES (?,?,?,?,?,?,?,'done',1,1,?,0)",
                    (old.request_id, old.record_id, old.teacher, old.model, old.prompt_version, old.instruction,
                     old.model_dump_json(), text))
    con.commit()
    con.close()


def test_an_old_ledger_keeps_its_answers_and_a_second_teacher_on_the_same_model_gets_its_own(server, tmp_path):
    tcfg = llm_config(server.base_url)
    work = plan(contexts(3), "fake", tcfg)
    assert all(r.request_id != r.legacy_request_id for r, _ in work)
    path = tmp_path / "ledger.sqlite"
    old_format_ledger(path, work, "answered long ago")
    with Ledger(path) as ledger:
        first = ask(work, ledger, "fake", tcfg)
        assert first.sent == 0 and first.skipped_done == 3 and not server.fake.counters.received
        assert {c.response.text for c in first.calls.values()} == {"answered long ago"}
        assert set(first.calls) == {r.request_id for r, _ in work}  # keyed by what the caller planned
        other = plan(contexts(3), "fake-twin", tcfg)  # the same model and prompt, another teacher
        second = ask(other, ledger, "fake-twin", tcfg)
    assert second.done == 3 and sum(server.fake.counters.answered.values()) == 3
    assert {r.request_id for r, _ in other}.isdisjoint(r.request_id for r, _ in work)


def test_governance_refuses_credentialed_records_before_they_are_registered(server, tmp_path):
    tcfg = llm_config(server.base_url)
    work = plan(contexts(2, source="mimic_iv_ecg", credentialed=True) + contexts(1, prefix="ok"), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        asked = ask(work, ledger, "fake", tcfg)
        assert len(states(ledger)) == 1
    assert asked.done == 1 and [c.record_id for c, _ in asked.refused] == ["r0000", "r0001"]
    assert all("allowed_credentialed_sources" in why for _, why in asked.refused)
    assert sum(server.fake.counters.received.values()) == 1


def test_the_generate_stage_reports_the_teacher_and_cause_through_the_façade(server, tmp_path):
    from tasks.teachers.stage import run_requests
    server.fake.reset(account_error="402")
    tcfg = llm_config(server.base_url)
    cfg = GemflowConfig(teachers={"fake": tcfg}, teacher="fake")
    with Ledger(tmp_path / "ledger.sqlite") as ledger, pytest.raises(AccountError, match="Insufficient Balance"):
        run_requests(plan(contexts(5), "fake", tcfg), ledger, cfg, "fake")


def test_a_planned_request_keeps_no_legacy_id_in_its_stored_json():
    req = TeacherRequest(request_id="n", legacy_request_id="o", record_id="r", teacher="t", model="m",
                         prompt_version="v", instruction="i", messages=[])
    assert "legacy" not in req.model_dump_json()


def test_a_teacher_switched_from_batch_to_sync_never_pays_twice_for_a_row_in_an_open_batch(server, tmp_path):
    from tasks.teachers import batch
    tcfg = llm_config(server.base_url, batch=True, batch_poll_s=0.01, batch_enqueued_tokens=10**7)
    server.fake.reset(batch_polls=50, batch_cancel_answers=2)  # the batch stays open; a cancel keeps 2 answers
    work = plan(contexts(5), "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ask(work, ledger, "fake", tcfg, AskOptions(data_root=tmp_path))
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=0, sleep=lambda s: None)
        assert batch.open_request_ids(ledger, "fake") == {r.request_id for r, _ in work}
        sync = tcfg.model_copy(update={"batch": False})
        asked = ask(work, ledger, "fake", sync, AskOptions(data_root=tmp_path))
        assert all(c.done for c in asked.calls.values()) and len(asked.calls) == 5
    answered = server.fake.counters.answered
    assert asked.sent == 3 and all(answered[r.request_id] == 1 for r, _ in work)  # each answer paid once
