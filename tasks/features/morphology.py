"""Second opinion on the selected beats by QRS shape: a complex that repeats a beat class of the record is a beat.

The rhythm-aware selection (selection.py) learns its rhythm from a first pass. Where that pass
is misled (trigeminy whose sinus beats are a quarter the height of the PVCs, so the typical RR
is the PVC-to-sinus interval), a real beat falls outside the intervals the rhythm allows and is
left out though it looks exactly like its neighbours. Morphology does not depend on the rhythm:
each left-out candidate is compared with the chosen beats on a band-passed signal within
+-SHAPE_HALF_S (3-40 Hz for one lead; the QRS band of all fused leads, joined). One that matches
at least MIN_CLASS of them in shape (correlation >= MATCH, over shifts of up to SHAPE_LAG_S) and
in size (RMS within SIZE_RANGE of theirs), is steep, and lies beyond the T wave of the beat
before it and the refractory period of the beat after it, is added. T waves, P waves and noise
are broad or random in shape and do not repeat a QRS class; artefacts rarely repeat one at a
beat's size.

Where such a candidate is crowded out by chosen beats (it lies within the T wave or the refractory
period of one), it replaces them only if each of them is lone: a shape that matches fewer than
MIN_CLASS other chosen beats (an artefact taller than the beats, taken instead of the beat 100-200
ms from it). A chosen beat is dropped for nothing else: PVCs, aberrant and fusion beats keep their
place whatever their shape (a PVC's compensatory pause leaves no sinus beat within its reach).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SHAPE_HALF_S = 0.05  # half-width of the window a complex's shape is taken from: a normal QRS, not a complex 100 ms away
SHAPE_LAG_S = 0.01  # shapes are compared over shifts of up to this (envelope peaks move a little)
MATCH = 0.9  # correlation at which two complexes have the same shape
MIN_CLASS = 2  # a candidate must match this many chosen beats
SIZE_RANGE = (0.6, 1.6)  # its RMS over the median RMS of the beats it matches
MIN_HEIGHT = 0.15  # and its envelope at least this share of the local QRS level
STEEP_RATIO = 0.5  # and its 15-45 Hz steepness this share of theirs (a T wave is not steep)
AFTER_S = 0.36  # no closer to the beat before it than this (its T wave) ...
BEFORE_S = 0.25  # ... nor to the beat after it than this (refractory)


def _windows(shape: np.ndarray, idx: np.ndarray, half: int, lag: int) -> np.ndarray:
    """(n, leads, 2 * (half + lag) + 1) windows of the (leads, samples) signal around each index."""
    pos = np.clip(idx[:, None] + np.arange(-half - lag, half + lag + 1)[None, :], 0, shape.shape[-1] - 1)
    return np.transpose(shape[:, pos], (1, 0, 2))


def _unit(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows (..., leads, width) centred per lead, flattened over leads and scaled to unit norm;
    and their RMS."""
    w = w - w.mean(axis=-1, keepdims=True)
    flat = w.reshape(*w.shape[:-2], -1)
    norm = np.linalg.norm(flat, axis=-1)
    return flat / np.maximum(norm, 1e-12)[..., None], norm / np.sqrt(max(flat.shape[-1], 1))


def shape_match(shape: np.ndarray, beats: np.ndarray, others: np.ndarray, fs: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `others`: its best correlation (over shifts) with each beat, (n_others, n_beats);
    and the RMS of each beat's and each other's (unshifted) window."""
    half, lag = max(1, int(SHAPE_HALF_S * fs)), max(0, int(SHAPE_LAG_S * fs))
    ref, ref_rms = _unit(_windows(shape, beats, half, 0))
    shifted = sliding_window_view(_windows(shape, others, half, lag), 2 * half + 1, axis=-1)
    unit, rms = _unit(np.swapaxes(shifted, 1, 2))  # (n_others, shifts, leads * width)
    return (unit @ ref.T).max(axis=1), ref_rms, rms[:, lag]


def complete_by_shape(beats: np.ndarray, cand: np.ndarray, height: np.ndarray, slope: np.ndarray | None,
                      shape: np.ndarray | None, fs: float) -> np.ndarray:
    """`beats` with the left-out candidates that repeat a beat class of the record (module docstring).

    `cand`/`height`/`slope`: all candidates, their envelope over the local QRS level and their
    steepness (selection.steepness); `shape`: the (leads, samples) band-passed signal. Without a
    shape or a steepness `beats` is returned.
    """
    if shape is None or slope is None or beats.size < MIN_CLASS + 1 or not np.isin(beats, cand).all():
        return beats
    steep = slope[np.searchsorted(cand, beats)]
    left = (height >= MIN_HEIGHT) & ~np.isin(cand, beats)
    out, out_steep = cand[left], slope[left]
    if out.size == 0:
        return beats
    corr, beat_rms, rms = shape_match(shape, beats, out, fs)
    lone: np.ndarray | None = None  # computed at the first clash (most strips have none)
    keep, added = np.ones(beats.size, dtype=bool), []
    for i in np.flatnonzero((corr >= MATCH).sum(axis=1) >= MIN_CLASS):
        same, c = corr[i] >= MATCH, int(out[i])
        size = rms[i] / max(float(np.median(beat_rms[same])), 1e-12)
        if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1] or out_steep[i] < STEEP_RATIO * float(np.median(steep[same])):
            continue
        clash = keep & (beats > c - AFTER_S * fs) & (beats < c + BEFORE_S * fs)
        if clash.any():
            lone = _lone(shape, beats, fs) if lone is None else lone
            if not lone[clash].all():
                continue
        if _fits(beats[keep & ~clash], added, c, fs):
            keep &= ~clash
            added.append(c)
    if not added:
        return beats
    return np.sort(np.concatenate([beats[keep], np.asarray(added, dtype=np.int64)]))


def _lone(shape: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Chosen beats whose shape matches fewer than MIN_CLASS of the others (artefact-like)."""
    corr, _, _ = shape_match(shape, beats, beats, fs)
    return (corr >= MATCH).sum(axis=1) - 1 < MIN_CLASS


def _fits(beats: np.ndarray, added: list[int], c: int, fs: float) -> bool:
    """c lies beyond the T wave of the beat before it and the refractory period of the beat after it."""
    near = np.concatenate([beats, np.asarray(added, dtype=np.int64)])
    before, after = near[near < c], near[near > c]
    return (before.size == 0 or c - before.max() >= AFTER_S * fs) and \
        (after.size == 0 or after.min() - c >= BEFORE_S * fs)
