"""Batch waves against the local server: packing across shards, the enqueued-token budget, token-limit
failures back to pending, and a teacher switched from batch to sync that never pays twice."""
from __future__ import annotations

from storage.ledger import Ledger
from tasks.teachers import batch
from tasks.teachers.batch_journal import leftover_files
from tests.teacher_support import KEY, contexts, fake_openai, llm_config, plan, server  # noqa: F401

NO_SLEEP = dict(sleep=lambda s: None)


def batch_config(server, **changes):
    return llm_config(server.base_url, batch=True, batch_poll_s=0.01, **{"batch_enqueued_tokens": 10**7, **changes})


def shards(n_shards: int, per_shard: int, tcfg):
    return [plan(contexts(per_shard, prefix=f"s{k}-"), "fake", tcfg) for k in range(n_shards)]


def registered(ledger, parts):
    for part in parts:
        ledger.register(r for r, _ in part)
    return [w for part in parts for w in part]


def all_states(ledger, work) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in ledger.states(r.request_id for r, _ in work).values():
        out[s] = out.get(s, 0) + 1
    return out


def test_shards_are_packed_into_one_batch_not_one_batch_per_shard(server, tmp_path):
    tcfg = batch_config(server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        parts = shards(3, 4, tcfg)
        work = registered(ledger, parts)
        for part in parts:  # what the generate flow's shard tasks do, one after another
            res = batch.submit_batches(part, ledger, "fake", tcfg, data_root=tmp_path)
            assert res.sent == 0  # not full yet: nothing goes out per shard
        assert server.fake.batches == {}
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        assert all_states(ledger, work) == {"done": 12}
    assert [n for _, n, _ in server.fake.batch_log.created] == [12]


def test_a_batch_never_holds_more_than_batch_max_requests_and_full_ones_leave_at_once(server, tmp_path):
    tcfg = batch_config(server, batch_max_requests=5)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        parts = shards(3, 4, tcfg)
        work = registered(ledger, parts)
        sent = [batch.submit_batches(p, ledger, "fake", tcfg, data_root=tmp_path).sent for p in parts]
        assert sent == [0, 5, 5]  # a full batch is submitted by the shard that fills it
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        assert all_states(ledger, work) == {"done": 12}
    assert sorted(n for _, n, _ in server.fake.batch_log.created) == [2, 5, 5]
    assert sorted(server.fake.counters.answered.values()) == [1] * 12


def test_waves_keep_open_batches_within_the_enqueued_token_budget(server, tmp_path):
    probe = batch_config(server)
    one = batch._item(*plan(contexts(1, prefix="s0-"), "fake", probe)[0], probe, tmp_path).tokens
    tcfg = batch_config(server, batch_enqueued_tokens=int(one * 3.5))  # room for three requests at a time
    server.fake.reset(api_key=KEY, batch_polls=3)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        parts = shards(2, 5, tcfg)
        work = registered(ledger, parts)
        for p in parts:
            batch.submit_batches(p, ledger, "fake", tcfg, data_root=tmp_path)
        peak = 0

        def watch(_s):
            nonlocal peak
            open_rows = batch.J.open_rows(ledger, "fake")
            peak = max(peak, sum(int(r.detail.tokens) for r in open_rows))

        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=30, sleep=watch)
        assert all_states(ledger, work) == {"done": 10}
    sizes = [n for _, n, _ in server.fake.batch_log.created]
    assert sum(sizes) == 10 and max(sizes) <= 3 and len(sizes) >= 4
    assert 0 < peak <= tcfg.batch_enqueued_tokens
    assert server.fake.batch_log.peak_open <= 3


