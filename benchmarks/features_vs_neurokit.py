"""Benchmark: gemflow's feature extractor against the naive per-lead neurokit2 loop, same records, one process.

Usage: python benchmarks/features_vs_neurokit.py [--data ../shared/data/ecg/cinc2021] [--nk-records 8] [--repeat 3]

Prints records/s/core for each, the speed ratio and a PTB-XL (21,799 records) estimate on 2 cores.
Single-threaded BLAS is forced so that "per core" means one core.
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

PTBXL_RECORDS = 21_799
CORES = 2


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
    for _ in range(repeat):
        t0 = time.perf_counter()
        for rec in records:
            fn(rec)
        best = min(best, (time.perf_counter() - t0) / len(records))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ecg/cinc2021")
    ap.add_argument("--nk-records", type=int, default=8, help="records for the slow baseline")
    ap.add_argument("--repeat", type=int, default=3, help="gemflow passes (best is kept)")
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
    t_nk = time_per_record(lambda rec: naive_neurokit(rec[1], rec[2]), records[: args.nk_records], 1)
    ptbxl_min = PTBXL_RECORDS * t_ours / CORES / 60
    print(f"records: {len(records)} CinC-2021 12-lead 10 s @ 500 Hz (baseline on {min(args.nk_records, len(records))})")
    print(f"neurokit2 per-lead loop: {t_nk * 1000:8.1f} ms/record  {1 / t_nk:7.2f} records/s/core")
    print(f"gemflow extract_features: {t_ours * 1000:7.1f} ms/record  {1 / t_ours:7.2f} records/s/core")
    print(f"speed-up: {t_nk / t_ours:.1f}x")
    print(f"PTB-XL estimate ({PTBXL_RECORDS} records, {CORES} cores): {ptbxl_min:.1f} min")


if __name__ == "__main__":
    main()
