"""Beat delineation, vectorized over leads and beats: QRS, P and T fiducials and wave amplitudes.

Every array here has shape (n_leads, n_beats) or (n_beats,); NaN marks "absent or not
measurable". Times are fractional sample indices into the record; amplitudes are mV from the
beat's isoelectric level (the flattest 20 ms of the PR segment).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

PRE_S, POST_S = 0.45, 0.65  # beat window around the fused fiducial
QRS_SEARCH_S = 0.20  # QRS onset/offset at most this far from the fiducial
SV_FRACTION = 0.06  # global QRS boundary: spatial velocity below this share of its peak
SUSTAIN_S = 0.010  # ... for at least this long
LEAD_SLOPE_FRACTION = 0.12  # per-lead QRS boundary: |slope| above this share of the lead's peak
MIN_WAVE_MV = 0.05  # Q, R, S, P smaller than this are absent
MIN_T_MV = 0.05  # T waves smaller than this are flat: amplitude kept, timings null
SMOOTH_S = 0.030  # P and T are found on a moving average of this width
ST_AFTER_J_S = 0.060


@dataclass
class Delineation:
    """Fiducials (samples) and amplitudes (mV) per lead and beat; global QRS bounds per beat."""

    qrs_on_g: np.ndarray
    qrs_off_g: np.ndarray
    fid: dict[str, np.ndarray] = field(default_factory=dict)  # "p_on", "r_peak", ... -> (L, B)
    amp: dict[str, np.ndarray] = field(default_factory=dict)  # "p", "q", "r", "s", "t", "st"


def _windows(x: np.ndarray, beats: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(L, B, W) beat windows padded with NaN beyond the record, their sample positions, centre index."""
    pre, post = int(PRE_S * fs), int(POST_S * fs)
    pad = np.pad(x, ((0, 0), (pre, post)), constant_values=np.nan)
    offs = np.arange(-pre, post + 1)
    pos = beats[:, None] + offs[None, :]
    return pad[:, pos + pre], pos.astype(np.float64), pre


def _first(mask: np.ndarray, default: float = np.nan) -> np.ndarray:
    """Index of the first True along the last axis (default where none)."""
    idx = np.argmax(mask, axis=-1).astype(np.float64)
    return np.where(mask.any(axis=-1), idx, default)


def _last(mask: np.ndarray, default: float = np.nan) -> np.ndarray:
    """Index of the last True along the last axis (default where none)."""
    w = mask.shape[-1]
    idx = (w - 1 - np.argmax(mask[..., ::-1], axis=-1)).astype(np.float64)
    return np.where(mask.any(axis=-1), idx, default)


