"""The generate flow with a real LLM teacher (the local server) on real CinC-2021 records, under Prefect.

Covers: end to end through validate, the cost artifact and projection, the strict Prefect limits,
governance of credentialed sources, keys from a Prefect Secret block, and a scan of every log,
artifact, Parquet and DuckDB file for the API key.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.teacher_support import KEY, KEY_ENV, fake_openai, server  # noqa: F401

pytestmark = pytest.mark.slow
N_PLAIN, N_CREDENTIALED = 4, 2


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness
    with prefect_test_harness(server_startup_timeout=120):
        yield


def write_config(path: Path, base_url: str, sources: list[dict] | None = None, **teacher) -> str:
    fake = {"model": "openai/gpt-4o", "api_base": base_url, "api_key_env": KEY_ENV, "rpm": 6000, "tpm": 10**7,
            "max_concurrency": 4, "timeout_s": 5, "retry_base_s": 0.01, "retry_max_s": 0.05, **teacher}
    path.write_text(yaml.safe_dump({"teachers": {"fake": fake}, "teacher": "fake", "sources": sources or []}))
    return str(path)


@pytest.fixture(scope="module")
def measured_root(harness, cinc2021_dir, tmp_path_factory, fake_openai):
    """4 plain and 2 credentialed CinC-2021 records, ingested, measured and rendered (once per module)."""
    from flows.features import features_flow
    from flows.ingest import ingest_flow
    from flows.render import render_flow
    base = tmp_path_factory.mktemp("measured")
    root = base / "data"
    plain = write_config(base / "plain.yaml", fake_openai.base_url, [{"path": str(cinc2021_dir), "name": "cinc"}])
    cred = write_config(base / "cred.yaml", fake_openai.base_url,
                        [{"path": str(cinc2021_dir), "name": "mimic_like", "credentialed": True}])
    ingest_flow(str(root), limit=N_PLAIN, config_path=plain)
    ingest_flow(str(root), limit=N_CREDENTIALED, config_path=cred)
    features_flow(str(root), plain)
    render_flow(str(root), plain)
    return root


@pytest.fixture
def root(measured_root, tmp_path) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(measured_root, dest)
    return dest


def artifact(key: str) -> list:
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    data = sorted(found, key=lambda a: a.created)[-1].data
    return json.loads(data) if isinstance(data, str) else data


def prefect_text() -> str:
    """Every log line, artifact and flow-run parameter the Prefect API holds."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(limit=200)
        arts = client.read_artifacts(limit=200)
        runs = client.read_flow_runs(limit=200)
    return "\n".join([*(x.message for x in logs), *(str(a.data) for a in arts), *(str(r.parameters) for r in runs)])


def test_llm_teacher_runs_end_to_end_and_no_key_leaks_anywhere(server, root, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.generate import generate_flow
    from flows.validate import validate_flow
    from flows.limits import teacher_limits
    from schemas.config import load_config
    config = write_config(tmp_path / "gemflow.yaml", server.base_url)
    out = generate_flow(str(root), config_path=config)
    assert out.counts.done == N_PLAIN and out.counts.quarantined == N_CREDENTIALED and out.spent_usd > 0
    assert out.projected_usd == pytest.approx(out.spent_usd)  # nothing pending
    assert validate_flow(str(root), "fake", "v1", config).counts.accepted >= 1
    rows = {r["teacher"]: r for r in artifact("teacher-cost")}
    assert rows["fake"]["done"] == N_PLAIN and rows["fake"]["projected_usd"] == pytest.approx(out.spent_usd, abs=1e-6)
    lim = teacher_limits("fake", load_config(config).teacher_config("fake"))
    with get_client(sync_client=True) as client:
        rpm = client.read_global_concurrency_limit_by_name(lim.rpm)
        assert rpm.slot_decay_per_second == pytest.approx(100.0 * 100, rel=0.01)  # 100 slots per request
    assert f"Bearer {KEY}" in server.fake.counters.auth
    assert KEY not in prefect_text()
    for path in root.rglob("*"):  # Parquet tables, catalog.duckdb, ledger.sqlite, logs
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def test_credentialed_records_are_quarantined_unless_the_teacher_is_approved(server, root, tmp_path):
    import duckdb

    from flows.generate import generate_flow
    generate_flow(str(root), config_path=write_config(tmp_path / "a.yaml", server.base_url))
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    rows = con.execute("SELECT q.stage, q.reason, q.detail FROM quarantine q WHERE q.stage='generate'").fetchall()
    con.close()
    assert len(rows) == N_CREDENTIALED
    assert all(r[1] == "credentialed source not allowed" and "allowed_credentialed_sources" in r[2] for r in rows)
    assert sum(server.fake.counters.answered.values()) == N_PLAIN  # nothing credentialed went out
    approved = write_config(tmp_path / "b.yaml", server.base_url, allowed_credentialed_sources=["mimic_like"])
    shutil.rmtree(root / "tables" / "quarantine")  # a fresh decision under the approving config
    out = generate_flow(str(root), config_path=approved)
    assert out.counts.done == N_CREDENTIALED and out.counts.quarantined == 0


def test_a_prefect_secret_block_supplies_the_key(server, root, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    from flows.generate import generate_flow
    block_key = "sk-from-a-secret-block-7d1f"
    Secret(value=block_key).save("gemflow-test-teacher-key", overwrite=True)
    monkeypatch.delenv(KEY_ENV)
    server.fake.reset(api_key=block_key)  # the server demands the block's key, nothing else
    config = write_config(tmp_path / "gemflow.yaml", server.base_url, api_key_env=None,
                          api_key_secret_block="gemflow-test-teacher-key")
    assert generate_flow(str(root), config_path=config).counts.done == N_PLAIN
    assert server.fake.counters.auth == {f"Bearer {block_key}"}
    assert block_key not in prefect_text()


def test_a_budget_stop_is_reported_and_status_projects_the_total(server, root, tmp_path):
    from rich.console import Console

    from flows.generate import generate_flow
    from ops.status import print_status
    from storage.layout import DataRoot
    from tasks.status import collect_status
    config = write_config(tmp_path / "gemflow.yaml", server.base_url, max_concurrency=1)
    cfg = yaml.safe_load(Path(config).read_text())
    cfg["budget_usd"] = 0.03  # room for two gpt-4o answers (~5,000 prompt tokens, ~$0.007 each)
    Path(config).write_text(yaml.safe_dump(cfg))
    out = generate_flow(str(root), config_path=config)
    assert out.counts.not_sent_budget > 0 and out.spent_usd <= 0.03
    assert out.projected_usd > out.spent_usd
    console = Console(record=True, width=160)
    print_status(console, collect_status(DataRoot.open(root)), root)
    assert "projected" in console.export_text()
    cfg["budget_usd"] = 10.0
    Path(config).write_text(yaml.safe_dump(cfg))
    assert generate_flow(str(root), config_path=config).counts.done == out.counts.not_sent_budget
