"""Evaluate, review, train and a vision teacher on an s3:// dataset root (moto's standalone server, tests/s3_server.py).

The dataset: 5 demo records built by the real flows on a local root, then the root's files copied to
the store as they are (an s3:// root has the same layout), so the local root is the reference the S3
runs are compared with. Each "machine" is its own empty GEMFLOW_CACHE_DIR.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.openai_server import FakeOpenAI, ServerThread, Settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "GEMFLOW_TEST_S3_TEACHER_KEY"
RUN_SPECIFIC = {"committed_at", "latency_s"}  # when and how fast, not what


def upload_root(local: Path, s3_server, prefix: str) -> str:
    """Copy a local dataset root's files to `prefix` on the store; returns the s3:// root."""
    client = s3_server.client()
    for path in sorted(local.rglob("*")):
        rel = path.relative_to(local).as_posix()
        if path.is_file() and not rel.startswith(("evaluation/", "logs/", "checkpoints/")) \
                and not path.name.startswith(".") and path.name != "catalog.duckdb":
            client.upload_file(str(path), s3_server.bucket, f"{prefix}/{rel}")
    return s3_server.url(prefix)


@pytest.fixture(scope="module")
def demo(prefect_api, s3_server, tmp_path_factory):
    """(local root, s3:// root, the split with most items, its size)."""
    pytest.importorskip("deepfakeecg", reason="the demo extra is not installed")
    from flows.build_dataset import build_dataset_flow
    from tasks.ingest.demo import write_demo_records
    data = tmp_path_factory.mktemp("s3eval") / "data"
    folder = tmp_path_factory.mktemp("s3eval-sources") / "demo"
    write_demo_records(folder, n=5, seed=11)
    result = build_dataset_flow(data=str(data), sources=[f"demo:{folder}"])
    counts = {s: result.export.counts[s] for s in ("train", "val", "test")}
    split = max(counts, key=counts.get)
    return data, upload_root(data, s3_server, "evaldemo"), split, counts[split]


