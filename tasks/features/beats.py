"""Beat detection: QRS energy envelopes per lead, a threshold first pass, rhythm-aware selection, fusion."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from tasks.features.filters import band_sos, clean_band, despike, qrs_band, remove_mains
from tasks.features.morphology import complete_by_shape
from tasks.features.quality import assess_leads
from tasks.features.selection import select_beats, steepness
from tasks.features.windows import spans, windowed

ENVELOPE_S = 0.08  # moving-window integration width
REFRACTORY_S = 0.25  # no two beats closer than this (240 bpm)
T_WAVE_S = 0.36  # a peak this close to the previous beat must be strong to count
LOCAL_WINDOW_S = 8.0  # span over which the signal level is estimated (a running median) ...
MAX_SPAN_S = 2.0  # ... of the envelope's running maximum over this span
LEVEL_STEP_S = 0.05  # the level is computed on this grid and interpolated
THRESHOLD = 0.35  # accept peaks above this share of the local QRS level (cross-validated: benchmarks/rpeaks_cv.py)
SEARCHBACK = 0.25  # in a long gap, accept the best peak above this share
LONG_GAP = 1.4  # a gap this many median RRs long triggers searchback
EDGE_S = 0.05  # envelope peaks this close to either end are filter transients (and unlabelled half beats)
CONFIDENT = 2.0  # first-pass beats this many times the noise floor give the rhythm ...
CONFIDENT_SHARE = 0.4  # ... when they are at least this share of the first pass
STRONG = 0.8  # candidates above this share of the local level estimate the RR
T_GUARD_RR = 0.6  # within this share of the typical RR after a beat ...
T_GUARD_RATIO = 0.5  # ... a peak must reach this share of that beat's height
T_SHARP_RATIO = 0.25  # ... and this share of its 15-45 Hz envelope
SHARP_BAND_HZ = (15.0, 45.0)
REFINE_S = 0.08  # an R peak lies within this of the envelope peak (half the widest QRS; cross-validated)
REFINE_BAND_HZ = (3.0, 40.0)  # the R peak is the largest deflection of this band: no wander, no ringing
MIN_HEIGHT = 0.05  # candidates below this share of the local (or the strip's) level are never beats
CANDIDATE_SPACING_S = 0.10  # envelope peaks this far apart are all candidates for the selection


def qrs_envelope(band: np.ndarray, fs: float) -> np.ndarray:
    """Amplitude-like QRS envelope: root of the moving average of the squared slope."""
    slope = np.gradient(band, axis=-1) * fs
    width = max(3, int(round(ENVELOPE_S * fs)))
    return np.sqrt(np.maximum(ndimage.uniform_filter1d(slope**2, width, axis=-1), 0.0))


def _running_peak(env: np.ndarray, fs: float) -> tuple[np.ndarray, int]:
    """The envelope's running maximum over MAX_SPAN_S, on a LEVEL_STEP_S grid, and the grid step."""
    step = max(1, int(round(LEVEL_STEP_S * fs)))
    return ndimage.maximum_filter1d(env, max(3, int(MAX_SPAN_S * fs)), mode="nearest")[::step], step


def _local_level(env: np.ndarray, cand: np.ndarray, fs: float, peak: tuple[np.ndarray, int] | None = None
                 ) -> np.ndarray:
    """QRS level around each candidate: the median, over LOCAL_WINDOW_S, of the envelope's running
    maximum over MAX_SPAN_S (a span that holds at least one beat at any rate above 30 bpm).

    Unlike a percentile of candidate heights it does not sink to T-wave or noise height when beats
    are a small share of the candidates (slow rates), and a burst shorter than half the window does
    not lift it.
    """
    peak, step = _running_peak(env, fs) if peak is None else peak
    width = max(1, int(LOCAL_WINDOW_S * fs / step)) | 1
    level = ndimage.median_filter(peak, size=width, mode="nearest")
    return np.interp(cand, np.arange(level.size) * step, level)


def _strip_level(peak: tuple[np.ndarray, int]) -> float:
    """QRS level of the whole strip: the median over time of the running maximum (_running_peak).
    Where a pause fills one end of a window, the local level there sinks to the noise."""
    return float(np.median(peak[0]))


def _peak(a: np.ndarray, c: int, fs: float) -> float:
    half = int(0.03 * fs)
    return float(a[max(0, c - half): c + half + 1].max())


def sharp_envelope(x: np.ndarray, fs: float) -> np.ndarray:
    """Envelope of the 15-45 Hz band: steep QRS slopes, hardly any T wave."""
    return qrs_envelope(sps.sosfiltfilt(band_sos(fs, *SHARP_BAND_HZ), x, axis=-1), fs)


def _rr_estimate(cand: np.ndarray, heights: np.ndarray, level: np.ndarray, fs: float) -> float:
    """Typical RR (samples) from the intervals between strong candidates only (T waves are rarely strong)."""
    strong = cand[heights >= STRONG * level]
    rr = np.diff(strong)
    rr = rr[rr >= REFRACTORY_S * fs]
    return float(np.median(rr)) if rr.size else fs


