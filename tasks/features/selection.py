"""Rhythm-aware beat selection: the best-scoring path through QRS candidates (Viterbi over RR intervals).

Every envelope peak is a candidate. A path through them scores each chosen candidate by its
strength (log of its height over the local QRS level) and each interval between consecutive
choices by how plausible it is for this record's rhythm: a log-normal RR model whose median and
spread come from a first, threshold-only pass. Intervals between 0.55 and 1.6 typical RRs
(premature beats, pauses after them, atrial fibrillation) cost at most ECTOPIC_COST; shorter ones
(T waves, artefact doublets) and longer ones (a missed beat) cost the full log-normal penalty.
A candidate shortly after a chosen beat that is much less steep than it (a T wave) cannot follow it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

GAIN_SCALE = 3.0  # weight of log(height / threshold) per chosen candidate
GAIN_CLIP = (0.02, 1.5)  # heights (share of the local QRS level) are clipped to this range
THRESHOLD = 0.35  # a candidate this high scores zero: above it adds, below it costs (= beats.THRESHOLD)
SIGMA_RANGE = (0.04, 0.35)  # spread of log RR (first pass, robust), clipped to this range
ECTOPIC_RANGE = (0.55, 1.6)  # RR / typical RR where the cost is capped at ECTOPIC_COST
ECTOPIC_COST = 2.0
FIRST_PASS_BONUS = 0.5  # added to the gain of a candidate the threshold pass took (see select_beats)
EARLY_MIN = 0.35  # RR / typical RR from here up to the ectopic range: cost capped at EARLY_COST
EARLY_COST = 3.0
MAX_COST = 30.0  # no interval costs more; gaps beyond the search band pay this
T_GUARD_RR = 0.6  # a candidate closer than this share of the typical RR (within the bounds below)
T_GUARD_S = (0.25, 0.36)  # ... to a chosen beat ...
T_SLOPE_RATIO = 0.5  # ... and less than this share of its steepness ...
T_HEIGHT_RATIO = 0.5  # ... and of its QRS-band height is a T wave (a wide PVC is not steep, but tall)
REFRACTORY_S = 0.25
SLOPE_HALF_S = 0.03  # steepness of a candidate: peak of the 15-45 Hz envelope within +-30 ms
ALTERNATION_RATIO = 0.4  # pairs of RRs this much more regular than single RRs: alternation (bigeminy)
RR_WINDOW_BEATS = 9  # the typical RR is a running median over this many first-pass intervals


@dataclass(frozen=True)
class Rhythm:
    """Typical RR (samples) at each candidate and the spread of log RR, from a first pass."""

    rr: np.ndarray
    sigma: float


def rhythm_from(first: np.ndarray, cand: np.ndarray) -> Rhythm:
    """Running-median RR at each candidate and a robust (MAD) spread of log RR of the first-pass beats.

    In bigeminy the intervals alternate short and long, and a running median of them flips between
    the two (a long one then looks like a missed beat, a short one like a T wave); there the running
    median is taken over the means of consecutive interval pairs instead.
    """
    rr = np.diff(first).astype(np.float64)
    log_rr = np.log(rr)
    sigma = 1.4826 * float(np.median(np.abs(log_rr - np.median(log_rr))))
    rr = _pair_means(rr) if _alternating(rr) else rr
    if rr.size > RR_WINDOW_BEATS:  # windows shifted inside the record at its ends
        medians = np.median(sliding_window_view(rr, RR_WINDOW_BEATS), axis=-1)
        rr = medians[np.clip(np.arange(rr.size) - RR_WINDOW_BEATS // 2, 0, medians.size - 1)]
    else:
        rr = np.full(rr.size, np.median(rr))
    mids = (first[:-1] + first[1:]) / 2.0
    return Rhythm(rr=np.interp(cand, mids, rr), sigma=float(np.clip(sigma, *SIGMA_RANGE)))


def _spread(rr: np.ndarray) -> float:
    log_rr = np.log(rr)
    return float(np.median(np.abs(log_rr - np.median(log_rr))))


def _pair_means(rr: np.ndarray) -> np.ndarray:
    """Mean of each interval and the next (the last one repeats)."""
    pairs = (rr[:-1] + rr[1:]) / 2.0
    return np.append(pairs, pairs[-1])


def _alternating(rr: np.ndarray) -> bool:
    """Short-long alternation (bigeminy): consecutive pairs are far more regular than single intervals.

    A missed or extra beat spoils two pairs but one interval, so irregular and gappy first passes
    keep the raw intervals.
    """
    return rr.size >= 4 and _spread(_pair_means(rr)) < ALTERNATION_RATIO * _spread(rr)


def rr_cost(r: np.ndarray, sigma: float) -> np.ndarray:
    """Cost of intervals of r typical RRs: log-normal penalty, capped for plausible ectopy and early beats."""
    q = np.log(np.maximum(r, 1e-3)) ** 2 / (2.0 * sigma**2)
    ectopic = (r >= ECTOPIC_RANGE[0]) & (r <= ECTOPIC_RANGE[1])
    early = (r >= EARLY_MIN) & (r < ECTOPIC_RANGE[0])
    q = np.where(ectopic, np.minimum(q, ECTOPIC_COST), np.where(early, np.minimum(q, EARLY_COST), q))
    return np.minimum(q, MAX_COST)


def candidate_gain(height: np.ndarray) -> np.ndarray:
    """Score of choosing a candidate of this height (share of the local QRS level)."""
    return GAIN_SCALE * np.log(np.clip(height, *GAIN_CLIP) / THRESHOLD)


def steepness(sharp: np.ndarray, cand: np.ndarray, fs: float) -> np.ndarray:
    """Peak of the high-band envelope around each candidate."""
    width = 2 * max(1, int(SLOPE_HALF_S * fs)) + 1
    return ndimage.maximum_filter1d(sharp, width, mode="nearest")[cand]


def _band(cand: np.ndarray, rhythm: Rhythm, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) indices of the earlier candidates each one may follow (-1 = none), and the first of them.

    The band reaches back max(3 RR, 2.5 s); a path may still jump further back at MAX_COST.
    """
    reach = np.maximum(3.0 * rhythm.rr, 2.5 * fs)
    lo = np.searchsorted(cand, cand - reach)
    k = max(1, int((np.arange(cand.size) - lo).max(initial=1)))
    idx = np.arange(cand.size)[:, None] - 1 - np.arange(k)[None, :]
    return np.where(idx >= lo[:, None], idx, -1), lo


