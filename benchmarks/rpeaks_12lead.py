"""Benchmark: the record (fused 12-lead) detector on seeded synthetic 12-lead records with known beats.

    python benchmarks/rpeaks_12lead.py [--baseline-repo /path/to/other/checkout] [--seeds 60]

Records: tasks/features/synthetic.make_record(seed, noise=1 and 3) for seeds 0..N-1 (narrow, RBBB-
and LBBB-like shapes, 10 s at 500 Hz). Each record goes through the quality gate and detect_beats
on its usable leads, as extract_features does; a detection within 75 ms of the true QRS onset +
40 ms counts. Reports F1 and the records left with no beats (the quality gate rejecting every lead).
`--baseline-repo` runs another checkout's detector in a child process on the same records.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def score(seeds: int) -> str:
    from benchmarks.rpeaks_heldout import Score
    from tasks.features.beats import detect_beats
    from tasks.features.filters import clean_band, despike, qrs_band
    from tasks.features.quality import assess_leads
    from tasks.features.synthetic import make_record
    s = Score()
    for seed in range(seeds):
        for noise in (1.0, 3.0):
            rec = make_record(seed, noise=noise)
            x = np.asarray(rec.signal, dtype=float)
            x = x if x.shape[0] == 12 else x.T
            raw = despike(x, rec.fs)
            band = qrs_band(raw, rec.fs)
            usable = assess_leads(raw, clean_band(raw, rec.fs), band, rec.fs).usable
            det = detect_beats(raw, band, rec.fs, usable) if usable.any() else np.zeros(0, dtype=np.int64)
            inside = (rec.beats > 0.05 * rec.fs) & (rec.beats < x.shape[-1] - 0.1 * rec.fs)
            s.add(det, rec.beats[inside] + int(0.04 * rec.fs), rec.fs)
    return s.line()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--baseline-repo", type=Path, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, os.environ.get("GEMFLOW_DETECTOR_REPO", str(REPO)))
    if args.child:
        print(json.dumps(score(args.seeds)))
        return
    if args.baseline_repo:
        env = {**os.environ, "PYTHONPATH": f"{args.baseline_repo}{os.pathsep}{REPO}",
               "GEMFLOW_DETECTOR_REPO": str(args.baseline_repo)}
        out = subprocess.run([sys.executable, __file__, "--child", "--seeds", str(args.seeds)], env=env,
                             capture_output=True, text=True, check=True)
        print(f"baseline  {json.loads(out.stdout.strip().splitlines()[-1])}")
    print(f"this      {score(args.seeds)}")


if __name__ == "__main__":
    main()
