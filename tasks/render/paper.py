"""The static part of a page, built once per settings: grid, labels, calibration pulses and palette.

A page is stored as an 8-bit palette image: index = paper class + N_CLASSES * ink level, where the
paper class (paper, minor line, major line) comes from the grid and the ink level (0..N_LEVELS-1)
is the quantized trace coverage. The palette holds every blend of ink over each paper class, so
compositing a trace is two integer lookups and the PNG stays one byte per pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from schemas.images import RenderSettings
from tasks.render.layouts import PageLayout, build_layout
from tasks.render.raster import grid_classes, paint_polyline

N_CLASSES = 4  # paper, minor line, major line, (spare: same as paper)
N_LEVELS = 64  # ink coverage levels; N_CLASSES * N_LEVELS == 256 palette entries

PAPER_RGB = (255, 255, 255)
MINOR_RGB = (246, 190, 190)
MAJOR_RGB = (228, 112, 112)
INK_RGB = (0, 0, 0)

LABEL_MM = 3.2  # lead label text height
SMALL_MM = 2.6  # footer / header text height


@dataclass(frozen=True)
class PaperPage:
    """Everything about a page that does not depend on the record."""

    layout: PageLayout
    classes: np.ndarray  # (H, W) uint8 paper class
    static_ink: np.ndarray  # (H, W) uint8 coverage of labels, calibration pulses, separators, footer
    width_px: float  # trace pen width in pixels


def palette(paper_rgb: tuple[int, int, int] = PAPER_RGB) -> np.ndarray:
    """(256, 3) uint8 palette: every ink level blended over each paper class."""
    tint = np.asarray(paper_rgb, np.float64) / 255.0
    base = np.array([PAPER_RGB, MINOR_RGB, MAJOR_RGB, PAPER_RGB], np.float64) * tint
    alpha = (np.arange(N_LEVELS, dtype=np.float64) / (N_LEVELS - 1))[:, None, None]
    blended = base[None, :, :] * (1.0 - alpha) + np.asarray(INK_RGB, np.float64) * alpha
    return np.rint(blended.reshape(-1, 3)).astype(np.uint8)


def ink_levels() -> np.ndarray:
    """Lookup from 0-255 coverage to the palette offset of its ink level."""
    cov = np.arange(256, dtype=np.int64)
    level = (cov * (N_LEVELS - 1) + 127) // 255
    return (level * N_CLASSES).astype(np.uint8)


@lru_cache(maxsize=8)
def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if path.exists():
        return ImageFont.truetype(str(path), size_px)
    return ImageFont.load_default(size_px)


def draw_text(ink: np.ndarray, text: str, x_px: float, y_px: float, height_mm: float, ppm: float) -> None:
    """Add anti-aliased text (top-left anchored at x, y) to the coverage image, in place."""
    font = _font(max(6, int(round(height_mm * ppm))))
    mask = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    ImageDraw.Draw(mask).text((x_px, y_px), text, fill=255, font=font)
    np.maximum(ink, np.asarray(mask), out=ink)


def _calibration_pulses(ink: np.ndarray, layout: PageLayout, pen_px: float) -> None:
    """A 1 mV x 200 ms pulse with 2 mm lead-in and 2 mm lead-out at the start of every row."""
    s, ppm = layout.settings, layout.px_per_mm
    x0 = layout.calibration_x_mm
    x1 = x0 + 2.0
    x2 = x1 + 0.2 * s.paper_speed_mm_s
    xs = np.array([x0, x1, x1, x2, x2, x2 + 2.0]) * ppm
    for base in layout.row_baselines_mm:
        top = base - s.gain_mm_mv
        ys = np.array([base, base, top, top, base, base]) * ppm
        paint_polyline(ink, xs, ys, pen_px)


def _labels_and_separators(ink: np.ndarray, layout: PageLayout, pen_px: float) -> None:
    """Lead names above each cell's start, and a short bar where one column hands over to the next."""
    ppm = layout.px_per_mm
    for cell in layout.cells:
        label_y = cell.baseline_mm - min(cell.half_pitch_mm * 0.8, 9.0)
        draw_text(ink, cell.lead, (cell.x0_mm + 1.0) * ppm, label_y * ppm, LABEL_MM, ppm)
        if cell.column > 0:
            xs = np.array([cell.x0_mm, cell.x0_mm]) * ppm
            ys = np.array([cell.baseline_mm - 2.5, cell.baseline_mm + 2.5]) * ppm
            paint_polyline(ink, xs, ys, pen_px)


def _footer(ink: np.ndarray, layout: PageLayout, height_px: int) -> None:
    s, ppm = layout.settings, layout.px_per_mm
    text = f"{s.paper_speed_mm_s:g} mm/s   {s.gain_mm_mv:g} mm/mV   {s.layout}"
    y_px = height_px - (SMALL_MM + 3.0) * ppm
    draw_text(ink, text, layout.trace_x_mm * ppm, y_px, SMALL_MM, ppm)


def build_paper(settings: RenderSettings) -> PaperPage:
    """Lay out the page and pre-render everything that is the same for every record."""
    layout = build_layout(settings)
    height, width = settings.height_px, settings.width_px
    pen_px = settings.line_width_mm * settings.px_per_mm
    classes = grid_classes(height, width, settings.px_per_mm)
    ink = np.zeros((height, width), dtype=np.uint8)
    _calibration_pulses(ink, layout, pen_px)
    _labels_and_separators(ink, layout, pen_px)
    _footer(ink, layout, height)
    return PaperPage(layout=layout, classes=classes, static_ink=ink, width_px=pen_px)


def header_ink(settings: RenderSettings, text: str) -> np.ndarray:
    """Coverage of a one-line header (patient information), drawn only when the settings allow it."""
    ink = np.zeros((settings.height_px, settings.width_px), dtype=np.uint8)
    layout = build_layout(settings)
    ppm = settings.px_per_mm
    draw_text(ink, text, layout.calibration_x_mm * ppm, 3.0 * ppm, SMALL_MM, ppm)
    return ink
