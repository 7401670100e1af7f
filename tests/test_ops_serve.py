"""`gemflow serve` end to end: one real server for the module, a deployed build seen in headless Chromium.

Covers: pools, teacher limits, deployments and the train-gem trigger exist; a second `serve` is
idempotent; a build run through the deployment shows its progress, tables and rendered sample in the
UI (screenshots are saved under the test's tmp_path); the validated event starts train-gem with the
dataset version; Ctrl-C stops what serve started and nothing else.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("GEMFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACT_KEYS = ("build-progress", "stage-counts", "quarantine-reasons", "rejection-reasons", "cost-by-teacher",
                 "sample-interpretation")


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: Path
    env: dict
    children: list[int]

    @property
    def api(self) -> str:
        return f"{self.url}/api"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _wait_for_line(proc: subprocess.Popen, log: Path, needle: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if needle in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"gemflow serve exited ({proc.returncode}):\n{text}")
        time.sleep(1)
    pytest.fail(f"no {needle!r} from gemflow serve after {timeout_s} s:\n{log.read_text(errors='replace')}")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def running_serve(args: list[str], env: dict, log: Path):
    """`gemflow serve ARGS` until it prints the UI line; yields a Served. Ctrl-C on exit, then kills leftovers."""
    port = args[args.index("--port") + 1]
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    s = Served(f"http://127.0.0.1:{port}", proc, log, env, [])
    try:
        _wait_for_line(proc, log, "UI: ", timeout_s=300)
        s.children = _children_of(proc.pid)
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
        for pid in s.children:  # only if serve failed to stop them
            _kill_group(pid)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`gemflow serve` with its own PREFECT_HOME (SQLite), a free port and a cpu worker only."""
    home = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({"PREFECT_HOME": str(home / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    with running_serve(["--port", str(_free_port()), "--worker", "cpu"], env, home / "serve.log") as s:
        yield s


@contextmanager
def on_server(api: str):
    """Prefect settings pointing at the served API (the session may also hold a test harness)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: api}):
        yield


@contextmanager
def api_client(api: str):
    from prefect.client.orchestration import get_client
    with on_server(api), get_client(sync_client=True) as client:
        yield client


def _automations(api: str) -> list[dict]:
    import httpx
    return httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()


def test_serve_creates_pools_limits_deployments_and_the_training_trigger(served):
    with api_client(served.api) as client:
        pools = {p.name: p.type for p in client.read_work_pools()}
        deployments = {d.name: d for d in client.read_deployments()}
        limits = {lim.name for lim in client.read_global_concurrency_limits(limit=200)}
    assert pools["cpu"] == "process" and pools["gpu"] == "process"
    assert {"build-dataset", "regenerate-with-teacher", "train-gem", "evaluate"} <= set(deployments)
    assert deployments["train-gem"].work_pool_name == "gpu" and deployments["build-dataset"].work_pool_name == "cpu"
    assert [s.schedule.cron for s in deployments["build-dataset"].schedules] == ["0 2 * * *"]
    assert {"gemflow-teacher-gpt-4o-rpm", "gemflow-teacher-gpt-4o-tpm", "gemflow-teacher-deepseek-r1-tpm"} <= limits
    [auto] = [a for a in _automations(served.api) if a["name"].startswith("train-gem")]
    assert auto["trigger"]["expect"] == ["gemflow.dataset.validated"]
    assert auto["actions"][0]["parameters"]["version"] == "{{ event.payload.version }}"


def test_a_second_serve_refreshes_the_setup_and_starts_nothing(served):
    before = _children_of(served.proc.pid)
    again = subprocess.run([sys.executable, "-m", "ops.cli", "serve", "--port", served.url.rsplit(":", 1)[1],
                            "--worker", "cpu"], cwd=REPO, env=served.env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and "work pool cpu: exists" in again.stdout
    with api_client(served.api) as client:
        names = sorted(d.name for d in client.read_deployments())
    assert names == sorted(set(names)) and len(names) == 4
    assert len([a for a in _automations(served.api) if a["name"].startswith("train-gem")]) == 1
    assert sorted(_children_of(served.proc.pid)) == sorted(before)


@pytest.fixture(scope="module")
def dry_run_training(served, tmp_path_factory):
    """train-gem's defaults switched to a dry run with a tiny config, before any event can start it."""
    from prefect.client.schemas.actions import DeploymentUpdate
    config = tmp_path_factory.mktemp("train-config") / "train.yaml"
    config.write_text("train:\n  training: {max_steps: 1}\n")
    with api_client(served.api) as client:
        dep = client.read_deployment_by_name("train-gem/train-gem")
        client.update_deployment(dep.id, DeploymentUpdate(parameters={**dep.parameters, "config": str(config),
                                                                        "dry_run": True}))
    return config


@pytest.fixture(scope="module")
def deployed_build(served, dry_run_training, cinc2021_dir, tmp_path_factory):
    """A small build (3 records, template teacher) run by the cpu worker through the build-dataset deployment."""
    from prefect.deployments import run_deployment
    data = tmp_path_factory.mktemp("served-build") / "data"
    with on_server(served.api):
        run = run_deployment("build-dataset/build-dataset", timeout=420, parameters={
            "data": str(data), "sources": [str(cinc2021_dir)], "limit": 3, "teacher": "template",
            "target_pairs": 2})
    assert run.state.is_completed(), f"{run.state}\n{served.log.read_text(errors='replace')[-3000:]}"
    return run, data


def _artifacts(api: str, flow_run_id) -> dict:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    with api_client(api) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
            any_=[flow_run_id])))
    return {a.key: a for a in arts}


