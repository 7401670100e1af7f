"""Time the whole build per stage, under Prefect and as plain functions, in one run.

    python benchmarks/pipeline_stages.py [--source DIR ...] [--repeat N]

Prints seconds per record for each stage, run (a) as the Prefect stage flows exactly as
`gemflow run` runs them and (b) as the same shard functions called directly, with no Prefect.
The difference is Prefect's bookkeeping (flow/task runs, state, artifacts); its share of the
flow's wall time is reported per stage and overall. Both runs use fresh dataset roots.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tasks.offline import offline_defaults  # noqa: E402

offline_defaults()
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
DEFAULT_SOURCES = [REPO.parent / "shared/data/ecg/cinc2021", REPO.parent / "shared/data/ecg/wfdb_samples"]
STAGES = ("ingest", "features", "render", "generate", "validate", "export")


def plain_run(data: str, sources: list[str]) -> dict[str, float]:
    """The stage work as plain function calls (what each Prefect task wraps)."""
    from flows.ingest import parse_source
    from schemas.config import load_config
    from storage.layout import DataRoot
    from storage.ledger import Ledger
    from storage.parquet import TableStore
    from tasks.export.llava import export_dataset
    from tasks.features.stage import features_shard, pending_features
    from tasks.ingest.stage import ingest_shard, pending_records
    from tasks.render.stage import pending_render, render_shard
    from tasks.teachers.stage import generate_shard, pending_generation
    from tasks.validate.stage import check_shard, commit_checked, duplicate_index, pending_validation

    cfg = load_config(None, data_dir=data)
    root = DataRoot.open(data)
    store = TableStore(root)
    t: dict[str, float] = {}
    start = time.perf_counter()
    for spec in sources:
        src = parse_source(spec)
        ingest_shard(src, cfg.ingest, data, pending_records(src, cfg.ingest, store))
    t["ingest"] = time.perf_counter() - start
    start = time.perf_counter()
    features_shard(data, pending_features(root), cfg.features)
    t["features"] = time.perf_counter() - start
    start = time.perf_counter()
    render_shard(data, pending_render(root, cfg.render), cfg.render)
    t["render"] = time.perf_counter() - start
    start = time.perf_counter()
    generate_shard(data, pending_generation(root, cfg.teacher, cfg.prompt_version), cfg, cfg.teacher,
                   cfg.prompt_version)
    with Ledger(root.ledger_path) as ledger:
        store.replace("responses", ledger.snapshot())
    t["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    checked = check_shard(data, pending_validation(root), cfg)  # parallel across shards in the flow
    ordered = time.perf_counter()
    commit_checked(data, checked, duplicate_index(root, cfg))  # in shard order, in the flow process
    t["validate"] = time.perf_counter() - start
    t["validate_ordered"] = time.perf_counter() - ordered
    start = time.perf_counter()
    export_dataset(root, cfg)
    t["export"] = time.perf_counter() - start
    return t


def flow_run(data: str, sources: list[str]) -> dict[str, float]:
    """The same stages as the Prefect flows `gemflow run` calls, one after another."""
    from flows.export import export_flow
    from flows.features import features_flow
    from flows.generate import generate_flow
    from flows.ingest import ingest_flow
    from flows.render import render_flow
    from flows.validate import validate_flow

    calls = {
        "ingest": lambda: ingest_flow(data, sources), "features": lambda: features_flow(data),
        "render": lambda: render_flow(data), "generate": lambda: generate_flow(data),
        "validate": lambda: validate_flow(data), "export": lambda: export_flow(data),
    }
    t = {}
    for stage in STAGES:
        start = time.perf_counter()
        calls[stage]()
        t[stage] = time.perf_counter() - start
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", action="append", help="source folder (default: the shared CinC-2021 + WFDB samples)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each variant; the fastest is kept")
    ap.add_argument("--demo", type=int, default=0, help="instead, N records made by the demo generator")
    args = ap.parse_args()
    sources = [str(s) for s in (args.source or DEFAULT_SOURCES)]
    if args.demo:
        from tasks.ingest.demo import write_demo_records
        folder = Path(tempfile.mkdtemp(prefix="gemflow-bench-src-")) / "demo"
        write_demo_records(folder, n=args.demo, seed=11)
        sources = [f"demo:{folder}"]
    from flows.ingest import ingest_flow  # noqa: F401 - import Prefect before timing
    warm = tempfile.mkdtemp(prefix="gemflow-bench-warm-")
    flow_run(warm, sources)  # starts the ephemeral server and warms imports: not timed
    shutil.rmtree(warm, ignore_errors=True)
    best_plain: dict[str, float] = {}
    best_flow: dict[str, float] = {}
    n = 0
    for _ in range(args.repeat):
        for variant, fn, best in (("plain", plain_run, best_plain), ("flow", flow_run, best_flow)):
            data = tempfile.mkdtemp(prefix=f"gemflow-bench-{variant}-")
            times = fn(data, sources)
            from storage.layout import DataRoot
            from storage.parquet import TableStore
            from schemas.records import RECORDS_SCHEMA
            n = len(TableStore(DataRoot.open(data)).keys("records", RECORDS_SCHEMA))
            for k, v in times.items():
                best[k] = min(best.get(k, v), v)
            shutil.rmtree(data, ignore_errors=True)
    print(f"records ingested: {n}   (best of {args.repeat} runs each)")
    print(f"{'stage':<10}{'plain s/rec':>12}{'flow s/rec':>12}{'Prefect share':>15}")
    ordered = best_plain.pop("validate_ordered")
    for stage in STAGES:
        p, f = best_plain[stage] / n, best_flow[stage] / n
        print(f"{stage:<10}{p:>12.4f}{f:>12.4f}{max(0.0, 1 - p / f):>14.0%}")
    tp, tf = sum(best_plain.values()), sum(best_flow.values())
    print(f"{'total':<10}{tp / n:>12.4f}{tf / n:>12.4f}{max(0.0, 1 - tp / tf):>14.0%}")
    print(f"wall: plain {tp:.1f} s, flows {tf:.1f} s, ratio flow/plain {tf / tp:.2f}")
    print(f"validate, ordered part (duplicate check + commit, not parallel): {ordered / n * 1000:.2f} ms/record,"
          f" {ordered / best_plain['validate']:.0%} of the stage")


if __name__ == "__main__":
    main()
