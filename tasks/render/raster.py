"""A small numpy rasterizer for ECG traces: anti-aliased square-pen polylines as per-column spans.

An ECG trace is a function of x, so a vertical span per sub-column describes its stroke: each
sub-column is inked from the lowest to the highest point the pen reaches while its centre is
within half a pen width of that sub-column's centre. A pixel's coverage is the mean over its
SUBCOLS sub-columns of the exact vertical overlap with each span, so lines are anti-aliased
along y exactly and along x in 1/SUBCOLS steps. Conventions: pixel (r, c) covers [c, c+1) x [r, r+1); a point at
x = c + 0.5 is column c's centre; y grows downwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBBINS = 8  # bins per pixel used to find the polyline's min and max under the pen
SUBCOLS = 4  # sub-columns per pixel whose coverage is averaged (horizontal anti-aliasing)


@dataclass(frozen=True)
class Spans:
    """Vertical extent [top, bottom) of the stroke, shape (SUBCOLS, n_columns), from pixel column c0.

    An empty sub-column has top = +inf and bottom = -inf.
    """

    c0: int
    top: np.ndarray
    bottom: np.ndarray


def _finite_runs(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a polyline at non-finite values (a gap in the recording breaks the line)."""
    ok = np.isfinite(y) & np.isfinite(x)
    if ok.all():
        return [(x, y)]
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
    return [(x[a:b], y[a:b]) for a, b in zip(edges[::2], edges[1::2])]


def _bin_extremes(x: np.ndarray, y: np.ndarray, start: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of the polyline within each sub-bin [start + j/S, start + (j+1)/S)."""
    edges = start + np.arange(n_bins + 1) / SUBBINS
    inside = (edges >= x[0]) & (edges <= x[-1])
    edge_y = np.interp(edges, x, y)
    lo_e = np.where(inside, edge_y, np.inf)
    hi_e = np.where(inside, edge_y, -np.inf)
    bmin = np.minimum(lo_e[:-1], lo_e[1:])
    bmax = np.maximum(hi_e[:-1], hi_e[1:])
    j = np.clip(((x - start) * SUBBINS).astype(np.int64), 0, n_bins - 1)
    np.minimum.at(bmin, j, y)
    np.maximum.at(bmax, j, y)
    return bmin, bmax


def _sliding(values: np.ndarray, k: int, op: np.ufunc) -> np.ndarray:
    """out[j] = op.reduce(values[j : j + k]) for every full window, by doubling (O(n log k))."""
    out, span = values, 1
    while span * 2 <= k:
        out = op(out[:-span], out[span:])
        span *= 2
    rest = k - span
    return op(out[:-rest], out[rest:]) if rest else out


def polyline_spans(x: np.ndarray, y: np.ndarray, width_px: float) -> Spans | None:
    """Per-column spans of a square pen of `width_px` drawn along (x, y); x must not decrease."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return None
    half = width_px / 2.0
    k = max(1, int(round(width_px * SUBBINS)))
    c0 = int(np.floor(x[0] - half)) - 1
    c1 = int(np.ceil(x[-1] + half)) + 1
    n_cols = c1 - c0
    pad = k  # sub-bins on each side so every window stays in range
    start = c0 - pad / SUBBINS
    n_bins = n_cols * SUBBINS + 2 * pad
    bmin, bmax = _bin_extremes(x, y, start, n_bins)
    sub = (np.arange(n_cols * SUBCOLS) + 0.5) / SUBCOLS  # sub-column centres, pixels from c0
    first = np.rint((sub + pad / SUBBINS) * SUBBINS - k / 2.0).astype(np.int64)
    top = _sliding(bmin, k, np.minimum)[first] - half
    bottom = _sliding(bmax, k, np.maximum)[first] + half
    return Spans(c0=c0, top=top.reshape(n_cols, SUBCOLS).T, bottom=bottom.reshape(n_cols, SUBCOLS).T)


def spans_coverage(spans: Spans, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices and 0-255 coverage of the spans, clipped to a height x width page."""
    cols = spans.c0 + np.arange(spans.top.shape[1])
    top = np.clip(spans.top, -1.0, height + 1.0).astype(np.float32)
    bottom = np.clip(spans.bottom, -1.0, height + 1.0).astype(np.float32)
    col_top, col_bottom = top.min(axis=0), bottom.max(axis=0)
    keep = (col_top < col_bottom) & (cols >= 0) & (cols < width)
    cols, top, bottom, col_top = cols[keep], top[:, keep], bottom[:, keep], col_top[keep]
    r0 = np.floor(col_top).astype(np.int64)
    counts = np.maximum(np.ceil(col_bottom[keep]).astype(np.int64) - r0, 1)
    owner = np.repeat(np.arange(cols.size), counts)
    offsets = np.cumsum(counts) - counts
    rows = r0[owner] + (np.arange(owner.size) - offsets[owner])
    row_top = rows.astype(np.float32)
    row_bottom = row_top + np.float32(1.0)
    cover = np.zeros(rows.size, dtype=np.float32)
    for sub in range(top.shape[0]):  # a few sub-columns: whole-array ops per sub-column
        overlap = np.minimum(bottom[sub][owner], row_bottom)
        overlap -= np.maximum(top[sub][owner], row_top)
        cover += np.clip(overlap, 0.0, 1.0, out=overlap)
    cover *= np.float32(255.0 / top.shape[0])
    ok = (rows >= 0) & (rows < height) & (cover >= 0.5)
    flat = rows[ok] * width + cols[owner[ok]]
    return flat, np.rint(cover[ok]).astype(np.uint8)


def paint_polyline(ink: np.ndarray, x: np.ndarray, y: np.ndarray, width_px: float) -> np.ndarray:
    """Add the stroke of (x, y) to the uint8 coverage image `ink` (max-composited, in place).

    Returns the flat indices of the pixels it touched.
    """
    height, width = ink.shape
    flat_ink = ink.reshape(-1)
    touched = [np.empty(0, dtype=np.int64)]
    for xs, ys in _finite_runs(np.asarray(x, np.float64), np.asarray(y, np.float64)):
        spans = polyline_spans(xs, ys, width_px)
        if spans is None:
            continue
        flat, cover = spans_coverage(spans, height, width)
        flat_ink[flat] = np.maximum(flat_ink[flat], cover)
        touched.append(flat)
    return np.concatenate(touched)


def grid_lines(length_px: int, px_per_mm: float, minor_px: int, major_px: int) -> np.ndarray:
    """Class of each pixel along one axis: 0 paper, 1 minor (1 mm) line, 2 major (5 mm) line."""
    classes = np.zeros(length_px, dtype=np.uint8)
    n_mm = int(np.floor(length_px / px_per_mm)) + 1
    for mm in range(n_mm + 1):
        major = mm % 5 == 0
        w = major_px if major else minor_px
        first = int(round(mm * px_per_mm - w / 2.0))
        lo, hi = max(first, 0), min(first + w, length_px)
        if lo < hi:
            classes[lo:hi] = np.maximum(classes[lo:hi], 2 if major else 1)
    return classes


def grid_classes(height: int, width: int, px_per_mm: float) -> np.ndarray:
    """Paper class image (0 paper, 1 minor, 2 major) of a 1 mm / 5 mm grid from the top-left corner."""
    minor_px = max(1, int(round(0.1 * px_per_mm)))
    major_px = max(minor_px + 1, int(round(0.2 * px_per_mm)))
    rows = grid_lines(height, px_per_mm, minor_px, major_px)
    cols = grid_lines(width, px_per_mm, minor_px, major_px)
    return np.maximum(rows[:, None], cols[None, :])