def test_token_limit_exceeded_returns_requests_to_pending_and_a_smaller_wave_succeeds(server, tmp_path):
    tcfg = batch_config(server, batch_enqueued_tokens=10**6)
    server.fake.reset(api_key=KEY, batch_token_limit=1)  # the account's real cap is below what was configured
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 6, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        for _ in range(2):  # submit, then collect the failed batch
            res = batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=0, **NO_SLEEP)
        assert res.failed == 0 and server.fake.batch_log.token_limit_failures >= 1
        assert "failed" not in all_states(ledger, work)
        errors = {e for (e,) in ledger._con.execute("SELECT error FROM requests")}
        assert errors == {None}
        server.fake.settings.batch_token_limit = None
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        assert all_states(ledger, work) == {"done": 6}
        assert ledger.resent() == 0
    assert sorted(server.fake.counters.answered.values()) == [1] * 6
    assert server.fake.files == {}


def test_a_request_larger_than_the_whole_budget_fails_with_the_setting_to_change(server, tmp_path):
    tcfg = batch_config(server, batch_enqueued_tokens=10)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 2, tcfg))
        res = batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        errors = [e for (e,) in ledger._con.execute("SELECT error FROM requests")]
    assert res.failed == 2 and all("batch_enqueued_tokens" in e for e in errors)
    assert server.fake.batches == {}


def test_switching_to_sync_cancels_the_open_batch_keeps_its_answers_and_frees_the_rest(server, tmp_path):
    tcfg = batch_config(server)
    server.fake.reset(api_key=KEY, batch_polls=50, batch_cancel_answers=2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 5, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=0, **NO_SLEEP)
        held = batch.open_request_ids(ledger, "fake")
        assert held == {r.request_id for r, _ in work}  # the façade must not send these synchronously
        sync = tcfg.model_copy(update={"batch": False})
        res = batch.settle_open_batches(ledger, "fake", sync, data_root=tmp_path)
        assert (res.done, res.failed, res.waiting_in_batch) == (2, 0, 0)
        assert batch.open_request_ids(ledger, "fake") == set()
        assert all_states(ledger, work) == {"done": 2, "pending": 3}
        left = leftover_files(ledger)
    assert len(server.fake.batch_log.cancelled) == 1 and left == [] and server.fake.files == {}


