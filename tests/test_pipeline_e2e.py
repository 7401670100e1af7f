"""End to end: `gemflow run` on the real shared records, rerun idempotence, the catalog and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(prefect_api, cinc2021_dir, wfdb_samples_dir, tmp_path_factory):
    from flows.build_dataset import build_dataset_flow
    data = tmp_path_factory.mktemp("e2e") / "data"
    sources = [str(cinc2021_dir), str(wfdb_samples_dir)]
    first = build_dataset_flow(data=str(data), sources=sources)
    second = build_dataset_flow(data=str(data), sources=sources)
    return data, first, second


def _sql(data, q):
    con = duckdb.connect(str(data / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


def test_run_ingests_26_records_and_quarantines_record_100(built):
    data, first, _ = built
    assert first.ingest.counts.ingested == 26
    assert _sql(data, "select count(*) from records")[0][0] == 26
    rows = _sql(data, "select record_id, stage, reason, detail from quarantine")
    assert rows == [("wfdb_samples-100", "ingest", "not a 12-lead record",
                     "missing leads I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V6; found channels MLII, V5")]


def test_every_ingested_record_has_beats_features_and_one_image(built):
    data, _, _ = built
    assert _sql(data, "select count(distinct record_id) from beats")[0][0] == 26
    assert _sql(data, "select count(*) from record_features")[0][0] == 26
    assert _sql(data, "select count(*), count(distinct record_id) from images") == [(26, 26)]
    for (path, ppm, w, h) in _sql(data, "select path, px_per_mm, width, height from images"):
        assert (data / path).stat().st_size > 10_000 and ppm == pytest.approx(200 / 25.4) and (w, h) == (2200, 1700)


def test_at_least_20_pairs_are_accepted_and_splits_are_disjoint_by_patient(built):
    data, first, _ = built
    assert first.validate.counts.accepted >= 20
    assert _sql(data, "select count(*) from pairs")[0][0] >= 20
    overlap = _sql(data, "select patient_id from pairs group by patient_id having count(distinct split) > 1")
    assert overlap == []
    export = data / "exports" / first.export.version
    items = [i for s in ("train", "val", "test") for i in json.loads((export / f"{s}.json").read_text())]
    assert len(items) == _sql(data, "select count(*) from pairs")[0][0]
    item = items[0]
    assert set(item) >= {"id", "image", "ecg", "conversations"}
    assert item["conversations"][0]["from"] == "human" and item["conversations"][0]["value"].startswith("<image>\n")
    assert (data / item["image"]).exists() and (data / (item["ecg"] + ".hea")).exists()
    assert (export / "README.md").read_text().startswith("# gemflow dataset")


def test_second_run_does_no_work_twice_and_adds_no_rows(built):
    data, first, second = built
    assert second.ingest.summary() == {"ingested": 0, "quarantined": 0}
    assert second.features.counts.measured == 0 and second.render.counts.rendered == 0
    assert second.generate.counts.planned == 0
    assert (second.validate.counts.accepted, second.validate.counts.rejected) == (0, 0)
    assert second.export.version == first.export.version and second.export.created is False
    for table in ("records", "beats", "record_features", "images", "pairs", "quarantine"):
        dupes = _sql(data, f"select count(*) - count(distinct to_json({table})) from {table}")[0][0]
        assert dupes == 0, table
    assert _sql(data, "select count(*) from responses")[0][0] == 26


def test_status_cli_prints_counts_and_reasons(built, cli_env):
    data, _, _ = built
    out = subprocess.run([sys.executable, "-m", "ops.cli", "status", "--data", str(data), "--json"],
                         capture_output=True, text=True, env=cli_env, check=True)
    rep = json.loads(out.stdout)
    assert rep["counts"]["records"] == 26 and rep["counts"]["pairs"] >= 20
    assert rep["quarantine"] == [["ingest", "not a 12-lead record", 1]]


def test_demo_cli_builds_a_dataset_from_generated_records(cli_env, tmp_path):
    pytest.importorskip("deepfakeecg", reason="the demo extra is not installed")
    out = subprocess.run([sys.executable, "-m", "ops.cli", "demo", "--data", str(tmp_path / "demo"), "--n", "6",
                          "--json"], capture_output=True, text=True, env=cli_env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout[out.stdout.index("{"):])
    assert result["ingest"]["ingested"] == 6 and result["features"]["measured"] == 6
    assert result["validate"]["accepted"] >= 5
