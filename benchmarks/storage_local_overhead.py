"""Does the object-storage work slow a local root? The same storage workload on two checkouts, in one run.

The workload is what a shard stage does to a local root: commit a shard's parts (a secondary, then
the primary), list and read a table back, write and read canonical signals, check for a page and
write it. It runs in a child process per checkout (`--baseline` and `--candidate`: repository
folders, each put first on PYTHONPATH), alternating A, B, A, B… for `--repeat` rounds, and prints
each one's median and the ratio candidate / baseline. A ratio near 1.00 means no change.

    python benchmarks/storage_local_overhead.py --baseline /work/main --candidate . --repeat 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORK = textwrap.dedent("""
    import json, sys, tempfile, time
    import numpy as np, pyarrow as pa
    from storage.layout import DataRoot
    from storage.parquet import TableStore, rows_to_table
    from storage.signals import read_signal, write_signal
    from schemas.records import QUARANTINE_SCHEMA
    schema = pa.schema([pa.field("record_id", pa.string(), nullable=False), pa.field("v", pa.float64())])
    sig = np.random.default_rng(1).normal(0, 0.3, (12, 5000)).astype(np.float32)
    page = bytes(200_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot.open(tmp)
        store = TableStore(root)
        t0 = time.perf_counter()
        for s in range({shards}):
            ids = [f"r{{s}}-{{i}}" for i in range(200)]
            table = rows_to_table([{{"record_id": i, "v": 1.0}} for i in ids], schema)
            store.commit(f"bench-{{s:04d}}", {{"quarantine": rows_to_table([], QUARANTINE_SCHEMA),
                                               "records": table}}, primary="records")
            store.keys("records", schema)
        t1 = time.perf_counter()
        for i in range({signals}):
            rel = write_signal(root, f"rec{{i}}", "bench", sig, [])
            read_signal(root, rel)
            rel_img = f"images/bench/rec{{i}}.png"
            if hasattr(root, "write_bytes"):  # the candidate: render's calls as they are now
                if not root.exists(rel_img):
                    root.write_bytes(rel_img, page)
            elif not root.abs(rel_img).exists():  # the baseline: render's calls as they were
                from storage import atomic
                atomic.write_bytes(root.abs(rel_img), page)
        t2 = time.perf_counter()
    print(json.dumps({{"parts_s": t1 - t0, "signals_pages_s": t2 - t1}}))
""")


def run_once(repo: Path, shards: int, signals: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo.resolve())}
    out = subprocess.run([sys.executable, "-c", WORK.format(shards=shards, signals=signals)], env=env,
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="checkout without the change (e.g. /work/main)")
    ap.add_argument("--candidate", type=Path, default=Path("."), help="checkout with the change")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--shards", type=int, default=60)
    ap.add_argument("--signals", type=int, default=200)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"baseline": [], "candidate": []}
    for _ in range(args.repeat):
        for name in ("baseline", "candidate"):
            runs[name].append(run_once(getattr(args, name), args.shards, args.signals))
    for key, what in (("parts_s", f"{args.shards} shard commits + key reads"),
                      ("signals_pages_s", f"{args.signals} signal writes+reads and page writes")):
        base = statistics.median(r[key] for r in runs["baseline"])
        cand = statistics.median(r[key] for r in runs["candidate"])
        print(f"{what}: baseline {base:.3f} s, candidate {cand:.3f} s, candidate/baseline {cand / base:.3f}"
              f" (median of {args.repeat})")


if __name__ == "__main__":
    main()