def first_pass(env: np.ndarray, fs: float, sharp: np.ndarray | None = None) -> np.ndarray:
    """Threshold-only QRS picks on a 1-D envelope (adaptive threshold, T-wave guard, searchback).

    `sharp` (optional) is a high-band (15-45 Hz) envelope: T waves have little energy there.
    """
    cand = _candidates(env, fs, REFRACTORY_S)
    if cand.size == 0:
        return cand
    return _threshold_pick(env, cand, _local_level(env, cand, fs), fs, sharp)


def _threshold_pick(env: np.ndarray, cand: np.ndarray, level: np.ndarray, fs: float,
                    sharp: np.ndarray | None) -> np.ndarray:
    heights = env[cand]
    guard = np.clip(T_GUARD_RR * _rr_estimate(cand, heights, level, fs), REFRACTORY_S * fs, T_WAVE_S * fs)
    keep = heights >= THRESHOLD * level
    beats: list[int] = []
    for c, h in zip(cand[keep], heights[keep]):
        if beats and c - beats[-1] < guard:
            if h < T_GUARD_RATIO * env[beats[-1]]:
                continue
            if sharp is not None and _peak(sharp, c, fs) < T_SHARP_RATIO * _peak(sharp, beats[-1], fs):
                continue
        beats.append(int(c))
    return _searchback(np.asarray(beats, dtype=np.int64), cand, heights, level, fs)


def _searchback(beats: np.ndarray, cand: np.ndarray, heights: np.ndarray, level: np.ndarray, fs: float) -> np.ndarray:
    """Add the strongest sub-threshold candidate in each gap longer than LONG_GAP median RRs."""
    if beats.size < 3:
        return beats
    rr = float(np.median(np.diff(beats)))
    added = []
    for a, b in zip(beats[:-1], beats[1:]):
        if b - a < LONG_GAP * rr:
            continue
        inside = (cand > a + REFRACTORY_S * fs) & (cand < b - REFRACTORY_S * fs)
        inside &= heights >= SEARCHBACK * level
        if inside.any():
            added.append(cand[inside][np.argmax(heights[inside])])
    return np.sort(np.concatenate([beats, np.asarray(added, dtype=np.int64)]))


def _candidates(env: np.ndarray, fs: float, spacing_s: float) -> np.ndarray:
    """Envelope peaks at least spacing_s apart, away from the filter transients at both ends."""
    edge = int(EDGE_S * fs)
    cand, _ = sps.find_peaks(np.pad(env, 1), distance=max(1, int(spacing_s * fs)))  # a beat cut by an end counts
    cand = cand - 1
    return cand[(cand >= edge) & (cand < env.size - edge)].astype(np.int64)


def pick_beats(env: np.ndarray, fs: float, sharp: np.ndarray | None = None,
               shape: np.ndarray | None = None) -> np.ndarray:
    """Sample indices of QRS complexes on a 1-D envelope: a threshold first pass gives the rhythm,
    then the best path through all candidates under that rhythm is chosen (tasks/features/selection.py).

    `shape` (optional): a (leads, samples) band-passed signal (3-40 Hz for one lead; the QRS band
    of the fused leads, which costs no filter); a left-out candidate that repeats the shape and
    size of the chosen beats is added (tasks/features/morphology.py).
    """
    sparse = _candidates(env, fs, REFRACTORY_S)
    if sparse.size == 0:
        return sparse
    peak = _running_peak(env, fs)
    level = _local_level(env, sparse, fs, peak)
    first = _threshold_pick(env, sparse, level, fs, sharp)
    picked = first
    first = _confident(first, sparse, env[sparse] / level)
    cand = _candidates(env, fs, CANDIDATE_SPACING_S)
    local = np.interp(cand, sparse, level)
    height = env[cand] / local
    real = env[cand] >= MIN_HEIGHT * np.maximum(local, _strip_level(peak))  # noise in a pause is no beat
    cand, height = cand[real], height[real]
    slope = None if sharp is None else steepness(sharp, cand, fs)
    chosen = select_beats(cand, height, slope, first, env.size, fs, int(EDGE_S * fs), picked=picked)
    return complete_by_shape(chosen, cand, height, slope, shape, fs)


def _confident(first: np.ndarray, sparse: np.ndarray, height: np.ndarray) -> np.ndarray:
    """The first-pass beats the rhythm is taken from: those that rise above the noise floor.

    The floor is the median height of the candidates the first pass left out (T and P waves, noise
    peaks); a first-pass beat below CONFIDENT times it is as likely noise as a beat. Noise peaks
    just above the threshold make short intervals that pull the running-median RR down, and the
    selection then prefers paths through noise; a weak beat left out only lengthens one interval,
    which the running median ignores. Used only when the confident beats are most of the first pass.
    """
    rest = ~np.isin(sparse, first)
    if first.size < 4 or rest.sum() < 4:
        return first
    keep = height[np.searchsorted(sparse, first)] >= CONFIDENT * float(np.median(height[rest]))
    return first[keep] if keep.sum() >= max(4, CONFIDENT_SHARE * first.size) else first


