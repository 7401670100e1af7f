"""P waves: each beat's P found two ways, and the record keeps the more self-consistent reading.

- In the search window (after the previous T peak, before the QRS): the largest deviation from the
  line joining the window's ends at a true peak or trough of the signal (p_in_window);
- Near the beat's P location from what the leads share (p_centre: the summed bend of the leads,
  signed by each lead's T polarity), which finds a P riding on the T's downslope as a mere shoulder
  (p_near).

In sinus rhythm P keeps its distance from the QRS beat after beat. The located reading is kept
unless its P-to-QRS distance varies more over the beats than the window reading's (by more than
SPREAD_MARGIN_S) or it finds P in far fewer lead-beats (FOUND_SHARE); then the window reading is
kept. In AF neither is consistent, and the P-wave rule downstream (measures.consistent_p_leads)
still says absent. On/off are read for the kept reading only: median_beat.wave_bounds, moved by the
lead's median-beat shift (median_beat.p_shift).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from tasks.features import median_beat
from tasks.features.wave_arrays import _arg_in, _range_mask, _smooth, _take

MIN_WAVE_MV = 0.05  # as delineate.MIN_WAVE_MV: smaller P waves are absent
SPREAD_MARGIN_S = 0.004  # the located reading is kept unless the window one is this much more consistent
FOUND_SHARE = 0.6  # ... or finds P in fewer than this share of the lead-beats the window reading does
P_BEFORE_QRS_S = 0.03  # the located P peaks at least this long before the QRS onset
P_CURVE_S = 0.02  # the curvature that locates P is smoothed over this
P_NEAR_S = 0.025  # a lead's P peak lies within this of the beat's P location
P_HALF_S = 0.08  # its baseline: the line joining the signal this far either side of that location
MEDIAN_BEAT_SHIFT = True  # P bounds moved by the median beat's reading (median_beat.py)
EXTREMUM_S = 0.02  # in the window reading, a P peak is the largest (or smallest) value within this either side


def p_centre(ys: np.ndarray, ds: np.ndarray, usable: np.ndarray, t_amp: np.ndarray, lo: np.ndarray,
              hi: np.ndarray, fs: float) -> np.ndarray:
    """(B,) where the beat's P wave peaks (window index), from what the leads share.

    P is a narrow hump (80-110 ms) riding on a slow baseline: at its top every lead bends the same
    way relative to its T wave's polarity (P and T share polarity in most leads), while the tail of
    the previous T bends the other way. The score is the sum over usable leads of that bend (the
    negative curvature, signed by the lead's T), so a P sitting on the T's downslope (a shoulder, no
    local extremum) is found, and the T tail is not taken for a P.
    """
    d2 = _smooth(np.gradient(ds, axis=-1) * fs, max(1, int(P_CURVE_S * fs)))
    t_sign = np.sign(np.nan_to_num(np.nanmedian(np.where(np.isfinite(t_amp), t_amp, np.nan), axis=-1)
                                   if np.isfinite(t_amp).any() else np.zeros(t_amp.shape[0])))
    t_sign = np.where(t_sign == 0, 1.0, t_sign)
    bend = np.clip(-t_sign[:, None, None] * d2, 0.0, None)
    score = np.nansum(np.where(usable[:, None, None], bend, 0.0), axis=0)  # (B, W)
    w = score.shape[-1]
    width = 2 * max(1, int(P_NEAR_S * fs)) + 1
    hump = score >= ndimage.maximum_filter1d(score, width, axis=-1)  # a local maximum, not a window edge
    return _arg_in(score, _range_mask(w, lo + 0.01 * fs, hi) & hump)


def p_near(ys: np.ndarray, centre: np.ndarray, lo: np.ndarray, hi: np.ndarray, fs: float) -> dict:
    """P wave of each lead near the beat's P `centre`: the largest deviation, within P_NEAR_S of it, from
    the straight line joining the signal P_HALF_S either side (so a P riding on the previous T's tail
    still stands out), >= MIN_WAVE_MV, inside [lo, hi].

    Its amplitude is that deviation; with it "_bounds" (the deviation and the on/off search range), from
    which locate_p reads on/off (_on_off) for the reading it keeps.
    """
    w = ys.shape[-1]
    a = np.broadcast_to(np.fmax(centre - P_HALF_S * fs, lo - 0.03 * fs), ys.shape[:-1])
    b = np.broadcast_to(np.fmin(centre + P_HALF_S * fs, hi + 0.01 * fs), ys.shape[:-1])
    y_a, y_b = _take(ys, np.round(a)), _take(ys, np.round(b))
    frac = (np.arange(w) - a[..., None]) / np.maximum(b - a, 1.0)[..., None]
    dev = ys - (y_a[..., None] + frac * (y_b - y_a)[..., None])
    near = _range_mask(w, np.fmax(centre - P_NEAR_S * fs, lo), np.fmin(centre + P_NEAR_S * fs, hi))
    pk = _arg_in(np.abs(dev), np.broadcast_to(near, ys.shape))
    amp = _take(dev, pk)
    interior = (pk > a + 0.01 * fs) & (pk < b - 0.01 * fs)
    present = interior & (np.abs(amp) >= MIN_WAVE_MV)
    pk, amp = np.where(present, pk, np.nan), np.where(present, amp, np.nan)
    return {"p_peak": pk, "p_amp": amp, "_bounds": (dev, a, b)}


def _extrema(ys: np.ndarray, dev: np.ndarray, fs: float) -> np.ndarray:
    """Where ys has a local maximum (with dev > 0) or minimum (dev < 0) within +-EXTREMUM_S."""
    width = 2 * max(1, int(EXTREMUM_S * fs)) + 1
    y = np.nan_to_num(ys)
    peak = y >= ndimage.maximum_filter1d(y, width, axis=-1)
    trough = y <= ndimage.minimum_filter1d(y, width, axis=-1)
    return (peak & (dev > 0)) | (trough & (dev < 0))



def p_in_window(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray, fs: float) -> dict:
    """P wave in [lo, hi]: the largest deviation from the straight line joining the window's ends
    (so a P riding on the tail of the previous T still stands out) at a true peak or trough of the
    signal (a bend in the T's descending limb is not a P), interior only, >= MIN_WAVE_MV.

    Its amplitude is that deviation; with it "_bounds" (the deviation and the on/off search range), from
    which locate_p reads on/off (_on_off) for the reading it keeps.
    """
    w = ys.shape[-1]
    lo, hi = np.broadcast_to(lo, ys.shape[:-1]), np.broadcast_to(hi, ys.shape[:-1])
    y_lo, y_hi = _take(ys, np.round(lo)), _take(ys, np.round(hi))
    frac = (np.arange(w) - lo[..., None]) / np.maximum(hi - lo, 1.0)[..., None]
    dev = ys - (y_lo[..., None] + frac * (y_hi - y_lo)[..., None])
    pk = _arg_in(np.abs(dev), _range_mask(w, lo, hi) & _extrema(ys, dev, fs))
    amp = _take(dev, pk)
    interior = (pk > lo + 0.01 * fs) & (pk < hi - 0.01 * fs)
    present = interior & (np.abs(amp) >= MIN_WAVE_MV)
    pk, amp = np.where(present, pk, np.nan), np.where(present, amp, np.nan)
    return {"p_peak": pk, "p_amp": amp, "_bounds": (dev, lo - 0.03 * fs, hi + 0.03 * fs)}



def _on_off(dev: np.ndarray, pk: np.ndarray, amp: np.ndarray, a: np.ndarray, b: np.ndarray, fs: float) -> dict:
    """P onset/offset of each lead-beat within 120 ms of the peak and inside [a, b], by the rule of
    median_beat.wave_bounds; then moved by the lead's median-beat shift (median_beat.p_shift)."""
    v = np.sign(np.nan_to_num(amp))[..., None] * dev  # the P wave made positive
    lo, hi = np.fmax(pk - 0.12 * fs, a), np.fmin(pk + 0.12 * fs, b)
    on, off = median_beat.wave_bounds(v, pk, lo, hi, fs)
    if MEDIAN_BEAT_SHIFT and v.ndim == 3 and v.shape[1] > 1:
        d_on, d_off = median_beat.p_shift(v, pk, lo, hi, fs)
        on, off = on + d_on[:, None], off + d_off[:, None]
    return {"p_on": on, "p_off": off}


def _spread(p_peak: np.ndarray, on_g: np.ndarray, usable: np.ndarray) -> tuple[float, int]:
    """Interquartile range over beats of the P-to-QRS distance (median over usable leads), and the
    number of lead-beats with a P."""
    pk = np.where(usable[:, None], p_peak, np.nan)
    found = int(np.isfinite(pk).sum())
    ok = np.isfinite(pk).any(axis=0)
    if ok.sum() < 3:
        return np.inf, found
    dist = on_g[ok] - np.nanmedian(pk[:, ok], axis=0)
    q75, q25 = np.percentile(dist, [75, 25])
    return float(q75 - q25), found


def locate_p(ys: np.ndarray, ds: np.ndarray, usable: np.ndarray, t_amp: np.ndarray, on_g: np.ndarray,
             lo: np.ndarray, hi: np.ndarray, fs: float) -> dict:
    """P on/peak/off/amplitude (L, B) by the more consistent of the two readings (module docstring)."""
    window = p_in_window(ys, lo, hi, fs)
    chosen = window
    if usable.any():
        centre = p_centre(ys, ds, usable, t_amp, lo, on_g - P_BEFORE_QRS_S * fs, fs)
        near = p_near(ys, centre, lo, hi, fs)
        (s_w, n_w), (s_n, n_n) = _spread(window["p_peak"], on_g, usable), _spread(near["p_peak"], on_g, usable)
        chosen = near if s_n <= s_w + SPREAD_MARGIN_S * fs and n_n >= FOUND_SHARE * n_w else window
    dev, a, b = chosen.pop("_bounds")  # on/off only for the reading kept
    return {**chosen, **_on_off(dev, chosen["p_peak"], chosen["p_amp"], a, b, fs)}
