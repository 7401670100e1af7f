"""The same small build on a local dataset root and on an s3:// root (moto's S3 server), per stage, in one run.

    python benchmarks/s3_vs_local.py [--limit 10] [--repeat 1] [--workers 2]

Runs the stage flows `gemflow run` runs (ingest, features, render, generate, validate, export; the
offline template teacher, thread runner of `--workers`) once on a fresh local root and once on a
fresh `s3://…` root served by moto's standalone server on 127.0.0.1 (tests/s3_server.py), after a
warm-up flow so neither pays Prefect's start. Prints per stage: seconds on each root, the ratio
s3/local, the extra seconds per record, and the S3 requests the stage sent (from the server's log),
then the objects and bytes the S3 root holds per table/folder.

moto on loopback answers in well under a millisecond and never throttles, so the S3 figures are a
lower bound on what a real bucket costs: real S3 adds ~10-30 ms of first-byte latency per request
inside a region (more across regions), which is why the request counts are printed too.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import DEFAULT_SOURCES, STAGES, build_options, stage_flows  # noqa: E402 - sets up the path and offline mode


def timed_build(data: str, sources: list[str], limit: int, workers: int, config: str,
                requests=lambda: Counter()) -> tuple[dict[str, float], dict[str, Counter], int]:
    """Seconds and S3 requests per stage, and the records ingested."""
    seconds, sent, ingested = {}, {}, 0
    for stage, call in stage_flows(data, sources, workers, config, limit=limit).items():
        before, start = requests(), time.perf_counter()
        result = call()
        seconds[stage] = time.perf_counter() - start
        sent[stage] = requests() - before
        if stage == "ingest":
            ingested = result.counts.ingested
    return seconds, sent, ingested


def warm_up() -> None:
    """Start Prefect's temporary server before anything is timed."""
    from prefect import flow

    @flow(name="warm-up")
    def _nothing() -> None:
        return None

    _nothing()


def round_trip_ms(server, n: int = 200) -> float:
    """Mean milliseconds of one small GET on this server through s3fs, the client the stages use."""
    import s3fs
    fs = s3fs.S3FileSystem()
    key = f"{server.bucket}/round-trip/probe"
    fs.pipe_file(key, b"x" * 1024)
    start = time.perf_counter()
    for _ in range(n):
        fs.cat_file(key)
    return (time.perf_counter() - start) / n * 1000


def store_inventory(server, prefix: str) -> dict[str, tuple[int, int]]:
    """(objects, bytes) per top-level folder of the root (tables per table)."""
    import boto3  # noqa: F401 - server.client() needs it
    inv: dict[str, list[int]] = {}
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=server.bucket, Prefix=prefix + "/")
    for page in pages:
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(prefix) + 1:].split("/")
            group = "/".join(parts[:2]) if parts[0] == "tables" else parts[0]
            entry = inv.setdefault(group, [0, 0])
            entry[0] += 1
            entry[1] += obj["Size"]
    return {k: (v[0], v[1]) for k, v in sorted(inv.items())}


def report(local: dict, s3: dict, sent: dict, n: int) -> None:
    print(f"\n{n} records; seconds per stage (fastest of the repeats), S3 requests sent by the stage")
    print(f"{'stage':<10}{'local s':>9}{'s3 s':>9}{'s3/local':>10}{'extra s/rec':>13}  requests (GET/PUT/HEAD/LIST/DELETE)")
    for stage in (*STAGES, "total"):
        a = sum(local.values()) if stage == "total" else local[stage]
        b = sum(s3.values()) if stage == "total" else s3[stage]
        by_area = sum(sent.values(), Counter()) if stage == "total" else sent[stage]
        req = Counter()
        for (kind, _), count in by_area.items():
            req[kind] += count
        kinds = "/".join(str(req.get(k, 0)) for k in ("GET", "PUT", "HEAD", "LIST", "DELETE"))
        print(f"{stage:<10}{a:9.2f}{b:9.2f}{b / a:10.2f}{(b - a) / n:13.3f}  {sum(req.values()):5d} = {kinds}")


def main() -> None:
    ap = build_options(__doc__, repeat=1, shard_size=4)  # the variants: a local root and an s3:// root
    ap.add_argument("--limit", type=int, default=10, help="records to ingest (default 10)")
    args = ap.parse_args()
    sources = args.source or [str(p) for p in DEFAULT_SOURCES]
    if not all(Path(s.split(":", 1)[-1]).exists() for s in sources):
        sys.exit(f"source folders not found: {sources} (the shared data lives in ../shared/data)")
    from tests.s3_server import moto_s3, s3_env
    import yaml
    with tempfile.TemporaryDirectory(prefix="gemflow-s3-bench-") as tmp, moto_s3() as server, s3_env(server):
        os.environ["GEMFLOW_CACHE_DIR"] = str(Path(tmp) / "cache")
        config = Path(tmp) / "bench.yaml"
        config.write_text(yaml.safe_dump({"shard_size": args.shard_size}))
        warm_up()
        best_local: dict[str, float] = {}
        best_s3: dict[str, float] = {}
        for i in range(args.repeat):
            local, _, n = timed_build(str(Path(tmp) / f"local{i}"), sources, args.limit, args.workers, str(config))
            s3, sent, n_s3 = timed_build(server.url(f"bench{i}"), sources, args.limit, args.workers, str(config),
                                         lambda: server.requests(by_area=True))
            assert n == n_s3, (n, n_s3)
            best_local = {k: min(v, best_local.get(k, v)) for k, v in local.items()}
            best_s3 = {k: min(v, best_s3.get(k, v)) for k, v in s3.items()}
        report(best_local, best_s3, sent, n)
        total = sum(sum(c.values()) for c in sent.values())
        extra = sum(best_s3.values()) - sum(best_local.values())
        print(f"extra seconds per S3 request: {extra / total * 1000:.1f} ms; one 1 KiB GET through s3fs: "
              f"{round_trip_ms(server):.1f} ms")
        print("\nS3 requests per stage by area (kind area count), last S3 build")
        for stage in STAGES:
            top = sorted(sent[stage].items(), key=lambda kv: -kv[1])
            print(f"  {stage:<9}" + ", ".join(f"{k} {a} {c}" for (k, a), c in top))
        print("\nobjects and bytes on the S3 root after the build")
        for group, (count, size) in store_inventory(server, "bench0").items():
            per = f"{count / n:6.2f} objects/record" if group in ("images", "signals") else ""
            print(f"  {group:<28}{count:6d} objects {size / 1024:10.1f} KiB   {per}")


if __name__ == "__main__":
    main()
