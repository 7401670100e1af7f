"""Evaluate and the train data-staging step on a local dataset root and on an s3:// root (moto's S3 server), in one run.

    python benchmarks/s3_eval_train.py [--limit 10] [--shard-size 4] [--repeat 2]

Builds a small dataset once, on a local root, with the stage flows `gemflow run` runs (the shared
CinC-2021 and WFDB sample records, the offline template teacher), and copies its files as they are
to a prefix of moto's standalone server (tests/s3_server.py), so both roots hold the same export.
Then, per variant, each side doing the same work:

- evaluate: `evaluate_flow` with the template interpreter on the export's largest split, from
  nothing (no earlier evaluation; on S3 an empty work folder, so the pull, the per-shard uploads
  and the summaries are all paid). The rows interpreted must be equal.
- train data: what a training run does before its first step, plus one read of every sample's
  files: `model.data.locate_sources` (on S3: resolve LATEST on the store and stage the export, its
  pages and WFDB records), then read each page and each record's header and data files from the
  folder training opens. Cold (an empty work folder) and warm (a second run: the staged copy is
  checked by size, nothing is downloaded). The files and bytes read must be equal.

Prints seconds per side, the ratio s3/local, and the S3 requests each step sent. moto on loopback
answers in well under a millisecond, so these are a lower bound for a real bucket; the request
counts are printed so a per-request latency can be added (an estimate, labelled so in docs/scaling.md).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_SOURCES, build_options, stage_flows  # noqa: E402 - sets up the path and offline mode


def build_local(data: Path, sources: list[str], limit: int, workers: int, config: str) -> None:
    for call in stage_flows(str(data), sources, workers, config, limit=limit).values():
        call()


def upload(local: Path, server, prefix: str) -> str:
    """The local root's dataset files copied to the store under `prefix` (the same layout); the s3:// root."""
    client = server.client()
    for path in sorted(local.rglob("*")):
        rel = path.relative_to(local).as_posix()
        if path.is_file() and not rel.startswith(("evaluation/", "logs/")) and not path.name.startswith(".") \
                and path.name != "catalog.duckdb":
            client.upload_file(str(path), server.bucket, f"{prefix}/{rel}")
    return server.url(prefix)


def largest_split(data: Path) -> tuple[str, int]:
    from storage.exports import resolve_export
    from storage.layout import DataRoot
    from tasks.evaluate.spec import SPLITS, load_items
    root = DataRoot.open(data)
    version = resolve_export(root)
    sizes = {s: len(load_items(root, version, s)) for s in SPLITS}
    split = max(sizes, key=sizes.get)
    return split, sizes[split]


def evaluate_once(data: str, split: str) -> tuple[float, int]:
    from flows.evaluate import evaluate_flow
    start = time.perf_counter()
    result = evaluate_flow(data=data, split=split)
    return time.perf_counter() - start, result.counts.interpreted


def train_data_once(data: str) -> tuple[float, int, int]:
    """Seconds to make the training data readable and read every sample's files once; (s, files, bytes)."""
    from model.config import DataConfig
    from model.data import iter_json_list, locate_sources
    from storage import staging
    start = time.perf_counter()
    lists = locate_sources(DataConfig(export="latest"), data)
    folder = lists[0].parents[2]  # <root>/exports/<version>/train.json -> <root>
    files = []
    for name in ("train.json", "val.json"):
        for item in iter_json_list(lists[0].with_name(name)):
            files += [item["image"]] if item.get("image") else []
            if item.get("ecg"):
                header = (folder / (item["ecg"] + ".hea")).read_text(errors="replace")
                files += [item["ecg"] + ".hea", *staging.wfdb_files(header, item["ecg"])]
    size = sum(len((folder / f).read_bytes()) for f in dict.fromkeys(files))
    return time.perf_counter() - start, len(set(files)), size


def measured(server, call):
    """(result, S3 requests) of one call."""
    before = server.requests()
    out = call()
    return out, sum((server.requests() - before).values())


def main() -> None:
    ap = build_options(__doc__, repeat=2, shard_size=4)
    ap.add_argument("--limit", type=int, default=10, help="records to ingest (default 10)")
    args = ap.parse_args()
    sources = args.source or [str(p) for p in DEFAULT_SOURCES]
    if not all(Path(s.split(":", 1)[-1]).exists() for s in sources):
        sys.exit(f"source folders not found: {sources} (the shared data lives in ../shared/data)")
    import yaml
    from tests.s3_server import moto_s3, s3_env
    with tempfile.TemporaryDirectory(prefix="gemflow-s3-eval-bench-") as tmp, moto_s3() as server, s3_env(server):
        tmp = Path(tmp)
        config = tmp / "bench.yaml"
        config.write_text(yaml.safe_dump({"shard_size": args.shard_size}))
        build_local(tmp / "local", sources, args.limit, args.workers, str(config))
        split, n = largest_split(tmp / "local")
        rows = {"evaluate": [], "train data, cold": [], "train data, warm": []}
        for i in range(args.repeat):
            url = upload(tmp / "local", server, f"bench{i}")
            shutil.rmtree(tmp / "local" / "evaluation", ignore_errors=True)
            os.environ["GEMFLOW_CACHE_DIR"] = str(tmp / f"machine{i}")  # this variant's empty work folder
            (local_s, local_n), _ = measured(server, lambda: evaluate_once(str(tmp / "local"), split))
            (s3_s, s3_n), req = measured(server, lambda: evaluate_once(url, split))
            assert local_n == s3_n == n, (local_n, s3_n, n)
            rows["evaluate"].append((local_s, s3_s, req, f"{n} items"))
            for way in ("cold", "warm"):
                local_t = train_data_once(str(tmp / "local"))
                s3_t, req = measured(server, lambda: train_data_once(url))
                assert local_t[1:] == s3_t[1:], (local_t, s3_t)
                rows[f"train data, {way}"].append((local_t[0], s3_t[0], req, f"{s3_t[1]} files, {s3_t[2] / 1024:.0f} KiB"))
        print(f"\n{args.limit} records ingested; split {split!r}: {n} items; best of {args.repeat} per step")
        print(f"{'step':<20}{'local s':>9}{'s3 s':>9}{'s3/local':>10}{'S3 requests':>13}  work")
        for step, runs in rows.items():
            local_s, s3_s = min(r[0] for r in runs), min(r[1] for r in runs)
            print(f"{step:<20}{local_s:>9.2f}{s3_s:>9.2f}{s3_s / local_s:>9.1f}x{runs[-1][2]:>13d}  {runs[-1][3]}")


if __name__ == "__main__":
    main()
