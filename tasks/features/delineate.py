"""Beat delineation, vectorized over leads and beats: QRS, P and T fiducials and wave amplitudes.

Every array here has shape (n_leads, n_beats) or (n_beats,); NaN marks "absent or not
measurable". Times are fractional sample indices into the record; amplitudes are mV from the
beat's isoelectric level (the flattest 20 ms of the PR segment), P from the line joining the ends
of its search window (at fast rates it rides on the previous T's tail).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from tasks.features import global_fiducials as gf
from tasks.features import median_beat
from tasks.features.p_waves import locate_p
from tasks.features.wave_arrays import _arg_in, _first, _last, _range_mask, _smooth, _take, nan_percentile

PRE_S, POST_S = 0.45, 0.65  # beat window around the fused fiducial
QRS_SEARCH_S = 0.20  # QRS onset/offset at most this far from the fiducial
QRS_REGION_S = 0.25  # QRS measurements use the window up to this long after the fiducial (speed)
SV_FRACTION = 0.06  # global QRS boundary: spatial velocity below this share of its peak
SUSTAIN_S = 0.010  # ... for at least this long
LATE_FRACTION, LATE_S = 0.15, 0.06  # a burst this fast this soon after the QRS offset is part of it (R')
NEAR_BASE = 0.35  # ... where the signal vector is within this share of its QRS peak from the baseline
LEAD_SLOPE_FRACTION = 0.12  # per-lead QRS boundary: |slope| above this share of the lead's peak
MIN_WAVE_MV = 0.05  # Q, R, S, P smaller than this are absent
MIN_T_MV = 0.05  # T waves smaller than this are flat: amplitude kept, timings null
SMOOTH_S = 0.030  # P and T are found on a moving average of this width
ST_AFTER_J_S = 0.060
P_ZONE_S = 0.18  # the T peak is sought at least this long before the next beat (its P lives there)
T_FIRST, T_HUMP_S = 0.5, 0.02  # ... else the first hump this share of the tallest (local max +-this)
T_DIP, T_APART_S = 0.5, 0.1  # ... with the signal between them back below this share of it, this far apart
P_REACH_S = 0.30  # a P wave peaks at most this long before its beat's fiducial
T_TO_P_S = 0.04  # the P wave is sought from this long after the previous beat's T peak
T_END_SEARCH_S = 0.20  # the steepest point of T's descending limb lies within this after its peak
T_UNDER_P = 0.5  # T ends at the latest this far (share of onset -> peak) into the next P
T_END_REACH_S = 0.15  # ... and T ends at most this long after that point


@dataclass
class Delineation:
    """Fiducials (samples) and amplitudes (mV) per lead and beat; global QRS bounds per beat."""

    qrs_on_g: np.ndarray
    qrs_off_g: np.ndarray
    p_window_in: np.ndarray  # (B,) the beat's P search window lies inside the record
    t_off_g: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (B,) global T end
    p_on_g: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (B,) global P onset
    p_off_g: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (B,) global P offset
    t_far: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # (L, B) lead T end nulled
    fid: dict[str, np.ndarray] = field(default_factory=dict)  # "p_on", "r_peak", ... -> (L, B)
    amp: dict[str, np.ndarray] = field(default_factory=dict)  # "p", "q", "r", "s", "t", "st"


def _windows(x: np.ndarray, beats: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(L, B, W) beat windows padded with NaN beyond the record, their sample positions, centre index."""
    pre, post = int(PRE_S * fs), int(POST_S * fs)
    pad = np.pad(x, ((0, 0), (pre, post)), constant_values=np.nan)
    offs = np.arange(-pre, post + 1)
    pos = beats[:, None] + offs[None, :]
    return pad[:, pos + pre], pos.astype(np.float64), pre


