"""Ectopic beats: each beat labelled 'N' (dominant), 'V' (ventricular, PVC) or 'S' (supraventricular, PAC).

A beat is compared with the record's dominant beat (the median QRS over all beats, all usable leads)
and with the local rhythm (the running median RR around it):

- 'V': its QRS differs from the dominant one (correlation < V_CORR, or a shape change of at least
  V_AMP_CHANGE of the template's size) and it is premature or at least V_WIDER_S wider;
- 'S': premature (RR before it < PREMATURE_SHARE of the local RR) with a dominant-like QRS, in a
  record with atrial activity (P waves present); in AF every beat is "premature" and none is an S;
- 'N': everything else. Dominant values (rate, medians) come from the 'N' beats only.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

PREMATURE_SHARE = 0.85
V_CORR = 0.80
V_AMP_CHANGE = 0.6
V_WIDER_S = 0.030
QRS_PRE_S, QRS_POST_S = 0.06, 0.10  # morphology window around the beat fiducial
LOCAL_RR_BEATS = 9  # running median of this many RR intervals is the local rhythm


def local_rr(beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B,) RR before each beat (NaN for the first) and the running median RR around it."""
    rr = np.insert(np.diff(beats).astype(float), 0, np.nan)
    if beats.size < 3:
        return rr, np.full(beats.shape, np.nanmedian(rr) if beats.size > 1 else np.nan)
    body = rr[1:]
    med = ndimage.median_filter(body, size=min(LOCAL_RR_BEATS, body.size), mode="nearest")
    return rr, np.insert(med, 0, med[0])


def _qrs_matrix(x: np.ndarray, beats: np.ndarray, usable: np.ndarray, fs: float) -> np.ndarray:
    """(B, L_usable * W) QRS windows of the usable leads, each beat's own baseline removed per lead."""
    pre, post = int(QRS_PRE_S * fs), int(QRS_POST_S * fs)
    pad = np.pad(x[usable], ((0, 0), (pre, post)), mode="edge")
    idx = beats[:, None] + np.arange(-pre, post + 1)[None, :] + pre
    seg = pad[:, idx]  # (L, B, W)
    seg = seg - np.median(seg, axis=-1, keepdims=True)
    return np.transpose(seg, (1, 0, 2)).reshape(beats.size, -1)


def morphology(x: np.ndarray, beats: np.ndarray, usable: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(B,) correlation of each beat's QRS with the median QRS, and the relative size of the difference."""
    m = _qrs_matrix(x, beats, usable, fs)
    tmpl = np.median(m, axis=0)
    mc, tc = m - m.mean(axis=1, keepdims=True), tmpl - tmpl.mean()
    denom = np.linalg.norm(mc, axis=1) * np.linalg.norm(tc)
    corr = np.where(denom > 0, mc @ tc / np.where(denom > 0, denom, 1.0), 0.0)
    change = np.linalg.norm(m - tmpl[None, :], axis=1) / max(float(np.linalg.norm(tmpl)), 1e-9)
    return corr, change


def classify(x: np.ndarray, beats: np.ndarray, usable: np.ndarray, qrs_s: np.ndarray, fs: float,
             atrial_activity: bool) -> np.ndarray:
    """(B,) beat classes 'N' / 'V' / 'S' (see the module docstring). qrs_s: global QRS width per beat (s)."""
    out = np.full(beats.size, "N", dtype="<U1")
    if beats.size < 3 or not usable.any():
        return out
    rr, ref = local_rr(beats)
    premature = np.isfinite(rr) & (rr < PREMATURE_SHARE * ref)
    corr, change = morphology(x, beats, usable, fs)
    width = np.nan_to_num(qrs_s, nan=np.nanmedian(qrs_s) if np.isfinite(qrs_s).any() else 0.0)
    wider = width - np.median(width) >= V_WIDER_S
    different = (corr < V_CORR) | (change >= V_AMP_CHANGE)
    ventricular = different & (premature | wider)
    out[ventricular] = "V"
    if atrial_activity:
        out[premature & ~ventricular] = "S"
    if (out != "N").mean() > 0.5:  # a majority is the dominant rhythm by definition
        out[:] = "N"
    return out


def dominant_rr(beats: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """RR intervals (samples) between consecutive dominant beats: neither end ectopic, none in between."""
    if beats.size < 2:
        return np.zeros(0)
    rr = np.diff(beats).astype(float)
    both = (classes[:-1] == "N") & (classes[1:] == "N")
    return rr[both]
