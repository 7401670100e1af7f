"""Operating gemflow from the command line and the config: quiet/JSON output, progress bars, run names,
secrets kept out of forwarded logs, prefect.yaml's shape, and serve's small helpers."""
from __future__ import annotations

import json
import os
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-0123456789abcdefXYZ"


def test_redaction_hides_keys_and_known_secret_values_and_keeps_the_message():
    from flows.common import REDACTED, RedactSecrets
    r = RedactSecrets(known=["hunter2-but-longer"])
    assert r.redact(f"POST /v1/chat with Authorization: Bearer {KEY}") == \
        f"POST /v1/chat with Authorization: Bearer {REDACTED}"
    assert r.redact(f'{{"api_key": "{KEY}", "model": "gpt-4o"}}') == f'{{"api_key": "{REDACTED}", "model": "gpt-4o"}}'
    assert r.redact("GET https://g.example/v1?key=AIzaSyA0123456789&alt=json") == \
        f"GET https://g.example/v1?key={REDACTED}&alt=json"
    assert r.redact("password hunter2-but-longer leaked") == f"password {REDACTED} leaked"
    assert r.redact("api_base=http://127.0.0.1:8000/v1 model=gpt-4o 429 retry in 2 s") == \
        "api_base=http://127.0.0.1:8000/v1 model=gpt-4o 429 retry in 2 s"


def test_secret_values_come_from_variables_named_like_secrets():
    from flows.common import secret_values
    env = {"OPENAI_API_KEY": "abc", "HF_TOKEN": "tok", "PATH": "/usr/bin", "DB_PASSWORD": "pw", "EMPTY_API_KEY": ""}
    assert sorted(secret_values(env)) == ["abc", "pw", "tok"]


def test_quiet_and_json_lower_prefect_and_dask_logging():
    from ops.cli import quiet_logs_if_asked
    env: dict = {}
    quiet_logs_if_asked(["run", "--source", "x"], env)
    assert env == {}
    for flag in ("--quiet", "-q", "--json"):
        env = {"PREFECT_LOGGING_LEVEL": "DEBUG"}
        quiet_logs_if_asked(["features", flag], env)
        assert env == {"PREFECT_LOGGING_LEVEL": "WARNING", "DASK_LOGGING__DISTRIBUTED": "warning"}


def test_run_names_show_the_resolved_teacher_and_prompt_version(tmp_path):
    from flows.build_dataset import run_name
    from flows.common import resolved_teacher
    cfg = tmp_path / "gemflow.yaml"
    cfg.write_text("teacher: gpt-4o\nprompt_version: v1\n")
    assert run_name(["ptbxl:/data/ptb-xl"], *resolved_teacher(None, None, str(cfg))) == "build-dataset/ptb-xl/gpt-4o/v1"
    assert resolved_teacher("deepseek-r1", None, str(cfg)) == ("deepseek-r1", "v1")
    assert resolved_teacher(None, "v3", None) == ("template", "v3")
    bad = tmp_path / "bad.yaml"
    bad.write_text("teacher: nobody\n")
    assert resolved_teacher(None, None, str(bad)) == ("default", "default")  # the flow then fails naming the field


def test_task_runner_dask_is_a_local_cluster_or_a_scheduler_address():
    from flows.dask_runner import GemflowDaskTaskRunner
    from flows.runners import task_runner
    local = task_runner("dask", 2)
    assert isinstance(local, GemflowDaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 2 and local.cluster_kwargs["threads_per_worker"] == 1
    assert isinstance(local.duplicate(), GemflowDaskTaskRunner)  # Prefect copies the runner per flow run
    assert task_runner("dask", 2, "tcp://scheduler:8786").address == "tcp://scheduler:8786"
    with pytest.raises(ValueError, match="unknown task runner 'ray'"):
        task_runner("ray")


def test_prefect_yaml_shares_settings_by_anchors_and_triggers_train_gem_with_the_dataset_version():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert set(deps) == {"build-dataset", "regenerate-with-teacher", "train-gem", "evaluate"}
    env = spec["definitions"]["env"]
    for name, pool in (("build-dataset", "cpu"), ("regenerate-with-teacher", "cpu"), ("evaluate", "cpu"),
                       ("train-gem", "gpu")):
        assert deps[name]["work_pool"]["name"] == pool
        assert env.items() <= deps[name]["work_pool"]["job_variables"]["env"].items()
    assert "LiteLLM" in env["PREFECT_LOGGING_EXTRA_LOGGERS"] and "openai" in env["PREFECT_LOGGING_EXTRA_LOGGERS"]
    build = deps["build-dataset"]
    assert {"data", "sources", "teacher", "target_pairs"} <= set(build["parameters"])
    assert build["schedules"][0]["cron"] == "0 2 * * *" and build["concurrency_limit"] == 1
    assert {"teacher", "prompt_version"} <= set(deps["regenerate-with-teacher"]["parameters"])
    [trigger] = deps["train-gem"]["triggers"]
    assert trigger["expect"] == ["gemflow.dataset.validated"]
    assert trigger["parameters"] == {"dataset_uri": "{{ event.payload.dataset_uri }}",
                                     "version": "{{ event.payload.version }}"}
    for dep in deps.values():
        path, func = dep["entrypoint"].split(":")
        if (REPO / path).exists():
            assert f"def {func}(" in (REPO / path).read_text(), dep["entrypoint"]


def test_serve_skips_deployments_whose_entrypoint_file_is_missing(tmp_path):
    from ops.serve import deployable
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a.py").write_text("")
    spec = {"deployments": [{"name": "a", "entrypoint": "flows/a.py:f"}, {"name": "b", "entrypoint": "flows/b.py:g"}]}
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec))
    assert deployable(tmp_path / "prefect.yaml") == (["a"], ["b"])


