"""Time the whole build per stage, under Prefect and as plain functions, in one run.

    python benchmarks/pipeline_stages.py [--source DIR ...] [--repeat N]

Prints seconds per record for each stage, run (a) as the Prefect stage flows exactly as
`gemflow run` runs them and (b) as the same shard functions called directly, with no Prefect.
Both use one shard plan: the same shards (`--shard-size`), `--workers` at a time on threads
(generate: one shard after another in both). The difference is Prefect's bookkeeping (flow/task
runs, state, artifacts); its share of the flow's wall time, 1 - plain/flow, is printed as
measured, negative when the flow happened to be faster (noise on a shared machine). Both runs use
fresh dataset roots.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_SOURCES, STAGES, build_options, stage_flows  # noqa: E402 - sets up the path and offline mode


def bench_config(data: str, shard_size: int) -> str:
    """The one config both variants read: the defaults with this shard size (never ./gemflow.yaml)."""
    import yaml
    path = Path(data) / "bench.yaml"
    path.write_text(yaml.safe_dump({"shard_size": shard_size}))
    return str(path)


def _pool_map(workers: int, fn, shards: list) -> list:
    """`fn` over the shards on a thread pool of `workers`, the results in shard order (what the flow's runner does)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, shards))


def plain_run(data: str, sources: list[str], workers: int, shard_size: int) -> dict[str, float]:
    """The stage work as plain function calls (what each Prefect task wraps), on the flows' shard plan:
    the same shards of `shard_size`, run `workers` at a time on threads (generate: one after another)."""
    from flows.ingest import parse_source
    from schemas.config import load_config
    from storage.layout import DataRoot
    from storage.ledger import Ledger
    from storage.parquet import TableStore
    from tasks.export.llava import export_dataset
    from tasks.features.stage import features_shard, pending_features
    from tasks.ingest.stage import ingest_shard, pending_records
    from tasks.render.stage import pending_render, render_shard
    from tasks.shards import chunk
    from tasks.teachers.stage import generate_shard, pending_generation
    from tasks.validate.stage import check_shard, commit_checked, duplicate_index, pending_validation

    cfg = load_config(bench_config(data, shard_size), data_dir=data)
    root = DataRoot.open(data)
    store = TableStore(root)
    t: dict[str, float] = {}
    start = time.perf_counter()
    for spec in sources:
        src = parse_source(spec)
        shards = list(chunk(pending_records(src, cfg.ingest, store), shard_size))
        _pool_map(workers, lambda shard: ingest_shard(src, cfg.ingest, data, shard), shards)
    t["ingest"] = time.perf_counter() - start
    start = time.perf_counter()
    _pool_map(workers, lambda s: features_shard(data, s, cfg.features), list(chunk(pending_features(root), shard_size)))
    t["features"] = time.perf_counter() - start
    start = time.perf_counter()
    _pool_map(workers, lambda s: render_shard(data, s, cfg.render),
              list(chunk(pending_render(root, cfg.render), shard_size)))
    t["render"] = time.perf_counter() - start
    start = time.perf_counter()
    for shard in chunk(pending_generation(root, cfg.teacher, cfg.prompt_version), shard_size):
        generate_shard(data, shard, cfg, cfg.teacher, cfg.prompt_version)
    with Ledger(root.ledger_path) as ledger:
        store.replace("responses", ledger.snapshot())
    t["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    checked = _pool_map(workers, lambda s: check_shard(data, s, cfg), list(chunk(pending_validation(root), shard_size)))
    ordered = time.perf_counter()
    index = duplicate_index(root, cfg)
    for shard in checked:  # in shard order, in the flow process
        commit_checked(data, shard, index)
    t["validate"] = time.perf_counter() - start
    t["validate_ordered"] = time.perf_counter() - ordered
    start = time.perf_counter()
    export_dataset(root, cfg)
    t["export"] = time.perf_counter() - start
    return t


def flow_run(data: str, sources: list[str], workers: int, shard_size: int) -> dict[str, float]:
    """The same stages as the Prefect flows `gemflow run` calls, one after another, on a thread runner of `workers`."""
    calls = stage_flows(data, sources, workers, bench_config(data, shard_size))
    t = {}
    for stage in STAGES:
        start = time.perf_counter()
        calls[stage]()
        t[stage] = time.perf_counter() - start
    return t


def share(plain: float, flow: float) -> str:
    """Prefect's share of the flow's wall time as measured: 1 - plain/flow, negative when the flow was faster."""
    return f"{1 - plain / flow:+.0%}"


def main() -> None:
    ap = build_options(__doc__, repeat=2, shard_size=200)
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
    plan = {"workers": args.workers, "shard_size": args.shard_size}
    flow_run(warm, sources, **plan)  # starts the ephemeral server and warms imports: not timed
    shutil.rmtree(warm, ignore_errors=True)
    best_plain: dict[str, float] = {}
    best_flow: dict[str, float] = {}
    n = 0
    for _ in range(args.repeat):
        for variant, fn, best in (("plain", plain_run, best_plain), ("flow", flow_run, best_flow)):
            data = tempfile.mkdtemp(prefix=f"gemflow-bench-{variant}-")
            times = fn(data, sources, **plan)
            from storage.layout import DataRoot
            from storage.parquet import TableStore
            from schemas.records import RECORDS_SCHEMA
            n = len(TableStore(DataRoot.open(data)).keys("records", RECORDS_SCHEMA))
            for k, v in times.items():
                best[k] = min(best.get(k, v), v)
            shutil.rmtree(data, ignore_errors=True)
    print(f"records ingested: {n}   (best of {args.repeat} runs each; both variants: shards of {args.shard_size},"
          f" {args.workers} at a time on threads)")
    print(f"{'stage':<10}{'plain s/rec':>12}{'flow s/rec':>12}{'Prefect share':>15}")
    ordered = best_plain.pop("validate_ordered")
    for stage in STAGES:
        p, f = best_plain[stage] / n, best_flow[stage] / n
        print(f"{stage:<10}{p:>12.4f}{f:>12.4f}{share(p, f):>15}")
    tp, tf = sum(best_plain.values()), sum(best_flow.values())
    print(f"{'total':<10}{tp / n:>12.4f}{tf / n:>12.4f}{share(tp, tf):>15}")
    print(f"wall: plain {tp:.1f} s, flows {tf:.1f} s, ratio flow/plain {tf / tp:.2f}")
    print(f"validate, ordered part (duplicate check + commit, not parallel): {ordered / n * 1000:.2f} ms/record,"
          f" {ordered / best_plain['validate']:.0%} of the stage")


if __name__ == "__main__":
    main()