def refine_to_peak(x: np.ndarray, idx: np.ndarray, fs: float, half_s: float = REFINE_S) -> np.ndarray:
    """Move each index to the largest absolute value of x (a zero-mean band) within +-half_s.

    On the 3-40 Hz band the R (or QS) peak keeps its place; on the 8-25 Hz detection band the
    extremes ring onto the slopes, and a deviation from a local median is pulled by a step.
    """
    if idx.size == 0:
        return idx
    half = max(1, int(half_s * fs))
    pos = np.clip(idx[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[-1] - 1)
    return pos[np.arange(len(idx)), np.argmax(np.abs(x[pos]), axis=1)]


def detect_r_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices in one lead (mV): QRS envelope, rhythm-aware beat selection, peak refinement.

    Any length: a long record is detected in overlapping windows (tasks/features/windows.py), each
    with its own quality gate, and the beats are stitched.
    """
    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size < int(fs) or not np.isfinite(x).all():
        return np.zeros(0, dtype=np.int64)
    return windowed(lambda a, b: _r_peaks_window(x[a:b], fs), x.size, fs)


def _r_peaks_window(x: np.ndarray, fs: float) -> np.ndarray:
    """detect_r_peaks on one window."""
    if x.size < int(fs):
        return np.zeros(0, dtype=np.int64)
    x = remove_mains(despike(x, fs), fs)[None, :]
    band = qrs_band(x, fs)
    if not assess_leads(x, clean_band(x, fs), band, fs).detectable[0]:
        return np.zeros(0, dtype=np.int64)
    x, band = x[0], band[0]
    env = qrs_envelope(band, fs)
    if env.max() <= 0:
        return np.zeros(0, dtype=np.int64)
    wide = sps.sosfiltfilt(band_sos(fs, *REFINE_BAND_HZ), x)
    beats = pick_beats(env, fs, sharp_envelope(x, fs), wide[None, :])
    return np.unique(refine_to_peak(wide, beats, fs, REFINE_S)).astype(np.int64)


def _fuse(env: np.ndarray) -> np.ndarray:
    """Weighted mean of per-lead envelopes, each scaled to its own QRS level (98th percentile).

    A lead's weight is the square of its QRS level over its background (the envelope's median),
    as in maximal-ratio combining (weight = signal / noise power): a lead whose beats barely rise
    above its noise no longer adds that noise to the fused envelope at full weight.
    """
    coarse = env[..., :: max(1, env.shape[-1] // 2000)]  # the envelope is smooth: a subsample gives its levels
    scale = np.maximum(np.percentile(coarse, 98, axis=-1, keepdims=True), 1e-12)
    weight = (scale / np.maximum(np.median(coarse, axis=-1, keepdims=True), 1e-3 * scale)) ** 2
    return (env * (weight / scale)).sum(axis=0) / weight.sum()


def detect_beats(raw: np.ndarray, band: np.ndarray, fs: float, usable: np.ndarray) -> np.ndarray:
    """One set of beats for a record: the single-lead selection run on envelopes fused over usable leads.

    Returns the fused envelope peaks (sample indices), i.e. the centre of QRS energy of each beat.
    A record longer than one window is detected window by window; there each window's leads are
    gated again on that window alone (a lead clipped or off for a while still serves elsewhere).
    Where no lead is usable (in `usable`, or in a window), the leads whose beats still stand out
    of wander, clipping or high-frequency noise are used (LeadQuality.detectable): a recording
    with visible QRS complexes does not yield zero beats.
    """
    if len(spans(raw.shape[-1], fs)) == 1:
        ok = usable if usable.any() else _detection_leads(raw, band, fs)
        return _fused_window(raw, band, fs, ok) if ok.any() else np.zeros(0, dtype=np.int64)

    def window(a: int, b: int) -> np.ndarray:
        ok = _detection_leads(raw[:, a:b], band[:, a:b], fs)
        return _fused_window(raw[:, a:b], band[:, a:b], fs, ok) if ok.any() else np.zeros(0, dtype=np.int64)
    return windowed(window, raw.shape[-1], fs)


def _detection_leads(raw: np.ndarray, band: np.ndarray, fs: float) -> np.ndarray:
    """The leads to detect beats on: the usable ones, else those only fit for detection (quality.py)."""
    q = assess_leads(raw, clean_band(raw, fs), band, fs)
    return q.usable if q.usable.any() else q.detectable


def _fused_window(raw: np.ndarray, band: np.ndarray, fs: float, usable: np.ndarray) -> np.ndarray:
    env = _fuse(qrs_envelope(band[usable], fs))
    sharp = _fuse(sharp_envelope(remove_mains(raw[usable], fs), fs))
    return pick_beats(env, fs, sharp, band[usable])
