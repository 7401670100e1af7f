"""Two-fold cross-validation of the detector's one tuned parameter on the shared CPSC-2019 strips.

    python benchmarks/rpeaks_cv.py

The parameter is the candidate threshold (share of the local QRS level; beats.THRESHOLD and
selection.THRESHOLD together). The 25 strips are split by a seeded shuffle into halves A and B;
the threshold with the best F1 on A is scored on B, and the other way round. The held-out F1 of
each fold is what the detector can be expected to reach on unseen strips of the same kind.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.rpeaks_heldout import Score, cpsc_strips  # noqa: E402

GRID = (0.25, 0.30, 0.35, 0.40, 0.45)


def _score(strips, threshold: float) -> Score:
    from tasks.features import beats, selection
    old = beats.THRESHOLD, selection.THRESHOLD
    beats.THRESHOLD = selection.THRESHOLD = threshold
    try:
        s = Score()
        for _, x, ref in strips:
            s.add(beats.detect_r_peaks(x, 500.0), ref, 500.0)
        return s
    finally:
        beats.THRESHOLD, selection.THRESHOLD = old


def cross_validate(seed: int = 2019) -> list[str]:
    """Lines: for each fold, the threshold chosen on the tuning half and the F1 on the held-out half."""
    strips = cpsc_strips()
    order = np.random.default_rng(seed).permutation(len(strips))
    halves = [[strips[i] for i in order[: len(strips) // 2]], [strips[i] for i in order[len(strips) // 2:]]]
    lines = []
    for k, (tune, held) in enumerate((halves, halves[::-1])):
        f1 = {t: _score(tune, t).f1() for t in GRID}
        best = max(GRID, key=lambda t: (f1[t], -abs(t - 0.4)))
        grid = " ".join(f"{t:.2f}:{v:.4f}" for t, v in f1.items())
        lines.append(f"fold {k + 1}: tuned on {len(tune)} strips ({grid}) -> threshold {best:.2f}; "
                     f"held-out {len(held)} strips {_score(held, best).line()}")
    return lines


if __name__ == "__main__":
    print("\n".join(cross_validate()))