def test_a_deployed_build_is_named_by_what_ran_and_publishes_its_artifacts(served, deployed_build):
    run, _ = deployed_build
    assert run.name == "build-dataset/cinc2021/template/v1"
    arts = _artifacts(served.api, run.id)
    assert set(ARTIFACT_KEYS) <= set(arts)
    assert arts["build-progress"].data == 100 and arts["build-progress"].description == "build: 6 of 6 stages done"
    counts = {(r["stage"], r["count"]): r["value"] for r in json.loads(arts["stage-counts"].data)}
    assert counts[("ingest", "ingested")] == 3 and counts[("features", "measured")] == 3
    assert "data:image/png;base64," in arts["sample-interpretation"].data


def test_the_flow_run_page_shows_the_artifacts_in_chromium(served, deployed_build, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")
    run, _ = deployed_build
    sample_id = _artifacts(served.api, run.id)["sample-interpretation"].id
    shots = [tmp_path / "flow-run-artifacts.png", tmp_path / "sample-interpretation.png"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{served.url}/runs/flow-run/{run.id}", wait_until="networkidle", timeout=120_000)
            page.get_by_text("Artifacts", exact=True).first.click()
            for key in ARTIFACT_KEYS:
                page.get_by_text(key, exact=True).first.wait_for(state="visible", timeout=60_000)
            assert page.get_by_text("build: 6 of 6 stages done").first.is_visible()
            page.screenshot(path=str(shots[0]), full_page=True)
            page.goto(f"{served.url}/artifacts/artifact/{sample_id}", wait_until="networkidle", timeout=120_000)
            page.get_by_text("Accepted interpretation").first.wait_for(state="visible", timeout=60_000)
            widths = page.evaluate("Array.from(document.images).filter(i => i.src.startsWith('data:image/png'))"
                                   ".map(i => i.naturalWidth)")
            page.screenshot(path=str(shots[1]))
        finally:
            browser.close()
    print(f"\nscreenshots: {shots[0]}  {shots[1]}")
    assert widths == [2200]  # the rendered page itself, decoded by the browser
    assert all(p.stat().st_size > 20_000 for p in shots)


def test_the_validated_event_starts_train_gem_with_the_dataset_version(served, deployed_build):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    run, data = deployed_build
    versions = [p.name for p in (data / "exports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(versions) == 1
    deadline, runs = time.monotonic() + 120, []
    with api_client(served.api) as client:
        while time.monotonic() < deadline and not runs:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(
                any_=["train-gem"])))
            time.sleep(2)
    assert runs, "no train-gem run was triggered by gemflow.dataset.validated"
    assert runs[0].parameters["version"] == versions[0]
    assert runs[0].parameters["dataset_uri"] == data.resolve().as_uri()


def _train_gem_runs(api: str, version: str) -> list:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    with api_client(api) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["train-gem"])))
    return [r for r in runs if r.parameters.get("version") == version]


def test_a_twice_fired_event_trains_each_dataset_version_once(served, deployed_build, tmp_path):
    """Issue 6: reaching the target starts training; the same event again starts no second training."""
    import httpx
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.events import Event
    _, data = deployed_build
    [version] = [p.name for p in (data / "exports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    payload = {"dataset_uri": data.resolve().as_uri(), "version": version, "count": 3}
    # posted straight to the served API: this process's Prefect event worker may belong to the
    # session's test harness, and a rerun of the build would emit exactly this event again
    event = Event(event="gemflow.dataset.validated", resource={"prefect.resource.id": f"gemflow.dataset.{version}"},
                  payload=payload)
    httpx.post(f"{served.api}/events", json=[event.model_dump(mode="json")], timeout=30).raise_for_status()
    log = tmp_path / "worker-gpu.log"
    with open(log, "wb") as out:  # the gpu pool's worker, here a local process worker
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "gpu", "--type",
                                   "process"], cwd=REPO, env={**served.env, "PREFECT_API_URL": served.api},
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, runs = time.monotonic() + 300, []
        while time.monotonic() < deadline:
            runs = _train_gem_runs(served.api, version)
            if len(runs) >= 2 and all(r.state and r.state.is_final() for r in runs):
                break
            time.sleep(3)
    finally:
        _kill_group(worker.pid)
        worker.wait()
    assert len(runs) == 2, f"{[(r.name, r.state) for r in runs]}\n{log.read_text(errors='replace')[-3000:]}"
    assert all(r.state.is_completed() for r in runs), log.read_text(errors="replace")[-3000:]
    with api_client(served.api) as client:
        trains = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["train"])))
    assert len(trains) == 1 and trains[0].state.is_completed(), "exactly one training run for the version"
    assert trains[0].parameters["overrides"] == [f"data.export={version}"]
    assert trains[0].parameters["dry_run"] is True


def test_ctrl_c_stops_what_serve_started_and_nothing_else(served):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        started = _children_of(served.proc.pid)
        assert len(started) == 2  # the server and the cpu worker
        served.proc.send_signal(signal.SIGINT)
        assert served.proc.wait(timeout=90) == 0
        assert not [pid for pid in started if _alive(pid)]
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(served.url.rsplit(":", 1)[1]))) != 0
        assert bystander.poll() is None
        assert "stopped: server, worker-cpu" in served.log.read_text()
    finally:
        bystander.kill()
        bystander.wait()
