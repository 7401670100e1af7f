"""Calibration measured on the pixels: 1 mV is 10 mm, 1 s is 25 mm, and the recorded geometry matches."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from schemas.images import LeadBox, RenderSettings
from tasks.render import STANDARD_LEADS, Renderer

FS = 500


def square_record(fs: int = FS, seconds: float = 10.0) -> np.ndarray:
    """Every lead: 0 mV on [k, k+0.5) s, 1 mV on [k+0.5, k+1) s."""
    t = np.arange(int(seconds * fs)) / fs
    wave = ((t % 1.0) >= 0.5).astype(np.float64)
    return np.tile(wave, (12, 1))


def ink_mask(png: bytes) -> np.ndarray:
    """How much black ink covers each pixel, about 0..1 (the grid's red and pink read as 0)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)
    return np.clip((200.0 - rgb.max(axis=2)) / 200.0, 0.0, 1.0)


def trace_rows(box: LeadBox, ppm: float) -> tuple[int, int]:
    """Rows from 12 mm above to 3 mm below the box's baseline (a 1 mV wave may leave a low box)."""
    mid = (box.y0 + box.y1) / 2
    return int(mid - 12 * ppm), int(np.ceil(mid + 3 * ppm))


def edge_columns(mask: np.ndarray, box: LeadBox, ppm: float, min_mm: float = 2.0) -> np.ndarray:
    """Ink-weighted centres (c + 0.5) of the vertical strokes in a lead box's columns.

    A column belongs to a stroke when it holds more than min_mm of ink (a flat line holds
    about one pen width); neighbouring such columns form one stroke. The first 8 mm, where the
    lead label and the column separator sit, are skipped.
    """
    r0, r1 = trace_rows(box, ppm)
    c0, c1 = int(np.ceil(box.x0 + 8 * ppm)), int(box.x1 - 1)
    profile = mask[r0:r1, c0:c1].sum(axis=0)
    cols = np.flatnonzero(profile > min_mm * ppm)
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    return np.array([c0 + np.average(g, weights=profile[g]) + 0.5 for g in groups if g.size])


def level_row(mask: np.ndarray, col: float, box: LeadBox, ppm: float) -> float:
    """Centre (r + 0.5) of the ink in one pixel column near a box's baseline (a flat part of the trace)."""
    c = int(col)
    r0, r1 = trace_rows(box, ppm)
    weights = mask[r0:r1, c]
    assert weights.sum() > 0.5, f"no ink at column {c} of {box.lead}"
    return r0 + float(np.average(np.arange(weights.size), weights=weights)) + 0.5


@pytest.fixture(scope="module")
def default_page():
    renderer = Renderer(RenderSettings())
    page = renderer.render(square_record(), FS, STANDARD_LEADS)
    return page, ink_mask(page.png)


def test_one_second_spans_25_mm_on_the_rhythm_strip(default_page):
    page, mask = default_page
    ppm = page.geometry.px_per_mm
    box = page.geometry.lead_boxes[-1]
    assert (box.lead, box.t0_s, box.t1_s) == ("II", 0.0, 10.0)
    edges = edge_columns(mask, box, ppm)
    assert len(edges) == 19  # 10 rises (t = 0.5 .. 9.5) and 9 falls (t = 1 .. 9)
    assert np.all(np.abs(np.diff(edges[::2]) - 25.0 * ppm) <= 1.0)
    expected = box.x0 + (np.arange(19) * 0.5 + 0.5 - box.t0_s) * 25.0 * ppm
    assert np.all(np.abs(edges - expected) <= 1.0), edges - expected


def test_one_millivolt_spans_10_mm_and_baseline_is_the_box_midline(default_page):
    page, mask = default_page
    ppm = page.geometry.px_per_mm
    box = page.geometry.lead_boxes[-1]
    mid = (box.y0 + box.y1) / 2
    for second in range(2, 10):
        low_col = box.x0 + (second + 0.25) * 25.0 * ppm
        high_col = box.x0 + (second + 0.75) * 25.0 * ppm
        low, high = level_row(mask, low_col, box, ppm), level_row(mask, high_col, box, ppm)
        assert abs((low - high) - 10.0 * ppm) <= 1.0
        assert abs(low - mid) <= 1.0


@pytest.mark.parametrize("layout", ["3x4+II", "3x4", "6x2", "12x1"])
def test_every_lead_box_matches_its_trace_in_every_layout(layout):
    page = Renderer(RenderSettings(layout=layout)).render(square_record(), FS, STANDARD_LEADS)
    mask, geo = ink_mask(page.png), page.geometry
    ppm = geo.px_per_mm
    for box in geo.lead_boxes:
        edges = edge_columns(mask, box, ppm)
        times = np.arange(np.ceil(box.t0_s * 2 + 0.01), np.ceil(box.t1_s * 2)) / 2  # every 0.5 s inside
        expected = box.x0 + (times - box.t0_s) * 25.0 * ppm
        assert edges.size == expected.size, (box, edges)
        assert np.all(np.abs(edges - expected) <= 1.0), (box.lead, edges - expected)
        first_low = box.x0 + (np.floor(box.t0_s) + 0.25 - box.t0_s) * 25.0 * ppm
        col = first_low if first_low > box.x0 + 12 * ppm else first_low + 25.0 * ppm
        low = level_row(mask, col, box, ppm)
        high = level_row(mask, col + 12.5 * ppm, box, ppm)
        assert abs(low - (box.y0 + box.y1) / 2) <= 1.0, box.lead
        assert abs((low - high) - 10.0 * ppm) <= 1.0, box.lead


def test_calibration_pulse_is_one_millivolt_by_200_ms(default_page):
    page, mask = default_page
    ppm = page.geometry.px_per_mm
    box = page.geometry.lead_boxes[-1]
    pulse = LeadBox(lead="cal", x0=box.x0 - 18 * ppm, y0=box.y0, x1=box.x0 - 0.5 * ppm, y1=box.y1, t0_s=0, t1_s=0)
    edges = edge_columns(mask, pulse, ppm)
    assert edges.size == 2
    assert abs((edges[1] - edges[0]) - 5.0 * ppm) <= 1.0  # 200 ms at 25 mm/s
    bottom = level_row(mask, edges[0] - 1.0 * ppm, pulse, ppm)
    top = level_row(mask, (edges[0] + edges[1]) / 2, pulse, ppm)
    assert abs((bottom - top) - 10.0 * ppm) <= 1.0


@pytest.mark.parametrize(("dpi", "width_in", "height_in"), [(100, 11.0, 8.5), (300, 11.0, 8.5), (200, 11.69, 8.27)])
def test_scale_holds_at_other_dpi_and_page_sizes(dpi, width_in, height_in):
    settings = RenderSettings(dpi=dpi, page_width_in=width_in, page_height_in=height_in)
    page = Renderer(settings).render(square_record(), FS, STANDARD_LEADS)
    image = Image.open(io.BytesIO(page.png))
    assert image.size == (round(width_in * dpi), round(height_in * dpi))
    geo = page.geometry
    assert (geo.width, geo.height) == image.size
    assert geo.px_per_mm == pytest.approx(dpi / 25.4)
    mask, box = ink_mask(page.png), geo.lead_boxes[-1]
    edges = edge_columns(mask, box, geo.px_per_mm)
    expected = box.x0 + (np.arange(19) * 0.5 + 0.5) * 25.0 * geo.px_per_mm
    assert np.all(np.abs(edges - expected) <= 1.0)