@pytest.fixture()
def machine(s3_server, monkeypatch, tmp_path):
    """This process as one machine: the store's address and its own empty work folder."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine-a"))
    return tmp_path / "machine-a"


def _rows(folder_or_rows) -> list[str]:
    from tasks.evaluate.store import OUTPUTS_SCHEMA, read_rows
    rows = read_rows(folder_or_rows, OUTPUTS_SCHEMA) if isinstance(folder_or_rows, Path) else folder_or_rows
    return sorted(json.dumps({k: v for k, v in r.items() if k not in RUN_SPECIFIC}, sort_keys=True) for r in rows)


def _store_rows(s3_server, prefix: str) -> list[dict]:
    import io

    import pyarrow.parquet as pq

    from tasks.evaluate.store import OUTPUTS_SCHEMA
    client = s3_server.client()
    rows = []
    for key in s3_server.keys(prefix):
        if key.rsplit("/", 1)[-1].startswith("part-"):
            body = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
            rows += pq.read_table(io.BytesIO(body), schema=OUTPUTS_SCHEMA).to_pylist()
    return rows


def _store_json(s3_server, key: str) -> dict:
    return json.loads(s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read())


def _comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "spent_usd"}


def test_evaluate_on_s3_writes_the_rows_and_metrics_of_the_local_run_to_the_store(demo, machine, s3_server, tmp_path,
                                                                                   monkeypatch):
    from flows.evaluate import evaluate_flow
    data, url, split, n = demo
    local = evaluate_flow(data=str(data), split=split)
    with_limit = evaluate_flow(data=url, split=split, limit=2)  # interrupted after two items ...
    rest = evaluate_flow(data=url, split=split)  # ... and resumed
    assert (local.counts.interpreted, with_limit.counts.interpreted, rest.counts.interpreted) == (n, 2, n - 2)
    version = (data / "exports" / "LATEST").read_text().strip()
    run_key = f"evaldemo/evaluation/{version}/{split}/template"
    local_dir = data / "evaluation" / version / split / "template"
    assert _rows(_store_rows(s3_server, run_key + "/outputs/")) == _rows(local_dir / "outputs")
    assert _comparable(_store_json(s3_server, run_key + "/metrics.json")) == \
        _comparable(json.loads((local_dir / "metrics.json").read_text()))
    keys = set(s3_server.keys("evaldemo/evaluation/"))
    assert {f"evaldemo/evaluation/{version}/{split}/report.md", "evaldemo/evaluation/report.md",
            f"evaldemo/evaluation/{version}/{split}/grounding_hist.png"} <= keys
    assert not any(k.rsplit("/", 1)[-1].startswith((".tmp-", ".writer")) for k in keys)  # no staging object, no lock
    assert rest.report == f"{url}/evaluation/{version}/{split}/report.md"
    # another machine, empty work folder: the store holds the whole run, nothing is redone
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(tmp_path / "machine-b"))
    assert evaluate_flow(data=url, split=split).counts.interpreted == 0


def test_a_checkpoint_evaluated_on_s3_reads_the_staged_pages_and_signals_and_answers_as_locally(
        demo, machine, s3_server, tmp_path):
    from flows.evaluate import evaluate_flow
    from tests.model_support import tiny_checkpoint
    data, url, split, n = demo
    ckpt = tiny_checkpoint(tmp_path / "gem-tiny")
    local = evaluate_flow(data=str(data), split=split, model=str(ckpt), limit=1)  # a tiny GEM: ~1 min per item
    on_s3 = evaluate_flow(data=url, split=split, model=str(ckpt), limit=1)  # under load
    assert local.counts.interpreted == on_s3.counts.interpreted == 1 and on_s3.counts.failed == 0
    version = (data / "exports" / "LATEST").read_text().strip()
    rows = _store_rows(s3_server, f"evaldemo/evaluation/{version}/{split}/ckpt-gem-tiny/outputs/")
    assert _rows(rows) == _rows(data / "evaluation" / version / split / "ckpt-gem-tiny" / "outputs")
    assert all(r["text"] for r in rows)
    from storage.staging import local_folder
    work = local_folder(url)
    staged = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.suffix in (".hea", ".dat", ".png")
                    and p.parts[len(work.parts)] in ("signals", "images"))
    assert len([s for s in staged if s.endswith(".hea")]) == 1 and len([s for s in staged if s.endswith(".dat")]) == 1
    for rel in staged:  # byte for byte what the store holds
        assert (work / rel).read_bytes() == (data / rel).read_bytes()


def test_a_review_sheet_on_s3_inlines_the_pages_from_the_store_and_reads_back(demo, machine, s3_server, tmp_path):
    from flows.evaluate import evaluate_flow
    from tasks.evaluate import review
    data, url, split, n = demo
    evaluate_flow(data=url, split=split)
    paths = review.make_sheet(url, split, ["template"], n=2)
    html = paths["html"].read_text()
    images = [k for k in s3_server.keys("evaldemo/images/")]
    inlined = [k for k in images if base64.b64encode(
        s3_server.client().get_object(Bucket=s3_server.bucket, Key=k)["Body"].read()).decode() in html]
    assert len(inlined) == 2
    sheet = paths["html"].parent.name
    assert {f"{sheet}/review.html", f"{sheet}/review.csv", f"{sheet}/key.csv"} <= {
        "/".join(k.rsplit("/", 2)[-2:]) for k in s3_server.keys("evaldemo/evaluation/")}
    filled = tmp_path / "filled.csv"
    lines = paths["csv"].read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:]]
    for r in rows:
        r.update({f: "4" for f in review.RATINGS}, reviewer="dr-a")
    filled.write_text(",".join(header) + "\n" + "\n".join(",".join(r[h] for h in header) for r in rows) + "\n")
    summary, _ = review.read_back_at(url, [filled])
    assert {s["mean"] for s in summary} == {4.0}
    report = s3_server.client().get_object(Bucket=s3_server.bucket,
                                           Key=next(k for k in s3_server.keys("evaldemo/evaluation/")
                                                    if k.endswith(f"/{split}/report.md")))["Body"].read().decode()
    assert "4.00" in report  # the split report on the store shows the clinicians' ratings


def _teacher_config(path: Path, server, vision: bool = False) -> Path:
    path.write_text(yaml.safe_dump({"teachers": {"slow": {
        "model": "openai/gpt-4o", "api_base": server.base_url, "api_key_env": KEY_ENV, "rpm": 6000,
        "max_concurrency": 1, "retry_base_s": 0.01, "retry_max_s": 0.05, "vision": vision}}}))
    return path


def test_a_sigkilled_evaluate_on_s3_resumes_without_resending_finished_calls(demo, s3_server, cli_env, tmp_path,
                                                                              monkeypatch):
    data, url, split, n = demo
    server = ServerThread(FakeOpenAI(Settings(latency_s=1.5), api_key="sk-s3-eval-test")).start()
    try:
        config = _teacher_config(tmp_path / "gemflow.yaml", server)
        env = {**cli_env, **s3_server.env(), KEY_ENV: "sk-s3-eval-test", "GEMFLOW_CACHE_DIR": str(tmp_path / "cli")}
        args = [sys.executable, "-m", "ops.cli", "evaluate", "--data", url, "--split", split, "--teacher", "slow",
                "--config", str(config), "--json"]
        log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 - a file: a pipe nobody drains could block it
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        while sum(server.fake.counters.answered.values()) < 1 and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-shard: at least one call answered, the part not committed
        proc.wait()
        log.close()
        answered_before = sum(server.fake.counters.answered.values())
        assert answered_before < n
        for k, v in {**s3_server.env(), KEY_ENV: env[KEY_ENV], "GEMFLOW_CACHE_DIR": env["GEMFLOW_CACHE_DIR"]}.items():
            monkeypatch.setenv(k, v)  # the rerun in this process, as the same machine: its work folder, the store
        from flows.evaluate import evaluate_flow
        again = evaluate_flow(data=url, split=split, teacher="slow", config_path=str(config))
        sent = sum(server.fake.counters.received.values())
    finally:
        server.stop()
    version = (data / "exports" / "LATEST").read_text().strip()
    rows = _store_rows(s3_server, f"evaldemo/evaluation/{version}/{split}/slow/outputs/")
    assert again.counts.interpreted + again.counts.failed == n  # nothing was committed before the kill
    assert sorted(r["item_id"] for r in rows) == sorted({r["item_id"] for r in rows}) and len(rows) == n
    assert all(r["status"] == "ok" for r in rows)
    assert sent <= n + 1  # answered calls came from the ledger; at most the one in flight was asked again
    metrics = _store_json(s3_server, f"evaldemo/evaluation/{version}/{split}/slow/metrics.json")
    assert metrics["n_interpreted"] == n and metrics["n_pending"] == 0


def test_a_vision_teacher_generating_on_s3_is_sent_the_page_bytes_from_the_store(demo, machine, s3_server, tmp_path,
                                                                                   monkeypatch):
    from flows.generate import generate_flow
    from tasks.teachers.vision import downscale
    data, url, split, n = demo
    server = ServerThread(FakeOpenAI(api_key="sk-s3-vision-test")).start()
    try:
        monkeypatch.setenv(KEY_ENV, "sk-s3-vision-test")
        config = _teacher_config(tmp_path / "gemflow.yaml", server, vision=True)
        result = generate_flow(data=url, teacher="slow", config_path=str(config))
        bodies = list(server.fake.counters.bodies)
    finally:
        server.stop()
    sent = []
    for body in bodies:
        for m in body.get("messages") or []:
            for p in m.get("content") if isinstance(m.get("content"), list) else []:
                if p.get("type") == "image_url":
                    sent.append(hashlib.sha256(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])).hexdigest())
    client = s3_server.client()
    pages = {hashlib.sha256(downscale(client.get_object(Bucket=s3_server.bucket, Key=k)["Body"].read())).hexdigest()
             for k in s3_server.keys("evaldemo/images/")}
    assert result.counts.done == 5 and len(sent) == 5 and set(sent) <= pages and len(set(sent)) == 5


def test_train_stages_the_export_from_s3_once_and_trains_from_it(s3_server, prefect_api, tmp_path, monkeypatch):
    from flows.train import train
    from tests.test_model_train import make_export, write_config
    local = tmp_path / "local-root"
    make_export(local, n=4)
    url = upload_root(local, s3_server, "traindemo")
    machine = tmp_path / "gpu-node"
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GEMFLOW_CACHE_DIR", str(machine))
    config = write_config(tmp_path / "train.yaml", tmp_path / "cache", max_steps=2, save_steps=2)
    before = s3_server.requests(by_area=True)
    first = train(str(config), url, output=str(tmp_path / "out1"), gpus=1, launcher="torchrun")
    middle = s3_server.requests(by_area=True)
    again = train(str(config), url, output=str(tmp_path / "out2"), dry_run=True)  # stages (or not), starts nothing
    after = s3_server.requests(by_area=True)
    assert first.steps == 2 and first.final_loss is not None and again.dry_run
    fetched_first = {a: c for (kind, a), c in (middle - before).items() if kind == "GET"}
    fetched_again = {a: c for (kind, a), c in (after - middle).items() if kind == "GET"}
    # the flow staged train+val (4 pages, 4 records: .hea and .dat), and the rank it launched found them staged
    assert fetched_first.get("images") == 4 and fetched_first.get("signals") == 8
    assert "images" not in fetched_again and "signals" not in fetched_again
    assert fetched_again.get("exports", 0) == 1  # LATEST, and none of the export's files
    from storage.staging import local_folder
    staged = local_folder(url)
    assert staged.is_relative_to(machine)
    for rel in ("exports/v-test/train.json", "images/demo-000001.png", "signals/demo-000001.dat"):
        assert (staged / rel).read_bytes() == (local / rel).read_bytes()
    assert (tmp_path / "out1" / "gem_config.json").is_file()
