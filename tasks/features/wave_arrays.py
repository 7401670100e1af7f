"""Vectorised helpers over beat windows: masks, first/last index, masked argmax, gather, smoothing.

Arrays have beats (and leads) on the leading axes and window samples on the last; NaN = none.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


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
    valid = mask & np.isfinite(values)
    v = np.where(valid, values, fill)
    idx = (np.argmax(v, axis=-1) if largest else np.argmin(v, axis=-1)).astype(np.float64)
    return np.where(valid.any(axis=-1), idx, np.nan)


def _smooth(a: np.ndarray, width: int) -> np.ndarray:
    filled = np.nan_to_num(a)
    return np.where(np.isnan(a), np.nan, ndimage.uniform_filter1d(filled, max(1, width), axis=-1))


def nan_percentile(a: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """np.nanpercentile(a, q, axis) (linear interpolation) without its per-row Python loop; NaN where a
    row has no finite value. One sort of the whole array instead of one call per row."""
    s = np.sort(np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1), axis=-1)  # NaN sorts last
    n = np.isfinite(s).sum(axis=-1)
    pos = (q / 100.0) * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    v_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    v_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    frac = pos - lo
    out = v_lo + (v_hi - v_lo) * frac
    out = np.where(frac >= 0.5, v_hi - (v_hi - v_lo) * (1 - frac), out)  # numpy's lerp, for equal results
    return np.where(n > 0, out, np.nan)


def nan_median(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """np.nanmedian(a, axis) with one sort (equal results: the mean of the two middle values); NaN
    where a row has no finite value, without a warning."""
    s = np.sort(np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1), axis=-1)  # NaN sorts last
    if s.shape[-1] == 0:
        return np.full(s.shape[:-1], np.nan)
    n = np.isfinite(s).sum(axis=-1)
    lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(s, np.minimum(n // 2, s.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    return np.where(n > 0, (lo + hi) / 2, np.nan)
