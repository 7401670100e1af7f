"""Beat values implausible for their lead: nulled, never passed on, and counted as lead issues.

Within a lead, the dominant beats of a strip share their intervals: a QRS, QT or PR far from the lead's
median (more than max(SD_FACTOR robust SDs, the floor below)) is a mis-measurement of that beat, not
physiology. Ectopic beats are judged apart (their own QRS and QT are expected to differ), and a lead
T end the shared T end disowns (tasks/features/global_fiducials.py) is counted here too.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasks.features.wave_arrays import nan_median

SD_FACTOR = 3.0
FLOOR_MS = {"qrs_ms": 20.0, "qt_ms": 40.0, "pr_ms": 30.0}
MIN_BEATS = 4  # fewer valid beats in a lead: no median to judge against
TIMES_OF = {"qrs_ms": ("qrs_on_s", "qrs_off_s", "j_s"), "qt_ms": ("t_on_s", "t_peak_s", "t_off_s"),
            "pr_ms": ("p_on_s", "p_peak_s", "p_off_s", "p_amp_mv")}


def far_from_median(v: np.ndarray, floor: float) -> np.ndarray:
    """Mask of finite values further from their row's median than max(SD_FACTOR robust SD, floor);
    rows (leads) with fewer than MIN_BEATS finite values are never far. v: (B,) or (L, B)."""
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v)
    med = nan_median(v)[..., None]
    dev = np.abs(v - med)
    sd = 1.4826 * nan_median(dev)[..., None]
    judged = (ok.sum(axis=-1) >= MIN_BEATS)[..., None]
    return judged & ok & (dev > np.maximum(SD_FACTOR * sd, floor))


def null_implausible(cols: dict[str, np.ndarray], classes: np.ndarray, usable: np.ndarray,
                     t_far: np.ndarray, leads: Sequence[str]) -> list[str]:
    """Null (in place) each (L, B) interval far from its lead's median among beats of the same class,
    with the fiducials it came from; return 'LEAD:implausible NAME (k beats)' issues."""
    use = np.flatnonzero(usable)
    counts: dict[str, np.ndarray] = {}
    if t_far.size:
        counts["t_end"] = t_far[use].sum(axis=-1)
    for name, floor in FLOOR_MS.items():
        bad = np.zeros((use.size, classes.size), dtype=bool)
        for cls in np.unique(classes):
            sel = classes == cls
            bad[:, sel] = far_from_median(cols[name][np.ix_(use, sel)], floor)
        counts[name.removesuffix("_ms")] = bad.sum(axis=-1)
        rows, beats = use[np.nonzero(bad)[0]], np.nonzero(bad)[1]
        for col in (name, *TIMES_OF[name]):
            cols[col][rows, beats] = np.nan
    issues: list[str] = []
    for k, li in enumerate(use):
        issues += [f"{leads[li]}:implausible {name} ({int(n[k])} beat{'s' if n[k] > 1 else ''})"
                   for name, n in counts.items() if n[k]]
    return issues
