"""Long records in overlapping windows: each window is detected on its own, the beats are stitched.

A record longer than WINDOW_S is cut into windows of about WINDOW_S that overlap by OVERLAP_S.
Each window keeps only the beats in its core (up to the middle of each overlap), so every stretch
of the record belongs to exactly one window and a beat near a cut is found by a window in which it
lies well inside. What the quality gate, the QRS level and the rhythm see is then local: a
stretch of clipping, lead-off or motion artefact costs the beats of its own windows, not of the
whole recording, and memory stays bounded by the window, not the record.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

WINDOW_S = 20.0
OVERLAP_S = 4.0
DUPLICATE_S = 0.2  # two stitched beats closer than this are one beat (no QRS follows another so soon)


def spans(n: int, fs: float) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_from, keep_to) sample bounds of each window; one window when the record is short."""
    win, ov = int(round(WINDOW_S * fs)), int(round(OVERLAP_S * fs))
    if n <= win + ov:
        return [(0, n, 0, n)]
    count = int(np.ceil((n - ov) / (win - ov)))
    starts = np.round(np.linspace(0, n - win, count)).astype(int)
    ends = starts + win
    cuts = [0] + [int((ends[i] + starts[i + 1]) // 2) for i in range(count - 1)] + [n]
    return [(int(s), int(e), cuts[i], cuts[i + 1]) for i, (s, e) in enumerate(zip(starts, ends))]


def stitch(parts: list[np.ndarray], fs: float) -> np.ndarray:
    """Sorted union of the windows' beats, a beat within DUPLICATE_S of the previous one dropped."""
    beats = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    if beats.size < 2:
        return beats.astype(np.int64)
    keep = np.ones(beats.size, dtype=bool)
    last = beats[0]
    for i in range(1, beats.size):
        if beats[i] - last < DUPLICATE_S * fs:
            keep[i] = False
        else:
            last = beats[i]
    return beats[keep].astype(np.int64)


def windowed(detect: Callable[[int, int], np.ndarray], n: int, fs: float) -> np.ndarray:
    """Beats of a record of n samples: `detect(start, end)` gives window-relative indices per window."""
    parts = []
    for start, end, lo, hi in spans(n, fs):
        found = np.asarray(detect(start, end), dtype=np.int64) + start
        parts.append(found[(found >= lo) & (found < hi)])
    return stitch(parts, fs)
