"""The LLM runner against a real local OpenAI-compatible server: faults, 429s, cost, budget, reasoning, vision."""
from __future__ import annotations

import base64
import hashlib
import sqlite3
from pathlib import Path

import litellm
import pytest

from schemas.config import builtin_teachers, load_config
from storage.ledger import Ledger
from schemas.vocab import Vocabulary
from tasks.teachers.base import GovernanceError, check_governance, plan_request
from tasks.teachers.llm import LlmTeacher, MissingApiKey
from tasks.teachers.client import ask_one
from tasks.teachers.runner import run_llm_requests
from tests.teacher_support import KEY, contexts, fake_openai, llm_config, plan, server  # noqa: F401


def journal(tmp_path, work) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.register(r for r, _ in work)
    return ledger


def column(ledger: Ledger, sql: str) -> list:
    return [r[0] for r in ledger._con.execute(sql)]


def test_every_request_completes_within_the_attempt_budget_under_twenty_percent_faults(server, tmp_path):
    server.fake.reset(fault_rate=0.2, seed=3, hang_s=0.6)
    tcfg = llm_config(server.base_url, timeout_s=0.3, max_attempts=6)
    work = plan(contexts(60), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        res = run_llm_requests(work, ledger, "fake", tcfg)
        assert (res.done, res.failed) == (60, 0)
        assert ledger.counts() == {("fake", "done"): 60}
        attempts = dict(ledger._con.execute("SELECT request_id, attempts FROM requests"))
    c = server.fake.counters
    assert sum(c.faults.values()) >= 10 and len(c.faults) >= 5  # most kinds of fault were injected
    assert all(c.answered[rid] == 1 for rid in attempts)  # each request answered once
    assert {rid: c.received[rid] for rid in attempts} == attempts  # one retry layer: every HTTP try is counted
    assert max(attempts.values()) <= 6


def test_a_429_holds_every_caller_for_its_retry_after(server, tmp_path):
    server.fake.reset(fail_first=1, faults=("429",), retry_after_s=0.4)
    tcfg = llm_config(server.base_url, max_concurrency=4)
    work = plan(contexts(4), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        res = run_llm_requests(work, ledger, "fake", tcfg)
    assert res.done == 4 and res.rate_limited == 4 and res.attempts == 8
    first_429 = min(t[0] for t in server.fake.counters.received_at.values())
    retries = [t[1] for t in server.fake.counters.received_at.values()]
    assert min(retries) - first_429 >= 0.39  # nobody came back before Retry-After had passed


def test_a_bad_request_fails_at_once_and_is_not_retried(server, tmp_path):
    server.fake.reset(fail_first=99, faults=("400",))
    tcfg = llm_config(server.base_url)
    work = plan(contexts(2), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        res = run_llm_requests(work, ledger, "fake", tcfg)
        errors = column(ledger, "SELECT error FROM requests")
    assert (res.failed, res.attempts) == (2, 2)
    assert all("BadRequestError" in e for e in errors)


def test_deepseek_reasoning_is_kept_in_its_own_column(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    tcfg = builtin_teachers()["deepseek-r1"].model_copy(update={"api_base": server.base_url})
    work = plan(contexts(3), "deepseek-r1", tcfg)
    with journal(tmp_path, work) as ledger:
        run_llm_requests(work, ledger, "deepseek-r1", tcfg)
        rows = ledger._con.execute("SELECT text, reasoning FROM requests").fetchall()
        table = ledger.snapshot()
    assert all(r and r.startswith("Let me check") for _, r in rows)
    assert all(t.startswith("The tracing shows") and "Let me check" not in t for t, _ in rows)
    assert table.column("reasoning").null_count == 0
    body = server.fake.counters.bodies[-1]
    assert body["temperature"] == 0.6 and body["max_tokens"] == 32768  # the model card's; room for the reasoning


def test_cost_comes_from_litellm_offline_and_config_prices_override_it(server, tmp_path):
    tcfg = llm_config(server.base_url)
    work = plan(contexts(2), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        run_llm_requests(work, ledger, "fake", tcfg)
        rows = ledger._con.execute("SELECT input_tokens, output_tokens, cost_usd FROM requests").fetchall()
    price_in, price_out = (litellm.model_cost["gpt-4o"][k] for k in ("input_cost_per_token", "output_cost_per_token"))
    for n_in, n_out, cost in rows:
        assert cost == pytest.approx(n_in * price_in + n_out * price_out, rel=1e-6)
    priced = llm_config(server.base_url, input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)
    work = plan(contexts(2, prefix="q"), "priced", priced)
    with journal(tmp_path, work) as ledger:
        run_llm_requests(work, ledger, "priced", priced)
        rows = ledger._con.execute("SELECT input_tokens, output_tokens, cost_usd FROM requests"
                                   " WHERE teacher='priced'").fetchall()
    assert all(cost == pytest.approx((n_in * 1.0 + n_out * 2.0) / 1e6) for n_in, n_out, cost in rows)


def test_budget_stops_new_requests_before_it_is_passed_and_a_higher_budget_resumes(server, tmp_path):
    tcfg = llm_config(server.base_url, max_concurrency=2)
    work = plan(contexts(30), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        first = run_llm_requests(work, ledger, "fake", tcfg, budget_usd=0.03)
        assert first.not_sent_budget > 0 and "budget_usd=0.0300 would be passed" in first.message
        assert ledger.spent_usd() <= 0.03
        assert first.done + first.not_sent_budget == 30
        assert ledger.counts()[("fake", "pending")] == first.not_sent_budget
        todo = [(r, c) for r, c in work if ledger.states([r.request_id])[r.request_id] != "done"]
        second = run_llm_requests(todo, ledger, "fake", tcfg, budget_usd=1.0)
        assert second.done == first.not_sent_budget and ledger.resent() == 0
    assert max(server.fake.counters.answered.values()) == 1


def test_a_failed_request_is_retried_on_a_later_run_without_counting_a_resend(server, tmp_path):
    server.fake.reset(fail_first=2, faults=("500",))
    tcfg = llm_config(server.base_url, max_attempts=2)
    work = plan(contexts(3), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        assert run_llm_requests(work, ledger, "fake", tcfg).failed == 3
        assert run_llm_requests(work, ledger, "fake", tcfg).done == 3
        assert ledger.resent() == 0
        assert column(ledger, "SELECT attempts FROM requests") == [3, 3, 3]


def test_a_vision_teacher_sends_the_rendered_page_as_a_base64_png(server, tmp_path):
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (2200, 1700), "white").save(buf, format="PNG")  # a letter page at 200 dpi
    png = buf.getvalue()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "r0000.png").write_bytes(png)
    ctxs = contexts(1)
    ctxs[0].image_path = "images/r0000.png"  # relative to the dataset root
    ctxs[0].image_sha256 = hashlib.sha256(png).hexdigest()
    tcfg = llm_config(server.base_url, vision=True)
    work = plan(ctxs, "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        assert run_llm_requests(work, ledger, "fake", tcfg, data_root=tmp_path).done == 1
    content = server.fake.counters.bodies[-1]["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (994, 768)  # downscaled to the size gpt-4o bills anyway (tasks/teachers/vision.py)


def test_the_page_hash_keys_vision_requests_and_leaves_text_only_keys_alone(server):
    ctx = contexts(1)[0].model_copy(update={"image_path": "images/r0000.png", "image_sha256": "a" * 64})
    rerendered = ctx.model_copy(update={"image_sha256": "b" * 64})
    vision, text_only = llm_config(server.base_url, vision=True), llm_config(server.base_url)
    key = lambda c, t: plan_request(c, "fake", t, "v1", Vocabulary.load()).request_id  # noqa: E731
    assert key(ctx, vision) != key(rerendered, vision)  # a new page is a new paid request
    assert key(ctx, text_only) == key(rerendered, text_only)  # the page is not sent, so it is not in the key
    assert key(ctx, vision) != key(ctx, text_only)
    with pytest.raises(ValueError, match="sha256 is unknown"):
        key(ctx.model_copy(update={"image_sha256": None}), vision)


def test_a_missing_api_key_names_the_variable_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKey, match=r"\$OPENAI_API_KEY"):
        LlmTeacher("gpt-4o", builtin_teachers()["gpt-4o"])


def test_interpret_path_completes_one_request_with_retries(server):
    server.fake.reset(fail_first=1, faults=("503",))
    tcfg = llm_config(server.base_url)
    req, ctx = plan(contexts(1), "fake", tcfg)[0]
    resp = ask_one(req, ctx, "fake", tcfg)
    assert resp.status == "ok" and resp.attempts == 2 and "60 bpm" in resp.text


def test_credentialed_records_are_refused_for_teachers_not_approved_for_their_source(server):
    ctx = contexts(1, source="mimic-iv-ecg", credentialed=True)[0]
    tcfg = llm_config(server.base_url)
    with pytest.raises(GovernanceError, match="credentialed source 'mimic-iv-ecg'.*allowed_credentialed_sources"):
        check_governance(ctx, "fake", tcfg)
    check_governance(ctx, "fake", tcfg.model_copy(update={"allowed_credentialed_sources": ["mimic-iv-ecg"]}))


def test_the_ledger_never_stores_the_api_key(server, tmp_path):
    server.fake.reset(fail_first=1, faults=("500", "400"))
    tcfg = llm_config(server.base_url)
    work = plan(contexts(3), "fake", tcfg)
    with journal(tmp_path, work) as ledger:
        run_llm_requests(work, ledger, "fake", tcfg)
    assert f"Bearer {KEY}" in server.fake.counters.auth
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert KEY.encode() not in raw
    assert sqlite3.connect(tmp_path / "ledger.sqlite").execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 3


def test_the_documented_gemflow_yaml_validates_and_spells_out_the_builtins():
    cfg = load_config(Path(__file__).resolve().parents[1] / "gemflow.yaml")
    assert all(cfg.teachers[name] == t for name, t in builtin_teachers().items())
    assert cfg.teacher == "template" and cfg.teachers["local-vllm"].api_base.startswith("http://127.0.0.1")
    assert cfg.teachers["gpt-4o-batch"].batch