def _range_mask(w: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Boolean mask over the last axis: lo <= index <= hi (lo/hi broadcast, NaN -> empty)."""
    k = np.arange(w)
    lo = np.nan_to_num(np.asarray(lo, dtype=float), nan=w + 1.0)[..., None]
    hi = np.nan_to_num(np.asarray(hi, dtype=float), nan=-1.0)[..., None]
    return (k >= lo) & (k <= hi)


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a[..., idx] per row, NaN where idx is NaN; idx has a's shape minus the last axis."""
    ok = np.isfinite(idx) & (idx >= 0) & (idx <= a.shape[-1] - 1)
    safe = np.where(ok, idx, 0).astype(np.int64)
    out = np.take_along_axis(a, safe[..., None], axis=-1)[..., 0]
    return np.where(ok, out, np.nan)


def _arg_in(values: np.ndarray, mask: np.ndarray, largest: bool = True) -> np.ndarray:
    """Argmax (or argmin) of values restricted to mask, NaN where the mask is empty or all NaN."""
    fill = -np.inf if largest else np.inf
    v = np.where(mask & np.isfinite(values), values, fill)
    idx = (np.argmax(v, axis=-1) if largest else np.argmin(v, axis=-1)).astype(np.float64)
    return np.where(np.isfinite(v).any(axis=-1), idx, np.nan)


def _smooth(a: np.ndarray, width: int) -> np.ndarray:
    filled = np.nan_to_num(a)
    return np.where(np.isnan(a), np.nan, ndimage.uniform_filter1d(filled, max(1, width), axis=-1))


def global_qrs(slope: np.ndarray, usable: np.ndarray, c: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-beat QRS onset/offset (window indices) from the spatial velocity of the usable leads."""
    sv = np.sqrt(np.nansum(slope[usable] ** 2, axis=0))  # (B, W)
    sv = ndimage.uniform_filter1d(sv, max(1, int(0.008 * fs)), axis=-1)
    w = sv.shape[-1]
    near = _range_mask(w, np.full(len(sv), c - 0.06 * fs), np.full(len(sv), c + 0.06 * fs))
    pk = _arg_in(sv, near)
    pk_val = _take(sv, pk)
    pre = _range_mask(w, np.full(len(sv), c - 0.40 * fs), np.full(len(sv), c - 0.10 * fs))
    floor = np.nanpercentile(np.where(pre, sv, np.nan), 20, axis=-1)
    thr = floor + SV_FRACTION * (pk_val - floor)
    run = max(1, int(SUSTAIN_S * fs))
    quiet = sv < thr[:, None]
    # quiet_fwd[j]: quiet on [j, j+run); quiet_bwd[j]: quiet on (j-run, j]
    quiet_fwd = ndimage.minimum_filter1d(quiet.astype(np.uint8), run, axis=-1, origin=-(run // 2)) > 0
    quiet_bwd = ndimage.minimum_filter1d(quiet.astype(np.uint8), run, axis=-1, origin=(run - 1) // 2) > 0
    on_lo, off_hi = c - QRS_SEARCH_S * fs, c + QRS_SEARCH_S * fs
    on = _last(quiet_bwd & _range_mask(w, np.full(len(sv), on_lo), pk - 1))
    off = _first(quiet_fwd & _range_mask(w, pk + 1, np.full(len(sv), off_hi)))
    return on, off


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


def _t_wave(ys: np.ndarray, ds: np.ndarray, j: np.ndarray, lo: np.ndarray, hi: np.ndarray, fs: float) -> dict:
    """T peak (largest deviation in [lo, hi]), onset and end by the tangent method; flat T -> NaN times."""
    w = ys.shape[-1]
    pk = _arg_in(np.abs(ys), _range_mask(w, lo, hi))
    amp = _take(ys, pk)
    sign = np.sign(np.nan_to_num(amp))[..., None]
    pk = np.where(np.abs(amp) >= MIN_T_MV, pk, np.nan)
    k_end = _arg_in(-sign * ds, _range_mask(w, pk, pk + 0.2 * fs))
    end = np.clip(_tangent_cross(ys, ds, k_end, fs), k_end, k_end + 0.15 * fs)
    k_on = _arg_in(sign * ds, _range_mask(w, j, pk))
    on = np.clip(_tangent_cross(ys, ds, k_on, fs), j, k_on)
    return {"t_on": on, "t_peak": pk, "t_off": np.where(end < w, end, np.nan), "t_amp": amp}


def _p_wave(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray, fs: float) -> dict:
    """P peak (largest deviation in [lo, hi], interior only); on/off where it falls to 25% above its base."""
    w = ys.shape[-1]
    pk = _arg_in(np.abs(ys), _range_mask(w, lo, hi))
    amp = _take(ys, pk)
    interior = (pk > lo + 0.01 * fs) & (pk < hi - 0.01 * fs)
    present = interior & (np.abs(amp) >= MIN_WAVE_MV)
    pk, amp = np.where(present, pk, np.nan), np.where(present, amp, np.nan)
    v = np.sign(np.nan_to_num(amp))[..., None] * ys  # the P wave made positive
    before = _range_mask(w, pk - 0.12 * fs, pk - 1)
    after = _range_mask(w, pk + 1, np.minimum(pk + 0.12 * fs, hi + 0.03 * fs))
    top = np.abs(np.nan_to_num(amp))
    base_on = np.min(np.where(before, v, top[..., None]), axis=-1)
    base_off = np.min(np.where(after, v, top[..., None]), axis=-1)
    on = _last(before & (v <= (base_on + 0.25 * (top - base_on))[..., None]))
    off = _first(after & (v <= (base_off + 0.25 * (top - base_off))[..., None]))
    return {"p_on": on, "p_peak": pk, "p_off": off, "p_amp": amp}


def delineate(x: np.ndarray, beats: np.ndarray, usable: np.ndarray, fs: float) -> Delineation:
    """Delineate every beat in every lead of a cleaned (L, N) signal; fiducials returned in record samples."""
    seg, pos, c = _windows(x, beats, fs)
    slope = np.gradient(seg, axis=-1) * fs
    on_g, off_g = global_qrs(slope, usable, c, fs)
    rr = np.diff(beats).astype(float)
    rr_next = np.append(rr, rr[-1] if rr.size else fs) if beats.size else rr
    rr_prev = np.insert(rr, 0, rr[0] if rr.size else fs) if beats.size else rr
    iso = _iso(seg, slope, on_g, fs)
    y = seg - iso[..., None]
    on_l, off_l = _lead_qrs(slope, on_g, off_g)
    fid = _qrs_waves(y, on_l, off_l)
    ys = _smooth(y, int(SMOOTH_S * fs))
    ds = np.gradient(ys, axis=-1) * fs
    t_hi = c + np.minimum(0.7 * rr_next, (POST_S - 0.15) * fs)
    t = _t_wave(ys, ds, off_l, off_g + 0.05 * fs, t_hi, fs)
    p_lo = on_g - np.minimum(0.30 * fs, 0.5 * rr_prev)
    p = _p_wave(ys, p_lo, on_g - 0.02 * fs, fs)
    fid.update(qrs_on=on_l, qrs_off=off_l, j=off_l, t_on=t["t_on"], t_peak=t["t_peak"], t_off=t["t_off"],
               p_on=p["p_on"], p_peak=p["p_peak"], p_off=p["p_off"])
    amp = {"p": p["p_amp"], "t": t["t_amp"], "st": _take(y, off_l + round(ST_AFTER_J_S * fs))}
    for wave in ("q", "r", "s"):
        amp[wave] = _take(y, fid[f"{wave}_peak"])
    shift = pos[:, 0]  # record sample of window index 0, per beat
    to_rec = {k: v + shift for k, v in fid.items()}
    return Delineation(qrs_on_g=on_g + shift, qrs_off_g=off_g + shift, fid=to_rec, amp=amp)
