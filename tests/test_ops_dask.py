"""Scale-out: ingest, features and render on a 2-worker Dask LocalCluster give what a local run gives, byte for byte.

The reference root runs every stage on the default thread runner under the session's test server.
The other root is ingested on `task_runner("dask", 2)` in-process, runs features through the CLI in
ephemeral mode (`--runner dask --workers 2`: the path where Dask workers must be handed the temporary
server's address) and render in-process on `task_runner("dask", 2)`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _table(root: Path, name: str, sort: list[str]) -> pa.Table:
    import pyarrow.dataset as ds
    table = ds.dataset(str(root / "tables" / name), format="parquet").to_table()
    return table.sort_by([(c, "ascending") for c in sort])


def _images(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "images").rglob("*.png"))}


@pytest.fixture(scope="module")
def roots(prefect_api, cinc2021_dir, tmp_path_factory):
    """(local, dask) dataset roots, each ingested with 4 records by its own runner, and the local run's flow-run ids."""
    from flows.runners import task_runner
    from flows.features import features_flow
    from flows.ingest import ingest_flow
    from flows.render import render_flow
    base = tmp_path_factory.mktemp("dask")
    local, dask = base / "local", base / "dask"
    ingest_flow(str(local), [str(cinc2021_dir)], limit=4)
    counts = ingest_flow.with_options(task_runner=task_runner("dask", 2))(str(dask), [str(cinc2021_dir)], limit=4)
    assert counts.counts.ingested == 4
    states = {"features": features_flow(str(local), return_state=True),
              "render": render_flow(str(local), return_state=True)}
    return local, dask, {k: s.state_details.flow_run_id for k, s in states.items()}


@pytest.fixture(scope="module")
def dask_results(roots, tmp_path_factory):
    from flows.runners import task_runner
    from flows.render import render_flow
    _, dask, _ = roots
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path_factory.mktemp("ephemeral-home"))
    cli = subprocess.run([sys.executable, "-m", "ops.cli", "features", "--data", str(dask), "--runner", "dask",
                          "--workers", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert cli.returncode == 0, cli.stderr[-4000:]
    # one temporary server, the CLI's: a Dask worker not handed its address would start its own on the same SQLite
    assert cli.stderr.count("Starting temporary server") == 1, cli.stderr[-4000:]
    render = render_flow.with_options(task_runner=task_runner("dask", 2))(str(dask))
    return cli.stdout, render


def test_records_ingested_on_a_two_worker_cluster_equal_the_local_run(roots):
    local, dask, _ = roots
    mine, theirs = _table(local, "records", ["record_id"]), _table(dask, "records", ["record_id"])
    assert mine.num_rows == 4 and mine.equals(theirs)
    signals = {p.relative_to(local): p.read_bytes() for p in sorted((local / "signals").rglob("*")) if p.is_file()}
    assert signals and all((dask / rel).read_bytes() == data for rel, data in signals.items())


def test_features_on_a_two_worker_cluster_equal_the_local_run(roots, dask_results):
    local, dask, _ = roots
    summary, _ = dask_results
    assert "measured=4, quarantined=0" in summary  # the CLI's summary table
    for name, keys in (("record_features", ["record_id"]), ("beats", ["record_id", "lead", "beat"])):
        mine, theirs = _table(local, name, keys), _table(dask, name, keys)
        assert mine.num_rows > 0 and mine.equals(theirs), name


def test_pages_rendered_on_a_two_worker_cluster_are_byte_identical(roots, dask_results):
    local, dask, _ = roots
    _, render = dask_results
    assert render.counts.rendered == 4
    mine, theirs = _images(local), _images(dask)
    assert len(mine) == 4 and mine.keys() == theirs.keys()
    assert all(mine[k] == theirs[k] for k in mine)
    cols = ["record_id", "path", "sha256", "width", "height"]
    mine_rows, their_rows = (_table(root, "images", ["record_id"]).select(cols) for root in (local, dask))
    assert mine_rows.equals(their_rows)


def test_each_stage_run_shows_its_progress_as_an_artifact(roots):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    _, _, runs = roots
    with get_client(sync_client=True) as client:
        for stage, run_id in runs.items():
            arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
                any_=[run_id])))
            progress = [a for a in arts if a.type == "progress"]
            assert [(a.key, a.data, a.description) for a in progress] == [
                (f"{stage}-progress", 100, f"{stage}: 4 of 4 records done")]