def test_switching_to_sync_with_only_queued_requests_drops_the_queue_without_a_call(server, tmp_path):
    tcfg = batch_config(server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 3, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        assert len(batch.open_request_ids(ledger, "fake")) == 3
        batch.settle_open_batches(ledger, "fake", tcfg.model_copy(update={"batch": False}), data_root=tmp_path)
        assert batch.open_request_ids(ledger, "fake") == set()
        assert all_states(ledger, work) == {"pending": 3}
    assert server.fake.batches == {} and server.fake.batch_log.uploads == []


def test_files_a_crash_left_undeleted_are_listed_from_the_ledger_and_deleted_next_time(server, tmp_path, monkeypatch):
    tcfg = batch_config(server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 3, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        with monkeypatch.context() as m:  # a run killed before it deleted anything
            m.setattr(batch.BatchRun, "delete_files", lambda self: None)
            batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        left = leftover_files(ledger)
        assert sorted(f.kind for f in left) == ["input", "output"]
        assert {f.file_id for f in left} == set(server.fake.files)
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        assert leftover_files(ledger) == []
    assert server.fake.files == {} and server.fake.batch_log.list_calls == []


def test_gemflow_status_lists_the_files_left_at_the_provider_from_the_ledger(server, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from ops.cli import app
    from storage.layout import DataRoot
    root = DataRoot.open(tmp_path / "data")
    tcfg = batch_config(server)
    with Ledger(root.ledger_path) as ledger:
        work = registered(ledger, shards(1, 2, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=root.root)
        with monkeypatch.context() as m:  # a run killed before it deleted anything
            m.setattr(batch.BatchRun, "delete_files", lambda self: None)
            batch.wait_for_batches(ledger, "fake", tcfg, data_root=root.root, wait_s=5, **NO_SLEEP)
    out = CliRunner().invoke(app, ["status", "--data", str(root.root), "--json"])
    assert out.exit_code == 0, out.output
    left = json.loads(out.output)["batch_files_left"]
    assert sorted((t, k) for t, _, k, _ in left) == [("fake", "input"), ("fake", "output")]
    assert {f for _, f, _, _ in left} == set(server.fake.files)
    table = CliRunner().invoke(app, ["status", "--data", str(root.root)])
    assert table.exit_code == 0 and "2 batch file(s) still at the provider" in table.output
    assert server.fake.batch_log.list_calls == []  # read from the ledger, not by listing the organisation's files


def test_a_transient_failure_of_a_control_call_is_taken_again_at_the_next_tick_not_in_a_loop(server, tmp_path):
    tcfg = batch_config(server)
    server.fake.reset(api_key=KEY, batch_create_faults=2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 3, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        ticks = []
        first = batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=0, **NO_SLEEP)
        assert first.sent == 0 and server.fake.batch_log.create_calls == 1  # one attempt, no inner retry
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, sleep=ticks.append)
        assert all_states(ledger, work) == {"done": 3}
    log = server.fake.batch_log
    assert log.create_calls == 3 and len(server.fake.batches) == 1 and len(log.uploads) == 1
    assert len(ticks) >= 1 and all(t == tcfg.batch_poll_s for t in ticks)  # retried on the poll schedule
    assert server.fake.files == {}


def test_a_batch_over_the_byte_cap_is_split_into_files_under_it(server, tmp_path, monkeypatch):
    tcfg = batch_config(server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 6, tcfg))
        line = len(batch.BatchRun(ledger, "fake", tcfg, None, tmp_path)._line(
            batch._item(*work[0], tcfg, tmp_path), work[0][0]).encode())
        monkeypatch.setattr(batch, "MAX_FILE_BYTES", int(line * 2.5))  # two lines per file
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        assert all_states(ledger, work) == {"done": 6}
    sizes = [n for _, n in server.fake.batch_log.uploads]
    assert len(sizes) == 3 and max(sizes) <= int(line * 2.5)
    assert sorted(server.fake.counters.answered.values()) == [1] * 6


def test_a_batch_still_cancelling_keeps_its_rows_out_of_the_sync_run_until_it_is_collected(server, tmp_path):
    from tasks.teachers.client import AskOptions, ask
    tcfg = batch_config(server)
    server.fake.reset(api_key=KEY, batch_polls=50, batch_cancel_polls=1, batch_cancel_answers=1)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        work = registered(ledger, shards(1, 4, tcfg))
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=0, **NO_SLEEP)
        sync = tcfg.model_copy(update={"batch": False})
        asked = ask(work, ledger, "fake", sync, AskOptions(data_root=tmp_path))  # the façade, now realtime
        assert asked.waiting_in_batch == 4 and server.fake.counters.received == {}  # nothing paid twice
        asked = ask(work, ledger, "fake", sync, AskOptions(data_root=tmp_path))  # cancelled by now: collected
        assert all_states(ledger, work) == {"done": 4}
    answered = server.fake.counters.answered
    assert sorted(answered.values()) == [1] * 4  # one answer from the batch, three realtime
    assert server.fake.files == {} and len(server.fake.batch_log.cancelled) == 1


def test_an_unreadable_page_fails_its_own_request_with_the_reason_and_the_others_go(server, tmp_path):
    tcfg = batch_config(server, vision=True)
    (tmp_path / "images").mkdir()
    good = tmp_path / "images" / "good.png"
    from PIL import Image
    Image.new("RGB", (2200, 1700), "white").save(good)
    ctxs = contexts(3)
    pages = ["images/good.png", "images/missing.png", "images/good.png"]
    ctxs = [c.model_copy(update={"image_path": p, "image_sha256": f"{i:064x}"}) for i, (c, p) in enumerate(zip(ctxs, pages))]
    work = plan(ctxs, "fake", tcfg)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        res = batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        assert res.failed == 1
        good.write_bytes(b"\x89PNG broken after it was queued")  # the page goes bad before the wave
        batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, **NO_SLEEP)
        errors = [e for (e,) in ledger._con.execute("SELECT error FROM requests ORDER BY record_id")]
    assert all(e and e.startswith("batch: page not readable") for e in errors)
    assert server.fake.batches == {}
