"""Two-fold cross-validation of the detector's tuned parameters on the shared CPSC-2019 strips.

    python benchmarks/rpeaks_cv.py [--strips] [--seeds N]

`--strips` also lists each held-out strip the detector gets wrong: its false detections and
missed reference beats (sample indices at 500 Hz), at the threshold chosen for that fold.

The parameters are the candidate threshold (share of the local QRS level; beats.THRESHOLD and
selection.THRESHOLD together) and the R-peak search half-width around the QRS energy centre
(beats.REFINE_S). The 25 strips are split by a seeded shuffle into halves A and B; the pair with
the best F1 on A is scored on B, and the other way round. The held-out F1 of each fold is what
the detector can be expected to reach on unseen strips of the same kind. `--seeds N` repeats the
split with N seeds (2019, 2020, ...) and reports the mean held-out F1 over all 2N folds.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.rpeaks_heldout import Score, cpsc_strips  # noqa: E402

GRID = (0.25, 0.30, 0.35, 0.40, 0.45)
REFINE_GRID = (0.04, 0.06, 0.08, 0.10)
PRIOR = (0.35, 0.07)  # ties go to the pair nearest this (the middle of the grids)


@contextmanager
def _params(threshold: float, refine_s: float):
    from tasks.features import beats, selection
    old = beats.THRESHOLD, selection.THRESHOLD, beats.REFINE_S
    beats.THRESHOLD = selection.THRESHOLD = threshold
    beats.REFINE_S = refine_s
    try:
        yield beats
    finally:
        beats.THRESHOLD, selection.THRESHOLD, beats.REFINE_S = old


def _score(strips, pair: tuple[float, float]) -> Score:
    with _params(*pair) as beats:
        s = Score()
        for _, x, ref in strips:
            s.add(beats.detect_r_peaks(x, 500.0), ref, 500.0)
        return s


def _errors(strips, pair: tuple[float, float]) -> list[str]:
    """One line per strip with a false or missed beat: which (sample indices, ±75 ms rule)."""
    tol = int(0.075 * 500)
    with _params(*pair) as beats:
        lines = []
        for name, x, ref in strips:
            det = beats.detect_r_peaks(x, 500.0)
            fp = [int(d) for d in det if ref.size == 0 or np.abs(ref - d).min() > tol]
            fn = [int(r) for r in ref if det.size == 0 or np.abs(det - r).min() > tol]
            if fp or fn:
                lines.append(f"    {name}: {ref.size} beats, false {fp}, missed {fn}")
        return lines


def _choose(tune) -> tuple[tuple[float, float], float]:
    """The (threshold, refine) pair with the best F1 on `tune` (ties: nearest PRIOR), and that F1."""
    f1 = {(t, r): _score(tune, (t, r)).f1() for t in GRID for r in REFINE_GRID}
    best = max(f1, key=lambda p: (round(f1[p], 6), -abs(p[0] - PRIOR[0]) / 0.05 - abs(p[1] - PRIOR[1]) / 0.02))
    return best, f1[best]


def cross_validate(seed: int = 2019, strips_detail: bool = False) -> tuple[list[str], list[float]]:
    """Lines (for each fold: the pair chosen on the tuning half, the F1 on the held-out half) and
    the held-out F1s."""
    strips = cpsc_strips()
    order = np.random.default_rng(seed).permutation(len(strips))
    halves = [[strips[i] for i in order[: len(strips) // 2]], [strips[i] for i in order[len(strips) // 2:]]]
    lines, scores = [], []
    for k, (tune, held) in enumerate((halves, halves[::-1])):
        best, tuned = _choose(tune)
        s = _score(held, best)
        scores.append(s.f1())
        lines.append(f"seed {seed} fold {k + 1}: tuned on {len(tune)} strips (F1 {tuned:.4f}) -> threshold "
                     f"{best[0]:.2f}, refine {best[1] * 1000:.0f} ms; held-out {len(held)} strips {s.line()}")
        if strips_detail:
            lines.extend(_errors(held, best))
    return lines, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strips", action="store_true", help="list the held-out strips with errors")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    scores = []
    for seed in range(2019, 2019 + args.seeds):
        lines, f1 = cross_validate(seed, args.strips)
        print("\n".join(lines))
        scores.extend(f1)
    if args.seeds > 1:
        print(f"held-out F1 over {len(scores)} folds: mean {np.mean(scores):.4f}, min {min(scores):.4f}")


if __name__ == "__main__":
    main()
