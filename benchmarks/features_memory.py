"""Peak memory of the features stage as the corpus grows: it must stay flat (shards stream).

    python benchmarks/features_memory.py [--sizes 200 800]

For each size, a fresh dataset root is ingested from generated records, then the features stage
runs shard by shard in a child process whose peak RSS is read from the OS. The ratio of the
largest to the smallest corpus's peak is the figure that matters (1.0 = flat).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
REPO = Path(__file__).resolve().parents[1]

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
CHILD = """
import sys
from schemas.config import GemflowConfig
from storage.layout import DataRoot
from tasks.features.stage import features_shard, pending_features
from tasks.shards import chunk
root = DataRoot.open(sys.argv[1]); cfg = GemflowConfig(data_dir=sys.argv[1])
n = 0
for shard in chunk(pending_features(root), cfg.shard_size):
    n += features_shard(sys.argv[1], shard, cfg.features).measured
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(n, hwm)
"""


def prepare(n: int, folder: Path) -> str:
    from schemas.config import GemflowConfig, SourceConfig
    from storage.parquet import TableStore
    from storage.layout import DataRoot
    from tasks.ingest.demo import write_demo_records
    from tasks.ingest.stage import ingest_shard, pending_records
    from tasks.shards import chunk
    write_demo_records(folder / "src" / "demo", n=n, seed=5)
    cfg = GemflowConfig(data_dir=str(folder / "data"))
    root = DataRoot.open(cfg.data_dir)
    src = SourceConfig(path=str(folder / "src" / "demo"), kind="demo")
    for shard in chunk(pending_records(src, cfg.ingest, TableStore(root)), cfg.shard_size):
        ingest_shard(src, cfg.ingest, str(root.root), shard)
    return str(root.root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 800])
    args = ap.parse_args()
    peaks = {}
    for n in args.sizes:
        data = prepare(n, Path(tempfile.mkdtemp(prefix=f"gemflow-mem-{n}-")))
        out = subprocess.run([sys.executable, "-c", CHILD, data], cwd=REPO, capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        measured, kib = out.stdout.split()[-2:]
        peaks[n] = int(kib) / 1024
        print(f"{n:>6} records: {measured} measured, peak RSS {peaks[n]:.0f} MiB")
    lo, hi = min(args.sizes), max(args.sizes)
    print(f"peak ratio {hi} vs {lo} records: {peaks[hi] / peaks[lo]:.2f} (corpus ratio {hi / lo:.0f}x)")


if __name__ == "__main__":
    main()
