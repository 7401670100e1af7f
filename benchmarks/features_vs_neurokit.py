"""Benchmark: gemflow's feature extractor against the naive per-lead neurokit2 loop, same records, one process.

Usage: python benchmarks/features_vs_neurokit.py [--data ../shared/data/ecg/cinc2021] [--nk-per-source 3]
       [--repeat 3] [--n 50]

The naive loop runs on a sample drawn from all three CinC sources (E* Georgia, HR* PTB-XL, JS*
Chapman-Shaoxing: --nk-per-source of each). gemflow is timed per record in process (best of
--repeat passes over all records) and as a marginal cost: a fresh process measures N and then 2N
records (cycling the shared ones) and (t(2N) - t(N)) / N is the cost of one more record with the
start-up (imports, filter designs) taken out. Single-threaded BLAS, so "per core" means one core.
A measured run on >= 2,000 records through the features stage: benchmarks/features_corpus.py.
"""
from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tasks.features import FeatureError, extract_features  # noqa: E402

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from benchmarks.features_vs_neurokit import load_records
from tasks.features import FeatureError, extract_features
from pathlib import Path
recs = load_records(Path(sys.argv[2]))
n = int(sys.argv[3])
t0 = time.process_time()
for i in range(n):
    rid, sig, fs, leads = recs[i % len(recs)]
    try:
        extract_features(sig, fs, leads, rid)
    except FeatureError:
        pass
print(time.process_time() - t0, time.process_time())
"""


def load_records(folder: Path) -> list[tuple[str, np.ndarray, float, list[str]]]:
    import wfdb

    out = []
    for hea in sorted(folder.glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
        out.append((rec.record_name, rec.p_signal.T.astype(np.float32), float(rec.fs), list(rec.sig_name)))
    return out


def naive_neurokit(signal: np.ndarray, fs: float) -> int:
    """The baseline: nk.ecg_process + nk.ecg_delineate(method="dwt") on every lead; returns beats seen."""
    import neurokit2 as nk

    n = 0
    for lead in signal:
        try:
            sig, info = nk.ecg_process(lead, sampling_rate=int(fs))
            nk.ecg_delineate(sig["ECG_Clean"], info["ECG_R_Peaks"], sampling_rate=int(fs), method="dwt")
            n += len(info["ECG_R_Peaks"])
        except (ValueError, IndexError, ZeroDivisionError):
            continue
    return n


def time_per_record(fn, records, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):  # CPU time: the machine is shared, wall time would count other processes' load
        t0 = time.process_time()
        for rec in records:
            fn(rec)
        best = min(best, (time.process_time() - t0) / len(records))
    return best


def nk_sample(records: list, per_source: int) -> list:
    """The first `per_source` records of each CinC source (E*, HR*, JS*)."""
    out = []
    for prefix in ("E", "HR", "JS"):
        out += [r for r in records if r[0].startswith(prefix)][:per_source]
    return out


def marginal_cost(data: Path, n: int) -> tuple[float, float, float]:
    """(t(N), t(2N), marginal s/record) from two fresh processes, start-up included in each total."""
    import subprocess
    repo = str(Path(__file__).resolve().parents[1])
    times = []
    for k in (n, 2 * n):  # CPU time of the whole child process (imports and start-up included)
        out = subprocess.run([sys.executable, "-c", CHILD, repo, str(data), str(k)], check=True, capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": repo})
        times.append(float(out.stdout.split()[-1]))
    return times[0], times[1], (times[1] - times[0]) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ecg/cinc2021")
    ap.add_argument("--nk-per-source", type=int, default=3, help="records of each source for the slow baseline")
    ap.add_argument("--repeat", type=int, default=3, help="gemflow passes (best is kept)")
    ap.add_argument("--n", type=int, default=50, help="N of the marginal cost (N vs 2N records, fresh processes)")
    args = ap.parse_args()
    records = load_records(args.data)
    warnings.filterwarnings("ignore")
    import neurokit2  # noqa: F401  (import cost kept out of the timings)

    def ours(rec):
        try:
            extract_features(rec[1], rec[2], rec[3], rec[0])
        except FeatureError:
            pass

    ours(records[0])  # warm-up
    t_ours = time_per_record(ours, records, args.repeat)
    sample = nk_sample(records, args.nk_per_source)
    t_nk = time_per_record(lambda rec: naive_neurokit(rec[1], rec[2]), sample, 1)
    t_same = time_per_record(ours, sample, args.repeat)
    t_n, t_2n, t_marg = marginal_cost(args.data, args.n)
    print(f"records: {len(records)} CinC-2021 12-lead 10 s @ 500 Hz; baseline sample {[r[0] for r in sample]}")
    print(f"neurokit2 per-lead loop (sample): {t_nk * 1000:8.1f} ms/record  {1 / t_nk:7.2f} records/s/core")
    print(f"gemflow on the same sample:       {t_same * 1000:8.1f} ms/record  {1 / t_same:7.2f} records/s/core"
          f"  -> {t_nk / t_same:.1f}x")
    print(f"gemflow on all {len(records)} records:      {t_ours * 1000:8.1f} ms/record  {1 / t_ours:7.2f} records/s/core")
    print(f"marginal (fresh processes, CPU s): {args.n} records {t_n:.2f} s, {2 * args.n} records {t_2n:.2f} s -> "
          f"{t_marg * 1000:.1f} ms/record, {1 / t_marg:.1f} records/s/core; {t_nk / t_marg:.1f}x the naive loop")


if __name__ == "__main__":
    main()
