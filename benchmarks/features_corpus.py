"""Measured run of the features stage on a corpus of >= 2,000 records (copies of the shared CinC-2021 ones).

    nice -n 10 python benchmarks/features_corpus.py [--records 2000] [--keep]

Copies of the 25 shared 12-lead records (hard links or copies, one sub-folder per copy, in a temp
dir) are ingested as a WFDB source, then the features stage runs shard by shard in one fresh
process, as the flow's worker would: wall time, CPU time and peak RSS (VmHWM) of that process.
The same is done on a tenth of the corpus first, so the per-record cost is also given as a marginal
(t(N) - t(N/10)) / (0.9 N), without the process start-up. The temp dir is removed afterwards.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ecg" / "cinc2021"
PTBXL_RECORDS = 21_799

CHILD = """
import resource, sys, time
from schemas.config import GemflowConfig
from storage.layout import DataRoot
from tasks.features.stage import features_shard, pending_features
from tasks.shards import chunk
t0, c0 = time.perf_counter(), time.process_time()
root = DataRoot.open(sys.argv[1]); cfg = GemflowConfig(data_dir=sys.argv[1])
n = 0
for shard in chunk(pending_features(root), cfg.shard_size):
    n += features_shard(sys.argv[1], shard, cfg.features).measured
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(n, time.perf_counter() - t0, time.process_time() - c0, hwm)
"""


def make_corpus(n: int, folder: Path) -> Path:
    """n records: the shared ones repeated, one sub-folder per round (record ids stay unique)."""
    heads = sorted(SHARED.glob("*.hea"))
    src = folder / "cinc_copies"
    for i in range(n):
        hea = heads[i % len(heads)]
        sub = src / f"copy{i // len(heads):04d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in (hea, hea.with_suffix(".mat")):
            try:
                os.link(f, sub / f.name)
            except OSError:
                shutil.copy2(f, sub / f.name)
    return src


def ingest(src: Path, data_dir: Path) -> float:
    from schemas.config import GemflowConfig, SourceConfig
    from storage.layout import DataRoot
    from storage.parquet import TableStore
    from tasks.ingest.stage import ingest_shard, pending_records
    from tasks.shards import chunk
    t0 = time.perf_counter()
    cfg = GemflowConfig(data_dir=str(data_dir))
    root = DataRoot.open(cfg.data_dir)
    scfg = SourceConfig(path=str(src), kind="wfdb", name="cinc")
    for shard in chunk(pending_records(scfg, cfg.ingest, TableStore(root)), cfg.shard_size):
        ingest_shard(scfg, cfg.ingest, str(root.root), shard)
    return time.perf_counter() - t0


def features(data_dir: Path) -> tuple[int, float, float, float]:
    """(records measured, wall s, CPU s, peak RSS MiB) of the features stage in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(data_dir)], cwd=REPO, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    n, wall, cpu, kib = out.stdout.split()[-4:]
    return int(n), float(wall), float(cpu), int(kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    tmp = Path(tempfile.mkdtemp(prefix="gemflow-corpus-"))
    try:
        rows = {}
        for n in (max(25, args.records // 10), args.records):
            src = make_corpus(n, tmp / f"n{n}")
            t_ing = ingest(src, tmp / f"n{n}" / "data")
            rows[n] = features(tmp / f"n{n}" / "data")
            m, wall, cpu, mib = rows[n]
            print(f"{n:>6} records: ingest {t_ing:.1f} s; features {m} measured in {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU ({n / cpu:.1f} records/CPU-s), peak RSS {mib:.0f} MiB")
        small, big = sorted(rows)
        marg = (rows[big][2] - rows[small][2]) / (big - small)
        print(f"marginal CPU cost: {marg * 1000:.1f} ms/record = {1 / marg:.1f} records/s/core; "
              f"peak RSS ratio {rows[big][3] / rows[small][3]:.2f} for a {big / small:.0f}x corpus")
        print(f"measured {big} records in {rows[big][1] / 60:.1f} min wall on one process; PTB-XL's "
              f"{PTBXL_RECORDS} at this marginal rate on 2 cores: {PTBXL_RECORDS * marg / 2 / 60:.1f} min (estimate)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
