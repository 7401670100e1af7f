"""What the 12 leads share: global QRS and T-end fiducials per beat, and each lead's values tied to them.

One heart gives one QRS onset and offset and one end of repolarisation; leads only differ by how much of
each they show (a lead perpendicular to the initial or terminal QRS forces looks isoelectric there). So:

- a lead's QRS bounds lie within QRS_DISPERSION_S of the global (spatial-velocity) bounds; a lead
  whose own slope threshold fires later (earlier) is snapped to that band: its isoelectric initial
  or terminal part still belongs to its QRS;
- the global P onset (offset) of a beat is the lower (upper) quartile of the onsets (offsets) of the
  leads that show P consistently;
- the global T end of a beat is the upper quartile of the T ends of the leads with a clear T wave;
  a lead's T end further than T_DISPERSION_S from it is not that lead's T end (a flat or notched
  T's tangent, a U wave, the next P) and is nulled, with the count reported as a lead issue.
"""
from __future__ import annotations

import numpy as np

from tasks.features.wave_arrays import nan_percentile

QRS_DISPERSION_S = 0.010  # lead QRS onset/offset at most this far inside the global bounds
P_DISPERSION_S = 0.010  # lead P onset (offset) at most this far before (after) the beat's global one
T_DISPERSION_S = 0.040  # lead T end at most this far from the beat's global T end
CLEAR_T_MV = 0.10  # leads whose T is at least this tall ...
CLEAR_T_SHARE = 0.25  # ... and this share of the beat's tallest T define the global T end
GLOBAL_PERCENTILE = 75


def snap_qrs(on_l: np.ndarray, off_l: np.ndarray, on_g: np.ndarray, off_g: np.ndarray,
             fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(L, B) lead QRS bounds clipped into [on_g, on_g + d] and [off_g - d, off_g] (d = dispersion)."""
    d = QRS_DISPERSION_S * fs
    on = np.clip(on_l, on_g[None, :], (on_g + d)[None, :])
    off = np.clip(off_l, (off_g - d)[None, :], off_g[None, :])
    return np.where(np.isfinite(on_l), on, on_g[None, :]), np.where(np.isfinite(off_l), off, off_g[None, :])


def clear_t(t_amp: np.ndarray) -> np.ndarray:
    """(L, B) mask of leads whose T wave is clear in that beat (tall, and a good share of the tallest)."""
    a = np.abs(np.nan_to_num(t_amp))
    top = np.max(a, axis=0, initial=0.0)
    return a >= np.maximum(CLEAR_T_MV, CLEAR_T_SHARE * top)


def upper_quartile(a: np.ndarray, min_leads: int = 2) -> np.ndarray:
    """(B,) upper quartile across leads, NaN with fewer than min_leads finite values."""
    ok = np.isfinite(a).sum(axis=0) >= min_leads
    out = np.full(a.shape[1], np.nan)
    if ok.any():
        out[ok] = nan_percentile(a[:, ok], GLOBAL_PERCENTILE, axis=0)
    return out


def global_t_end(t_off: np.ndarray, t_amp: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(B,) the beat's T end: upper quartile of the usable leads' T ends where T is clear."""
    return upper_quartile(np.where(clear_t(t_amp) & usable[:, None], t_off, np.nan))


def global_p(p_on: np.ndarray, p_off: np.ndarray, leads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B,) the beat's P onset and offset from the leads that show P consistently (`leads`, (L,)): the
    lower quartile of their onsets and the upper quartile of their offsets (the earliest start and the
    latest end, CSE style, without letting one lead's misreading decide); NaN with fewer than 2 leads."""
    on = np.where(leads[:, None], p_on, np.nan)
    off = np.where(leads[:, None], p_off, np.nan)
    return -upper_quartile(-on), upper_quartile(off)


def snap_p(p_on: np.ndarray, p_off: np.ndarray, on_g: np.ndarray, off_g: np.ndarray,
           fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(L, B) lead P bounds kept within P_DISPERSION_S outside the global ones: no lead's P starts much
    before the beat's P onset or ends much after its offset (such a reading took in part of a T or
    of the PR segment's noise)."""
    d = P_DISPERSION_S * fs
    on = np.where(np.isfinite(on_g)[None, :], np.fmax(p_on, (on_g - d)[None, :]), p_on)
    off = np.where(np.isfinite(off_g)[None, :], np.fmin(p_off, (off_g + d)[None, :]), p_off)
    return np.where(np.isfinite(p_on), on, np.nan), np.where(np.isfinite(p_off), off, np.nan)


def tie_t_end(t_off: np.ndarray, t_g: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(L, B) lead T ends with those further than T_DISPERSION_S from the global one nulled; and that mask."""
    far = np.isfinite(t_off) & np.isfinite(t_g)[None, :] & (np.abs(t_off - t_g[None, :]) > T_DISPERSION_S * fs)
    return np.where(far, np.nan, t_off), far
