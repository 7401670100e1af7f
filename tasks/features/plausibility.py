"""Beat values implausible for their lead: nulled, never passed on, and counted as lead issues.

Within a lead, the dominant beats of a strip share their intervals: a QRS, QT or PR far from the lead's
median (more than max(SD_FACTOR robust SDs, the floor below)) is a mis-measurement of that beat, not
physiology. Ectopic beats are judged apart (their own QRS and QT are expected to differ), and a lead
T end the shared T end disowns (tasks/features/global_fiducials.py) is counted here too.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SD_FACTOR = 3.0
FLOOR_MS = {"qrs_ms": 20.0, "qt_ms": 40.0, "pr_ms": 30.0}
MIN_BEATS = 4  # fewer valid beats in a lead: no median to judge against
TIMES_OF = {"qrs_ms": ("qrs_on_s", "qrs_off_s", "j_s"), "qt_ms": ("t_on_s", "t_peak_s", "t_off_s"),
            "pr_ms": ("p_on_s", "p_peak_s", "p_off_s", "p_amp_mv")}


def far_from_median(v: np.ndarray, floor: float) -> np.ndarray:
    """(B,) mask of finite values further from the median than max(SD_FACTOR robust SD, floor)."""
    ok = np.isfinite(v)
    out = np.zeros(v.shape, dtype=bool)
    if ok.sum() < MIN_BEATS:
        return out
    med = np.median(v[ok])
    sd = 1.4826 * np.median(np.abs(v[ok] - med))
    out[ok] = np.abs(v[ok] - med) > max(SD_FACTOR * sd, floor)
    return out


def null_implausible(cols: dict[str, np.ndarray], classes: np.ndarray, usable: np.ndarray,
                     t_far: np.ndarray, leads: Sequence[str]) -> list[str]:
    """Null (in place) each (L, B) interval far from its lead's median among beats of the same class,
    with the fiducials it came from; return 'LEAD:implausible NAME (k beats)' issues."""
    issues: list[str] = []
    for li in np.flatnonzero(usable):
        counts: dict[str, int] = {}
        if t_far.size and t_far[li].any():
            counts["t_end"] = int(t_far[li].sum())
        for name, floor in FLOOR_MS.items():
            bad = np.zeros(classes.size, dtype=bool)
            for cls in np.unique(classes):
                sel = classes == cls
                bad[sel] = far_from_median(cols[name][li, sel], floor)
            if bad.any():
                counts[name.removesuffix("_ms")] = int(bad.sum())
                cols[name][li, bad] = np.nan
                for col in TIMES_OF[name]:
                    cols[col][li, bad] = np.nan
        issues += [f"{leads[li]}:implausible {k} ({n} beat{'s' if n > 1 else ''})" for k, n in counts.items()]
    return issues
