"""Wave bounds read on each lead's median beat, where noise is low, and carried over to its beats.

A beat's P and T bounds need a rule that noise cannot move much: P's on/off are where the wave falls to
BEAT_FRACTION of its height, T's end is where the tangent at its steepest descent meets the baseline.
Both sit inside the wave, not where it leaves the baseline. On the median of the lead's beats (noise
down by about the square root of the number of beats) the point where the wave is back within
MEDIAN_FRACTION of its height can be read reliably; the distance between the two readings on the
median beat is added to every beat's own reading, so the beat keeps its own timing and gains the
median beat's notion of where the wave begins and ends. A lead whose median beat has no clean
reading (too few beats with the wave, no crossing inside the search range) gets no shift.
"""
from __future__ import annotations

import numpy as np

from tasks.features.wave_arrays import _arg_in, _first, _last, _range_mask, _take, nan_median

BEAT_FRACTION = 0.25  # per beat: a P wave's on/off where it falls to this share of its height
MEDIAN_FRACTION = 0.10  # on the median beat: where the wave is back within this share of its height
HUMP, HUMP_S = 0.5, 0.06  # a rise to this share of the height within this of the peak is the same wave
MIN_SHARE = 0.5  # a lead needs the wave in at least this share of its beats
LOBE, LOBE_S = 0.3, 0.07  # an opposite lobe this deep within this of the peak belongs to the P (biphasic)
SYMMETRY = 1.5  # neither limb of a P is longer than this times the other
MAX_SHIFT_S = 0.04  # a larger difference is not a bias of the rule but a different wave: no shift


def _template(a: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, W) median over the beats (axis 1) where the wave was found, and (L,) whether it is usable."""
    ok = found.mean(axis=-1) >= MIN_SHARE
    return nan_median(np.where(found[..., None], a, np.nan), axis=1), ok


def _bounded(shift: np.ndarray, fs: float, extra: np.ndarray | float = 0.0) -> np.ndarray:
    return np.where(np.isfinite(shift) & (np.abs(shift) <= MAX_SHIFT_S * fs + extra), shift, 0.0)


def _crossings(v: np.ndarray, pk: np.ndarray, lo: np.ndarray, hi: np.ndarray, frac: float,
               fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Last index in [lo, pk) and first in (pk, hi] where a positive wave v (peak pk) is within `frac`
    of its height above its base on that side, outside any hump of at least HUMP of its height within
    HUMP_S of the peak (the other half of a bifid P); those bases; and where the outer humps reach HUMP."""
    w = v.shape[-1]
    top = _take(v, pk)
    before, after = _range_mask(w, lo, pk - 1), _range_mask(w, pk + 1, hi)
    fill = np.nan_to_num(top)[..., None]
    base_on = np.min(np.where(before, v, fill), axis=-1)
    base_off = np.min(np.where(after, v, fill), axis=-1)
    # a second hump of the same wave (bifid P) within HUMP_S of the peak belongs to it
    reach = HUMP_S * fs
    first_hi = _first(before & _range_mask(w, pk - reach, pk) & (v >= (base_on + HUMP * (top - base_on))[..., None]))
    last_hi = _last(after & _range_mask(w, pk, pk + reach) & (v >= (base_off + HUMP * (top - base_off))[..., None]))
    inner_on, inner_off = np.fmin(pk, first_hi), np.fmax(pk, last_hi)
    before = before & _range_mask(w, lo, inner_on - 1)
    after = after & _range_mask(w, inner_off + 1, hi)
    on = _last(before & (v <= (base_on + frac * (top - base_on))[..., None]))
    off = _first(after & (v <= (base_off + frac * (top - base_off))[..., None]))
    return on, off, base_on, base_off, inner_on, inner_off


def wave_bounds(v: np.ndarray, pk: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                fs: float) -> tuple[np.ndarray, np.ndarray]:
    """A beat's wave onset/offset: where it falls to BEAT_FRACTION of its height, but no further out
    than where the tangent at its steepest rise (fall) meets its base. The tangent keeps a wave that
    sits on the previous wave's tail (v never back near its base) from starting at the window edge."""
    on, off, base_on, base_off, in_on, in_off = _crossings(v, pk, lo, hi, BEAT_FRACTION, fs)
    w = v.shape[-1]
    dv = np.gradient(np.nan_to_num(v), axis=-1)
    step = 0.01 * fs  # the steepest point of the outer limb lies a little inside its half-height point
    k_on = _arg_in(dv, _range_mask(w, on, np.fmin(in_on + step, pk - 1)))
    k_off = _arg_in(-dv, _range_mask(w, np.fmax(in_off - step, pk + 1), off))
    s_on, s_off = _take(dv, k_on), _take(dv, k_off)
    t_on = np.where(s_on > 0, k_on - (_take(v, k_on) - base_on) / np.where(s_on > 0, s_on, 1.0), np.nan)
    t_off = np.where(s_off < 0, k_off - (_take(v, k_off) - base_off) / np.where(s_off < 0, s_off, -1.0), np.nan)
    return _symmetric(np.fmax(on, np.fmin(t_on, k_on)), np.fmin(off, np.fmax(t_off, k_off)), in_on, in_off)


