"""Benchmark: CPU time of R-peak detection, this checkout against another, in alternating fresh processes.

    python benchmarks/rpeaks_speed.py --baseline-repo /path/to/other/checkout [--rounds 3]

Each round runs the baseline's detector and this checkout's, each in a fresh child process, one
after the other; a child times `detect_r_peaks` on the 25 CPSC-2019 strips and `detect_beats`
(fused, all usable leads) on the 25 CinC-2021 12-lead records, best of 5 passes, in CPU time (the
machine is shared). Reports ms per strip / record for every round and the ratio of the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ecg"


def _inputs():
    import wfdb
    from scipy.io import loadmat

    from tasks.features.filters import clean_band, despike, qrs_band
    from tasks.features.quality import assess_leads
    strips = [loadmat(p)["ecg"].ravel().astype(float) for p in sorted((SHARED / "cpsc2019" / "data").glob("*.mat"))]
    records = []
    for hea in sorted((SHARED / "cinc2021").glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
        x = np.nan_to_num(rec.p_signal.T.astype(float))
        raw = despike(x, rec.fs)
        band = qrs_band(raw, rec.fs)
        records.append((raw, band, float(rec.fs), assess_leads(raw, clean_band(raw, rec.fs), band, rec.fs).usable))
    return strips, records


def child() -> dict[str, float]:
    """ms per CPSC strip (detect_r_peaks) and per CinC record (detect_beats), best of 5 passes."""
    from tasks.features import detect_r_peaks
    from tasks.features.beats import detect_beats
    strips, records = _inputs()

    def one() -> tuple[float, float]:
        t = time.process_time()
        for x in strips:
            detect_r_peaks(x, 500.0)
        a = time.process_time() - t
        t = time.process_time()
        for raw, band, fs, usable in records:
            detect_beats(raw, band, fs, usable)
        return a / len(strips) * 1e3, (time.process_time() - t) / len(records) * 1e3
    one()  # warm-up: filter designs, imports
    runs = [one() for _ in range(5)]
    return {"detect_r_peaks": min(r[0] for r in runs), "detect_beats": min(r[1] for r in runs)}


def _run(repo: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(repo), "GEMFLOW_DETECTOR_REPO": str(repo)}
    out = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-repo", type=Path, required="--child" not in sys.argv)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.child:
        sys.path.insert(0, os.environ.get("GEMFLOW_DETECTOR_REPO", str(REPO)))
        print(json.dumps(child()))
        return
    rows: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(args.rounds):
        rows["baseline"].append(_run(args.baseline_repo))
        rows["this"].append(_run(REPO))
    for key in ("detect_r_peaks", "detect_beats"):
        base = [r[key] for r in rows["baseline"]]
        this = [r[key] for r in rows["this"]]
        print(f"{key:15s} baseline {' / '.join(f'{v:.2f}' for v in base)} ms; this {' / '.join(f'{v:.2f}' for v in this)} ms; "
              f"ratio of medians {np.median(this) / np.median(base):.2f}")


if __name__ == "__main__":
    main()