def _spatial_magnitude(seg: np.ndarray, usable: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """(B, W) distance of the usable leads' signal vector from its mean level before the QRS."""
    inside = pre[None] & np.isfinite(seg[usable])
    base = np.sum(np.where(inside, seg[usable], 0.0), axis=-1, keepdims=True) / np.maximum(
        inside.sum(axis=-1, keepdims=True), 1)
    return np.sqrt(np.nansum((seg[usable] - base) ** 2, axis=0))


def global_qrs(slope: np.ndarray, usable: np.ndarray, c: int, fs: float,
               seg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-beat QRS onset/offset (window indices) from the spatial velocity of the usable leads.

    With `seg` (the windows themselves), a bound must also lie where the signal vector is back
    within NEAR_BASE of its QRS peak distance from the pre-QRS level: the flat top of a notched
    or slurred R (LBBB) slows every lead at once but is no J point."""
    sv = np.sqrt(np.nansum(slope[usable] ** 2, axis=0))  # (B, W)
    sv = ndimage.uniform_filter1d(sv, max(1, int(0.008 * fs)), axis=-1)
    w = sv.shape[-1]
    near = _range_mask(w, np.full(len(sv), c - 0.06 * fs), np.full(len(sv), c + 0.06 * fs))
    pk = _arg_in(sv, near)
    pk_val = _take(sv, pk)
    pre = _range_mask(w, np.full(len(sv), c - 0.40 * fs), np.full(len(sv), c - 0.10 * fs))
    floor = nan_percentile(np.where(pre, sv, np.nan), 20)
    thr = floor + SV_FRACTION * (pk_val - floor)
    run = max(1, int(SUSTAIN_S * fs))
    quiet = sv < thr[:, None]
    if seg is not None:
        mag = _spatial_magnitude(seg, usable, pre)
        qrs = _range_mask(w, np.full(len(sv), c - 0.06 * fs), np.full(len(sv), c + 0.06 * fs))
        top = np.max(np.where(qrs, np.nan_to_num(mag), 0.0), axis=-1)
        quiet &= mag < NEAR_BASE * top[:, None]
    # quiet_fwd[j]: quiet on [j, j+run); quiet_bwd[j]: quiet on (j-run, j]
    quiet_fwd = ndimage.minimum_filter1d(quiet.astype(np.uint8), run, axis=-1, origin=-(run // 2)) > 0
    quiet_bwd = ndimage.minimum_filter1d(quiet.astype(np.uint8), run, axis=-1, origin=(run - 1) // 2) > 0
    on_lo, off_hi = c - QRS_SEARCH_S * fs, c + QRS_SEARCH_S * fs
    on = _last(quiet_bwd & _range_mask(w, np.full(len(sv), on_lo), pk - 1))
    off = _first(quiet_fwd & _range_mask(w, pk + 1, np.full(len(sv), off_hi)))
    # a late component after a pause (the R' of a right bundle branch block) is still the QRS
    late = sv >= (floor + LATE_FRACTION * (pk_val - floor))[:, None]
    burst = _last(late & _range_mask(w, off + 1, np.fmin(off + LATE_S * fs, off_hi)))
    later = _first(quiet_fwd & _range_mask(w, burst + 1, np.full(len(sv), off_hi)))
    return on, np.where(np.isfinite(later), later, off)


def _iso(seg: np.ndarray, slope: np.ndarray, on: np.ndarray, fs: float) -> np.ndarray:
    """Isoelectric level per lead and beat: mean of the flattest 20 ms in the 100 ms before QRS onset."""
    width = max(1, int(0.02 * fs))
    flat = ndimage.uniform_filter1d(np.nan_to_num(np.abs(slope), nan=1e9), width, axis=-1)
    level = ndimage.uniform_filter1d(np.nan_to_num(seg), width, axis=-1)
    mask = _range_mask(seg.shape[-1], on - 0.10 * fs + width / 2, on - 0.01 * fs - width / 2)
    mask = np.broadcast_to(mask, seg.shape)
    at = _arg_in(-flat, mask)
    iso = _take(level, at)
    return np.where(np.isfinite(_take(seg, at)), iso, np.nan)


def _lead_qrs(slope: np.ndarray, on_g: np.ndarray, off_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-lead QRS bounds inside the global ones: where the lead's |slope| passes a share of its peak."""
    a = np.abs(slope)
    inside = np.broadcast_to(_range_mask(a.shape[-1], on_g, off_g), a.shape)
    peak = np.max(np.where(inside, np.nan_to_num(a), 0.0), axis=-1, keepdims=True)
    steep = inside & (a >= LEAD_SLOPE_FRACTION * peak) & (peak > 0)
    return _first(steep), _last(steep)


def _qrs_waves(y: np.ndarray, on: np.ndarray, off: np.ndarray) -> dict[str, np.ndarray]:
    """Q, R and S peak positions (NaN where absent) inside each lead's QRS."""
    w = y.shape[-1]
    qrs = _range_mask(w, on, off)
    r = _arg_in(y, qrs)
    r = np.where(_take(y, r) >= MIN_WAVE_MV, r, np.nan)
    has_r = np.isfinite(r)
    q_hi = np.where(has_r, r - 1, off)
    q = _arg_in(y, _range_mask(w, on, q_hi), largest=False)
    s = _arg_in(y, _range_mask(w, np.where(has_r, r + 1, np.nan), off), largest=False)
    q = np.where(_take(y, q) <= -MIN_WAVE_MV, q, np.nan)
    s = np.where(_take(y, s) <= -MIN_WAVE_MV, s, np.nan)
    return {"q_peak": q, "r_peak": r, "s_peak": s}


def _tangent_cross(ys: np.ndarray, ds: np.ndarray, k: np.ndarray, fs: float) -> np.ndarray:
    """Where the tangent at k meets the isoelectric line (window index), NaN on a flat tangent."""
    yk, sk = _take(ys, k), _take(ds, k)
    ok = np.abs(sk) > 1e-6
    return np.where(ok, k - yk / np.where(ok, sk, 1.0) * fs, np.nan)


def _t_peak(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray, p_zone: np.ndarray,
            fs: float) -> tuple[np.ndarray, np.ndarray]:
    """T peak (NaN when flat) and its signed amplitude: the largest deviation in [lo, hi]; but when that
    lies where the next beat's P can be (from `p_zone` on), the first hump before it (a local maximum
    within +-T_HUMP_S) at least T_FIRST as tall and apart from it (a dip to T_DIP, T_APART_S away). At fast rates the next P can stand taller than the T
    in the same window; T comes first."""
    a = np.abs(ys)
    inside = _range_mask(ys.shape[-1], lo, hi)
    pk = _arg_in(a, inside)
    top = np.nan_to_num(_take(a, pk))
    width = 2 * int(T_HUMP_S * fs) + 1
    hump = a >= ndimage.maximum_filter1d(np.nan_to_num(a), width, axis=-1)
    early = _first(_range_mask(ys.shape[-1], lo, np.fmin(pk, p_zone) - 1) & hump & (a >= (T_FIRST * top)[..., None]))
    between = _range_mask(ys.shape[-1], early, pk)
    dip = np.min(np.where(between, np.nan_to_num(a, nan=np.inf), np.inf), axis=-1)
    apart = dip <= T_DIP * np.nan_to_num(_take(a, early))  # two waves, not a T with a shoulder ...
    apart &= pk - early >= T_APART_S * fs  # ... nor the halves of a biphasic T
    pk = np.where((pk >= p_zone) & np.isfinite(early) & apart, early, pk)
    amp = _take(ys, pk)
    return np.where(np.abs(amp) >= MIN_T_MV, pk, np.nan), amp


def _t_bounds(ys: np.ndarray, ds: np.ndarray, j: np.ndarray, pk: np.ndarray, amp: np.ndarray,
              limit: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """T onset and end by the tangent method: the tangent at the steepest point of each limb meets the
    isoelectric line. The descending limb is searched, and the end kept, before `limit` (next P/QRS)."""
    w = ys.shape[-1]
    sign = np.sign(np.nan_to_num(amp))[..., None]
    limit = np.fmin(limit, pk + T_END_SEARCH_S * fs + T_END_REACH_S * fs)
    k_end = _arg_in(-sign * ds, _range_mask(w, pk, np.fmin(pk + T_END_SEARCH_S * fs, limit)))
    end = np.clip(_tangent_cross(ys, ds, k_end, fs), k_end, np.fmax(k_end, limit))
    if ys.shape[1] > 1:  # the median beat's notion of where T is back at the baseline
        shift = median_beat.t_end_shift(ys, sign[..., 0], pk, k_end, end, limit, fs)
        end = np.clip(end + shift[:, None], k_end, np.fmax(k_end, limit))
    k_on = _arg_in(sign * ds, _range_mask(w, j, pk))
    on = np.clip(_tangent_cross(ys, ds, k_on, fs), j, k_on)
    inside = np.isfinite(_take(ys, np.floor(end)))  # not past the record's (NaN-padded) end
    return on, np.where(inside, end, np.nan)


def _column_median(a: np.ndarray) -> np.ndarray:
    """Median over the first axis ignoring NaN; NaN for all-NaN columns (without a warning)."""
    ok = np.isfinite(a).any(axis=0)
    out = np.full(a.shape[1:], np.nan)
    if ok.any():
        out[ok] = np.nanmedian(a[:, ok], axis=0)
    return out


def _to_neighbour(a: np.ndarray, rr: np.ndarray, step: int) -> np.ndarray:
    """Window index of beat b+step's value a (window indices, beats on the last axis) in beat b's window.

    rr: samples from beat b to beat b+step (signed). NaN where that beat does not exist.
    """
    out = np.full(a.shape, np.nan)
    if a.shape[-1] > 1:
        if step > 0:
            out[..., :-1] = a[..., 1:]
        else:
            out[..., 1:] = a[..., :-1]
    return out + rr


def _t_and_p(ys: np.ndarray, ds: np.ndarray, on_g: np.ndarray, off_g: np.ndarray, off_l: np.ndarray,
             usable: np.ndarray, beats: np.ndarray, c: int, fs: float) -> tuple[dict, dict]:
    """T and P waves of every beat, each bounded by the other: T peak before the next beat's P zone,
    P after the previous beat's T peak (where T and P merge at fast rates), T end before the next P/QRS."""
    rr = np.diff(beats).astype(float)
    rr_next = np.append(rr, rr[-1] if rr.size else fs)
    rr_prev = np.insert(rr, 0, rr[0] if rr.size else fs)
    t_hi = c + np.minimum(np.minimum(0.7 * rr_next, rr_next - P_ZONE_S * fs), (POST_S - 0.15) * fs)
    t_pk, t_amp = _t_peak(ys, off_g + 0.05 * fs, t_hi, c + rr_next - P_REACH_S * fs, fs)
    t_global = _column_median(np.where(usable[:, None], t_pk, np.nan))
    prev_t = _to_neighbour(t_global, -rr_prev, -1)
    p_lo = np.fmax(on_g - np.minimum(0.30 * fs, 0.6 * rr_prev), prev_t + T_TO_P_S * fs)
    p_hi = on_g - 0.02 * fs
    cut = int(np.nanmax(on_g, initial=c)) + int(0.1 * fs) + 1  # P lives before the QRS: skip the rest
    p = locate_p(ys[..., :cut], ds[..., :cut], usable, t_amp, on_g, p_lo, p_hi, fs)
    next_qrs = _to_neighbour(on_g, rr_next, 1)
    next_p = _to_neighbour(p["p_on"] + T_UNDER_P * (p["p_peak"] - p["p_on"]), rr_next, 1)
    limit = np.fmin(next_p, next_qrs - 0.02 * fs)  # at fast rates T may end under the next P's upstroke
    t_on, t_off = _t_bounds(ys, ds, off_l, t_pk, t_amp, limit, fs)
    p["window_lo"] = p_lo
    return {"t_on": t_on, "t_peak": t_pk, "t_off": t_off, "t_amp": t_amp}, p


def delineate(x: np.ndarray, beats: np.ndarray, usable: np.ndarray, fs: float) -> Delineation:
    """Delineate every beat in every lead of a cleaned (L, N) signal; fiducials returned in record samples."""
    seg, pos, c = _windows(x, beats, fs)
    q_end = c + int(QRS_REGION_S * fs) + 1  # everything about the QRS lies before this window index
    slope = np.gradient(seg[..., :q_end], axis=-1) * fs
    on_g, off_g = global_qrs(slope, usable, c, fs, seg[..., :q_end])
    iso = _iso(seg[..., :q_end], slope, on_g, fs)
    y = seg - iso[..., None]
    on_l, off_l = gf.snap_qrs(*_lead_qrs(slope, on_g, off_g), on_g, off_g, fs)
    fid = _qrs_waves(y[..., :q_end], on_l, off_l)
    ys = _smooth(y, int(SMOOTH_S * fs))
    ds = np.gradient(ys, axis=-1) * fs
    t, p = _t_and_p(ys, ds, on_g, off_g, off_l, usable, beats, c, fs)
    p_on_g, p_off_g = gf.global_p(p["p_on"], p["p_off"], usable)
    p["p_on"], p["p_off"] = gf.snap_p(p["p_on"], p["p_off"], p_on_g, p_off_g, fs)
    t_g = gf.global_t_end(t["t_off"], t["t_amp"], usable)
    t["t_off"], t_far = gf.tie_t_end(t["t_off"], t_g, fs)
    fid.update(qrs_on=on_l, qrs_off=off_l, j=off_l, t_on=t["t_on"], t_peak=t["t_peak"], t_off=t["t_off"],
               p_on=p["p_on"], p_peak=p["p_peak"], p_off=p["p_off"])
    amp = {"p": p["p_amp"], "t": t["t_amp"], "st": _take(y, off_l + round(ST_AFTER_J_S * fs))}
    for wave in ("q", "r", "s"):
        amp[wave] = _take(y, fid[f"{wave}_peak"])
    shift = pos[:, 0]  # record sample of window index 0, per beat
    to_rec = {k: v + shift for k, v in fid.items()}
    return Delineation(qrs_on_g=on_g + shift, qrs_off_g=off_g + shift, p_window_in=p["window_lo"] + shift >= 0,
                       t_off_g=t_g + shift, p_on_g=p_on_g + shift, p_off_g=p_off_g + shift, t_far=t_far,
                       fid=to_rec, amp=amp)
