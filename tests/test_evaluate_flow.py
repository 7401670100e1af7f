"""`gemflow evaluate` end to end on a demo dataset: the template baseline, resume, a judge over HTTP, the CLI."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager

import pytest
import yaml

from tasks.evaluate.review import CSV_COLUMNS, RATINGS
from tasks.evaluate.store import OUTPUTS_SCHEMA, parts, read_rows
from tests.openai_server import FakeOpenAI, ServerThread, Settings
from tests.model_support import tiny_checkpoint
from tests.test_evaluate_judge import SCORES, answer

pytestmark = pytest.mark.slow
KEY_ENV = "GEMFLOW_TEST_JUDGE_KEY"


@pytest.fixture(scope="module")
def demo(prefect_api, tmp_path_factory):
    """A 5-record demo dataset built by the real flow; returns (data dir, split with most items, its size)."""
    pytest.importorskip("deepfakeecg", reason="the demo extra is not installed")
    from flows.build_dataset import build_dataset_flow
    from tasks.ingest.demo import write_demo_records
    data = tmp_path_factory.mktemp("evaldemo") / "data"
    folder = data / "sources" / "demo"
    write_demo_records(folder, n=5, seed=11)
    result = build_dataset_flow(data=str(data), sources=[f"demo:{folder}"])
    counts = {s: result.export.counts[s] for s in ("train", "val", "test")}
    split = max(counts, key=counts.get)
    return data, split, counts[split]


@contextmanager
def served_teacher(name: str, settings: Settings, config, monkeypatch):
    """The fake OpenAI server, and a gemflow.yaml at `config` naming it as LLM teacher `name`."""
    server = ServerThread(FakeOpenAI(settings, api_key=f"sk-{name}-test")).start()  # it demands this key
    monkeypatch.setenv(KEY_ENV, f"sk-{name}-test")
    config.write_text(yaml.safe_dump({"teachers": {name: {
        "model": f"openai/{name}", "api_base": server.base_url, "api_key_env": KEY_ENV, "rpm": 6000,
        "retry_base_s": 0.01, "retry_max_s": 0.05}}}))
    try:
        yield server
    finally:
        server.stop()


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_template_baseline_resumes_without_truncation_and_reports(demo):
    from flows.evaluate import evaluate_flow
    data, split, n = demo
    first = evaluate_flow(data=str(data), split=split, limit=2)
    outputs = next((data / "evaluation").glob(f"*/{split}/template/outputs"))
    [part] = parts(outputs)
    before = _digest(part)
    second = evaluate_flow(data=str(data), split=split)
    third = evaluate_flow(data=str(data), split=split)
    assert (first.counts.interpreted, second.counts.interpreted, third.counts.interpreted) == (2, n - 2, 0)
    assert len(parts(outputs)) == 2 and _digest(part) == before  # appended, never rewritten
    rows = read_rows(outputs, OUTPUTS_SCHEMA)
    assert len(rows) == n == len({r["item_id"] for r in rows})
    metrics = json.loads((outputs.parent / "metrics.json").read_text())
    assert metrics["n_interpreted"] == n and metrics["n_failed"] == 0 and metrics["n_pending"] == 0
    g = metrics["grounding"]
    assert g["grounding_score"] == pytest.approx(1.0) and g["numeric_agreement"] == pytest.approx(1.0)
    assert g["n_claims"] >= 10 * n and 0.5 <= g["lead_coverage"] <= 1.0
    labels = metrics["labels"]  # demo records carry no labels and the blind template states none
    assert labels["macro_f1"] is None and labels["note"].startswith("n/a") and labels["macro_auc"] is None
    report = (outputs.parents[1] / "report.md").read_text()
    assert "| template |" in report and "grounding_hist.png" in report
    assert (outputs.parents[1] / "grounding_hist.png").stat().st_size > 5_000
    assert split in (data / "evaluation" / "report.md").read_text()


def test_judge_served_over_http_is_aggregated_beside_judge_free_scores(demo, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.evaluate import evaluate_flow
    data, split, n = demo
    config = tmp_path / "gemflow.yaml"
    with served_teacher("judge", Settings(answer="fixed", fixed_text=answer(SCORES[0])), config,
                        monkeypatch) as server:
        result = evaluate_flow(data=str(data), split=split, judge="judge", config_path=str(config))
        again = evaluate_flow(data=str(data), split=split, judge="judge", config_path=str(config))
        sent = sum(server.fake.counters.received.values())
    assert result.counts.judged == n and result.counts.judge_failed == 0 and again.counts.judged == 0 and sent == n
    metrics = json.loads(next((data / "evaluation").glob(f"*/{split}/template/metrics.json")).read_text())
    judged = metrics["judges"]["judge"]
    agg = {a["metric"]: a["value"] for a in judged["metrics"]}
    assert judged["n_judged"] == n and judged["n_failed"] == 0
    assert agg["diagnosis_accuracy"] == 1.0 and agg["lead_assessment_accuracy"] == pytest.approx(20 / 24)
    assert agg["lead_assessment_coverage"] == 1.0 and agg["ecg_feature_grounding"] == 80.0
    report = next((data / "evaluation").glob(f"*/{split}/report.md")).read_text()
    section = report.split("## Grounding")[1].split("## Per class")[0]
    assert "grounding score" in section and "Lead assessment accuracy" in section and "83.3%" in section
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["evaluation-report"])),
                                     sort=ArtifactSort.CREATED_DESC, limit=1)
    assert arts and "Diagnosis accuracy" in arts[0].data  # the latest report, published by the judged run


def test_cli_compares_sighted_and_blind_and_reads_back_a_review_sheet(demo, cli_env, tmp_path):
    data, split, n = demo
    cli = [sys.executable, "-m", "ops.cli"]
    out = subprocess.run([*cli, "evaluate", "--data", str(data), "--split", split, "--sighted", "--json"],
                         capture_output=True, text=True, env=cli_env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout[out.stdout.index("{"):])["interpreter"] == "template-sighted"
    out = subprocess.run([*cli, "review-sheet", "--data", str(data), "--split", split, "-i", "template",
                          "-i", "template-sighted", "--n", "2", "--json"],
                         capture_output=True, text=True, env=cli_env, timeout=300, check=True)
    paths = json.loads(out.stdout)
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for k, row in enumerate(rows):
        row.update({"reviewer": "dr", **{f: str(1 + (k + j) % 5) for j, f in enumerate(RATINGS)}})
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    out = subprocess.run([*cli, "review-sheet", "--data", str(data), "--read", str(filled)],
                         capture_output=True, text=True, env=cli_env, timeout=300, check=True)
    assert "| overall satisfaction |" in out.stdout and "n=2" in out.stdout
    report = next((data / "evaluation").glob(f"*/{split}/report.md")).read_text()
    assert "template-sighted" in report and "| overall satisfaction |" in report


def test_an_llm_teacher_over_http_is_compared_with_the_template_on_the_same_split(demo, tmp_path, monkeypatch):
    from flows.evaluate import evaluate_flow
    data, split, n = demo
    config = tmp_path / "gemflow.yaml"
    with served_teacher("local-llm", Settings(answer="grounded"), config, monkeypatch):
        result = evaluate_flow(data=str(data), split=split, teacher="local-llm", config_path=str(config))
    assert result.counts.interpreted == n and result.interpreter == "local-llm"
    ledger = next((data / "evaluation").glob(f"*/{split}/local-llm/ledger.sqlite"))
    with sqlite3.connect(ledger) as con:
        sent = [json.loads(r[0])["messages"][-1]["content"] for r in con.execute("select request_json from requests")]
    assert len(sent) == n and all("Reference diagnosis (do not reveal): none given" in p for p in sent)
    metrics = json.loads(next((data / "evaluation").glob(f"*/{split}/local-llm/metrics.json")).read_text())
    g = metrics["grounding"]
    assert g["numeric_agreement"] == pytest.approx(1.0) and g["n_claims"] >= n  # rate and QRS, both measured
    assert 0 < g["lead_coverage"] < 0.2  # the fake answer names one lead: the template's lead walk covers more
    report = next((data / "evaluation").glob(f"*/{split}/report.md")).read_text()
    assert "| local-llm |" in report and "| template |" in report


def test_a_checkpoint_interpreter_answers_each_item_from_its_signal_page_and_question(demo, cli_env, tmp_path):
    from model.infer import GemInterpreter
    from PIL import Image
    data, split, n = demo
    ckpt = tiny_checkpoint(tmp_path / "gem-tiny")
    cli = [sys.executable, "-m", "ops.cli", "evaluate", "--data", str(data), "--split", split,
           "--model", str(ckpt), "--json"]
    first = subprocess.run([*cli, "--limit", "1"], capture_output=True, text=True, env=cli_env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    rest = subprocess.run(cli, capture_output=True, text=True, env=cli_env, timeout=600)
    assert rest.returncode == 0, rest.stderr[-3000:]
    results = [json.loads(out.stdout[out.stdout.index("{"):]) for out in (first, rest)]
    assert [r["interpreter"] for r in results] == ["ckpt-gem-tiny"] * 2
    assert [r["interpreted"] for r in results] == [1, n - 1] and results[1]["failed"] == 0
    outputs = next((data / "evaluation").glob(f"*/{split}/ckpt-gem-tiny/outputs"))
    rows = read_rows(outputs, OUTPUTS_SCHEMA)
    assert len(rows) == n and all(r["status"] == "ok" for r in rows)
    # the flow asked what the export asks, of the exported signal and page: the same call by hand agrees
    export = json.loads(next((data / "exports").glob(f"[!.]*/{split}.json")).read_text())
    sample = export[0]
    with Image.open(data / sample["image"]) as page:
        by_hand = GemInterpreter(ckpt).interpret(str(data / sample["ecg"]),
                                                 sample["conversations"][0]["value"].replace("<image>\n", ""),
                                                 page=page.convert("RGB"))
    [row] = [r for r in rows if r["item_id"] == sample["id"]]
    assert row["text"] == by_hand and by_hand
    metrics = json.loads((outputs.parent / "metrics.json").read_text())
    assert metrics["n_interpreted"] == n and metrics["n_failed"] == 0 and metrics["labels"]["macro_auc"] is None


def test_a_checkpoint_that_does_not_load_fails_the_run_with_its_reason(demo, cli_env, tmp_path):
    data, split, _ = demo
    (tmp_path / "not-a-checkpoint").mkdir()
    out = subprocess.run([sys.executable, "-m", "ops.cli", "evaluate", "--data", str(data), "--split", split,
                          "--model", str(tmp_path / "not-a-checkpoint")], capture_output=True, text=True,
                         env=cli_env, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.stderr.strip() == (f"gemflow: FileNotFoundError: {(tmp_path / 'not-a-checkpoint').resolve()} is not a"
                                  " gemflow checkpoint: it has no gem_config.json (gemflow train writes one into"
                                  " every checkpoint folder)")
    assert list(data.rglob("ckpt-not-a-checkpoint")) == []  # refused before any run folder was made


def test_a_record_that_cannot_be_read_fails_its_item_alone_inside_a_batch(demo, tmp_path):
    from flows.evaluate import evaluate_flow
    data, split, n = demo
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("evaluation"))
    export = json.loads(next((copy / "exports").glob(f"[!.]*/{split}.json")).read_text())
    broken = export[1]
    (copy / f"{broken['ecg']}.dat").unlink()  # its signal is gone; the others in its batch are fine
    ckpt = tiny_checkpoint(tmp_path / "gem-tiny")
    result = evaluate_flow(data=str(copy), split=split, model=str(ckpt), batch_size=n)
    assert (result.counts.interpreted, result.counts.failed) == (n - 1, 1)
    rows = {r["item_id"]: r for r in read_rows(next((copy / "evaluation").glob(f"*/{split}/ckpt-gem-tiny/outputs")),
                                                OUTPUTS_SCHEMA)}
    assert rows[broken["id"]]["status"] == "failed" and ".dat" in rows[broken["id"]]["error"]
    assert all(r["status"] == "ok" and r["text"] for k, r in rows.items() if k != broken["id"])