def _transition_costs(cand: np.ndarray, idx: np.ndarray, slope: np.ndarray | None, height: np.ndarray,
                      rhythm: Rhythm, fs: float) -> np.ndarray:
    """(n, K) cost of each candidate following each earlier one in its band; inf where it may not."""
    prev = np.where(idx >= 0, idx, 0)
    d = (cand[:, None] - cand[prev]).astype(np.float64)
    cost = rr_cost(np.maximum(d, 1.0) / rhythm.rr[:, None], rhythm.sigma)
    banned = (idx < 0) | (d < REFRACTORY_S * fs)
    if slope is not None:
        guard = np.clip(T_GUARD_RR * rhythm.rr, T_GUARD_S[0] * fs, T_GUARD_S[1] * fs)[:, None]
        low = height[:, None] < T_HEIGHT_RATIO * height[prev]
        banned |= (d < guard) & (slope[:, None] < T_SLOPE_RATIO * slope[prev]) & low
    return np.where(banned, np.inf, cost)


def _edge_cost(gap: np.ndarray, rhythm: Rhythm) -> np.ndarray:
    """Cost of leaving `gap` samples between a record end and the nearest chosen beat (none up to 1 RR)."""
    return rr_cost(np.maximum(gap / rhythm.rr, 1.0), rhythm.sigma)


def _viterbi(start: np.ndarray, gain: np.ndarray, idx: np.ndarray, lo: np.ndarray,
             trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best path score ending at each candidate and its predecessor (-1: the path starts there)."""
    best, back = start.copy(), np.full(start.size, -1)
    far_best, far_arg, done = -np.inf, -1, 0  # best path ending before the current band
    for i in range(start.size):
        for j in range(done, lo[i]):
            if best[j] > far_best:
                far_best, far_arg = best[j], j
        done = max(done, lo[i])
        tot = best[np.maximum(idx[i], 0)] - trans[i]
        j = int(np.argmax(tot))
        options = (start[i], tot[j] + gain[i], far_best - MAX_COST + gain[i])
        pick = int(np.argmax(options))
        best[i] = options[pick]
        back[i] = (-1, int(idx[i, j]), far_arg)[pick]
    return best, back


def select_beats(cand: np.ndarray, height: np.ndarray, slope: np.ndarray | None, first: np.ndarray,
                 n_samples: int, fs: float, edge: int, picked: np.ndarray | None = None) -> np.ndarray:
    """The highest-scoring sequence of candidates (sample indices), given the first-pass beats.

    `height`: each candidate's envelope over the local QRS level; `slope`: its steepness (or None).
    `picked`: the threshold pass's beats; choosing one of them scores FIRST_PASS_BONUS more, so the
    rhythm model overrides the threshold pass only where it has a clear reason: the sinus beat
    just before a short-coupled PVC (an "early" interval) was dropped for a cheaper 1.5 RR skip.
    With fewer than 4 first-pass beats there is no rhythm to go by: the first pass is returned.
    """
    if first.size < 4 or cand.size == 0:
        return first
    rhythm = rhythm_from(first, cand)
    gain = candidate_gain(height)
    if picked is not None:
        gain = gain + FIRST_PASS_BONUS * np.isin(cand, picked)
    idx, lo = _band(cand, rhythm, fs)
    trans = _transition_costs(cand, idx, slope, height, rhythm, fs)
    start = gain - _edge_cost((cand - edge).astype(np.float64), rhythm)
    best, back = _viterbi(start, gain, idx, lo, trans)
    final = best - _edge_cost((n_samples - edge - cand).astype(np.float64), rhythm)
    path, i = [], int(np.argmax(final))
    while i >= 0:
        path.append(cand[i])
        i = int(back[i])
    return np.asarray(path[::-1], dtype=np.int64)