def test_serve_never_prints_a_database_password():
    from ops.serve import redact_url
    url = "postgresql+asyncpg://prefect:s3cret@db:5432/prefect"
    assert redact_url(url) == "postgresql+asyncpg://prefect:***@db:5432/prefect"
    assert redact_url("sqlite+aiosqlite:////tmp/prefect.db") == "sqlite+aiosqlite:////tmp/prefect.db"


def test_progress_outside_a_flow_run_counts_without_publishing():
    from flows.progress import StageProgress
    p = StageProgress("features", 0)
    assert p.percent == 100.0 and p.describe() == "features: 0 of 0 records done"
    p.grow(8)
    p.advance(2)
    assert p.percent == 25.0 and p.describe() == "features: 2 of 8 records done"


# --- slow: the CLI against the session's Prefect test server ---

def _gemflow(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=400)


@pytest.mark.parametrize("text, says", [
    ("teachers:\n  gpt-4o: {rpm: -5}\n", "teachers.gpt-4o.rpm: Input should be greater than 0"),
    ("render: [unclosed\n", "not valid YAML"),
])
def test_a_bad_config_is_a_usage_error_naming_the_field_before_any_run(text, says, tmp_path):
    bad = tmp_path / "gemflow.yaml"
    bad.write_text(text)
    out = _gemflow(["ingest", "--source", str(tmp_path), "--data", str(tmp_path / "data"), "--config", str(bad)],
                   {**os.environ, "COLUMNS": "400"})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert says in out.stderr and "--config" in out.stderr
    assert not (tmp_path / "data").exists()  # nothing ran


@pytest.mark.slow
def test_quiet_prints_nothing_and_json_prints_only_json(cli_env, cinc2021_dir, tmp_path):
    data = str(tmp_path / "data")
    quiet = _gemflow(["ingest", "--source", str(cinc2021_dir), "--data", data, "--limit", "2", "--quiet"], cli_env)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert quiet.stdout == "" and "INFO" not in quiet.stderr, quiet.stderr[-3000:]
    as_json = _gemflow(["features", "--data", data, "--json"], cli_env)
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    assert json.loads(as_json.stdout) == {"measured": 2, "quarantined": 0, "beats": json.loads(as_json.stdout)["beats"]}
    assert "INFO" not in as_json.stderr and "━" not in as_json.stderr
    shown = _gemflow(["render", "--data", data], cli_env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "2/2" in shown.stderr and "━" in shown.stderr  # the stage's bar, on stderr
    assert "rendered=2, reused=0, quarantined=0" in shown.stdout  # the summary table, on stdout


@pytest.mark.slow
def test_library_logs_reach_the_flow_run_with_secrets_redacted(prefect_api):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    from flows.common import forward_library_logs
    forward_library_logs()  # what every flow's settings() does first

    @flow(name="leaky-library")
    def leaky() -> None:
        logging.getLogger("openai._base_client").warning("Retrying request with Authorization: Bearer %s", KEY)
        logging.getLogger("LiteLLM").error("litellm.RateLimitError: api_key=%s model=gpt-4o", KEY)

    state = leaky(return_state=True)
    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(
            any_=[state.state_details.flow_run_id])))
    lines = [entry.message for entry in logs]
    assert any(line.startswith("Retrying request with Authorization: Bearer [REDACTED]") for line in lines), lines
    assert any(line.startswith("litellm.RateLimitError: ") and line.endswith(" model=gpt-4o") for line in lines), lines
    assert not [line for line in lines if KEY in line]


def test_the_thread_timeout_warning_is_said_once_and_other_task_logs_pass():
    from flows.common import OnceInThreads
    once = OnceInThreads()

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("prefect.task_runs", logging.WARNING, __file__, 0, msg, None, None)

    warning = "Timeout of 3600.0 seconds configured for this task, but the task is running in a worker thread."
    assert [once.filter(record(m)) for m in (warning, "Finished in state Completed()", warning)] == [True, True, False]