def _symmetric(on: np.ndarray, off: np.ndarray, in_on: np.ndarray, in_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """On/off with neither limb more than SYMMETRY times as long as the other (a P wave is about as
    long rising as falling): the limb that rides on the previous T's downslope has no baseline to
    return to, while the other ends on the flat PR segment (and the reverse at the QRS)."""
    up, down = in_on - on, off - in_off
    on2 = np.where(np.isfinite(down), np.fmax(on, in_on - SYMMETRY * np.fmax(down, 1.0)), on)
    off2 = np.where(np.isfinite(up), np.fmin(off, in_off + SYMMETRY * np.fmax(up, 1.0)), off)
    return on2, off2


def _lobe(v: np.ndarray, pk: np.ndarray, lo: np.ndarray, hi: np.ndarray, before: bool, fs: float) -> np.ndarray:
    """Trough of an opposite lobe (biphasic P) next to the peak, within LOBE_S on one side, at least
    LOBE of the peak's height below zero (v is the deviation from the chord, made positive at the peak);
    NaN where there is none."""
    w = v.shape[-1]
    top = _take(v, pk)
    side = _range_mask(w, np.fmax(pk - LOBE_S * fs, lo), pk - 1) if before else \
        _range_mask(w, pk + 1, np.fmin(pk + LOBE_S * fs, hi))
    tr = _arg_in(-v, side)
    return np.where(_take(v, tr) <= -LOBE * top, tr, np.nan)


def _lobe_bounds(v: np.ndarray, in_on: np.ndarray, in_off: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 on: np.ndarray, off: np.ndarray, fs: float) -> tuple[np.ndarray, ...]:
    """On/off moved out over an opposite lobe (_lobe) next to the wave: to where that lobe is back within
    MEDIAN_FRACTION of its depth; and the lobes' troughs (NaN = none)."""
    w = v.shape[-1]
    tr_on, tr_off = _lobe(v, in_on, lo, hi, True, fs), _lobe(v, in_off, lo, hi, False, fs)
    d_on, d_off = -_take(v, tr_on), -_take(v, tr_off)
    on2 = _last(_range_mask(w, lo, tr_on - 1) & (-v <= (MEDIAN_FRACTION * d_on)[..., None]))
    off2 = _first(_range_mask(w, tr_off + 1, hi) & (-v <= (MEDIAN_FRACTION * d_off)[..., None]))
    return np.where(np.isfinite(on2), on2, on), np.where(np.isfinite(off2), off2, off), tr_on, tr_off


def p_shift(v: np.ndarray, pk: np.ndarray, lo: np.ndarray, hi: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(L,) shifts of P onset and offset from the lead's median beat: its MEDIAN_FRACTION crossings minus
    the beat rule (wave_bounds) read on the same median beat.

    v: (L, B, W) each beat's P deviation made positive; pk: (L, B) P peaks (NaN = none); lo/hi: (L, B)
    the search range of the beat's on/off."""
    found = np.isfinite(pk)
    tmpl, ok = _template(v, found)
    tmpl = np.nan_to_num(tmpl)
    pk_t = np.round(nan_median(np.where(found, pk, np.nan)))
    lo_t, hi_t = nan_median(np.where(found, lo, np.nan)), nan_median(np.where(found, hi, np.nan))
    on_m, off_m, *_, in_on, in_off = _crossings(tmpl, pk_t, lo_t, hi_t, MEDIAN_FRACTION, fs)
    on_m, off_m = _symmetric(on_m, off_m, in_on, in_off)
    on_m, off_m, _, tr_off = _lobe_bounds(tmpl, in_on, in_off, lo_t, hi_t, on_m, off_m, fs)
    on_b, off_b = wave_bounds(tmpl, pk_t, lo_t, hi_t, fs)
    # a terminal lobe is part of the wave: the offset may move MAX_SHIFT_S beyond its trough (not the
    # onset: before the P, an "opposite lobe" is as likely the previous T's tail)
    extra_off = np.nan_to_num(np.fmax(tr_off - off_b, 0))
    return (np.where(ok, _bounded(on_m - on_b, fs), 0.0),
            np.where(ok, _bounded(off_m - off_b, fs, extra_off), 0.0))


def t_end_shift(ys: np.ndarray, sign: np.ndarray, pk: np.ndarray, k_end: np.ndarray, end: np.ndarray,
                limit: np.ndarray, fs: float) -> np.ndarray:
    """(L,) shift of the T end: on the median beat, where T is back within MEDIAN_FRACTION of its height
    after the steepest point of its descent, minus the median of the beats' own (tangent) ends.

    ys: (L, B, W) smoothed signal; sign: (L, B) T polarity; pk, k_end, end, limit: (L, B) T peak,
    steepest descent, tangent end and the latest allowed end (window indices)."""
    found = np.isfinite(end) & np.isfinite(pk)
    if not found.any():
        return np.zeros(ys.shape[0])
    s0 = int(np.nanmin(np.where(found, pk, np.nan)))  # the median beat from the earliest T peak on
    tmpl, ok = _template(ys[..., s0:] * sign[..., None], found)
    w = tmpl.shape[-1]
    pk_t = np.round(nan_median(np.where(found, pk, np.nan))) - s0
    k_t = nan_median(np.where(found, k_end, np.nan)) - s0
    end_t = nan_median(np.where(found, end, np.nan)) - s0
    lim_t = nan_median(np.where(found, limit, np.nan)) - s0
    top = np.take_along_axis(np.nan_to_num(tmpl), np.nan_to_num(pk_t, nan=0).astype(int)[:, None], axis=-1)[:, 0]
    back = _first(_range_mask(w, k_t, lim_t) & (np.nan_to_num(tmpl, nan=np.inf) <= MEDIAN_FRACTION * top[:, None]))
    return np.where(ok & (top > 0), _bounded(back - end_t, fs), 0.0)
