"""Render a 12-lead record onto clinical ECG paper as deterministic PNG bytes plus its pixel geometry."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from schemas.images import AppliedAugmentations, ImageGeometry, RenderSettings
from tasks.render.augment import apply_pixels, draw_augmentations, rotate_box
from tasks.render.layouts import PageLayout, layout_leads
from tasks.render.paper import PaperPage, build_paper, header_ink, ink_levels, palette
from tasks.render.raster import paint_polyline

RENDER_VERSION = "1"  # bump when the drawing changes, so cached images are redrawn


class RenderError(ValueError):
    """A record that cannot be drawn; the message says why (for the quarantine table)."""


@dataclass(frozen=True)
class RenderedPage:
    """One rendered page: the encoded image and what its pixels mean.

    `png` holds PNG bytes, except when a drawn augmentation asks for JPEG compression: then it
    holds JPEG bytes and `format` is "jpeg" (save it under `extension`).
    """

    png: bytes
    geometry: ImageGeometry
    format: str = "png"

    @property
    def extension(self) -> str:
        return ".jpg" if self.format == "jpeg" else ".png"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


def render_key(
    signal: np.ndarray,
    fs: float,
    settings: RenderSettings,
    *,
    leads: Sequence[str] | None = None,
    seed: int = 0,
) -> str:
    """Cache key of a page: sha256 of the signal (as float32), fs, leads, settings hash and version.

    The seed counts only when augmentations are on, since otherwise it changes nothing.
    """
    digest = hashlib.sha256()
    data = np.ascontiguousarray(signal, dtype="<f4")
    digest.update(f"v{RENDER_VERSION}|{data.shape}|{float(fs)!r}|{settings.settings_hash()}|".encode())
    if leads is not None:
        digest.update(("|".join(leads) + "|").encode())
    if settings.augment.enabled:
        digest.update(f"seed={seed}|".encode())
    digest.update(data.tobytes())
    return digest.hexdigest()


def _lead_rows(leads: Sequence[str], signal: np.ndarray, layout: str) -> dict[str, int]:
    """Map each lead the layout needs to its row in `signal` (names matched case-insensitively)."""
    if signal.ndim != 2 or signal.shape[0] != len(leads):
        raise RenderError(f"signal shape {signal.shape} does not match {len(leads)} lead names")
    by_name = {name.lower(): i for i, name in enumerate(leads)}
    missing = [lead for lead in layout_leads(layout) if lead.lower() not in by_name]
    if missing:
        raise RenderError(f"layout {layout} needs leads {missing}, record has {list(leads)}")
    return {lead: by_name[lead.lower()] for lead in layout_leads(layout)}


def _encode_png(image: Image.Image, compress_level: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=compress_level, optimize=False)
    return buffer.getvalue()


class Renderer:
    """Draws pages for one RenderSettings; the grid, labels and palette are built once and reused."""

    def __init__(self, settings: RenderSettings | None = None) -> None:
        self.settings = settings or RenderSettings()
        self.paper: PaperPage = build_paper(self.settings)
        self._levels = ink_levels()
        self._palette = palette()
        self._boxes = self.layout.lead_boxes()
        self._static_indexed = self.paper.classes + self._levels[self.paper.static_ink]

    @property
    def layout(self) -> PageLayout:
        return self.paper.layout

    def render(
        self,
        signal: np.ndarray,
        fs: float,
        leads: Sequence[str],
        seed: int = 0,
        *,
        header: str | None = None,
    ) -> RenderedPage:
        """Draw `signal` (leads x samples, mV, sampled at `fs` Hz) and return PNG bytes + geometry.

        `header` (e.g. patient information) is printed only when settings.show_patient_info is set.
        `seed` picks the augmentations when settings.augment.enabled; otherwise it changes nothing.
        """
        if not fs or fs <= 0:
            raise RenderError(f"sampling rate fs={fs} must be positive")
        signal = np.asarray(signal)
        rows = _lead_rows(leads, signal, self.settings.layout)
        applied = draw_augmentations(self.settings.augment, self.settings.line_width_mm, seed)
        pen_mm = applied.line_width_mm or self.settings.line_width_mm
        ink, touched = self._trace_ink(signal, float(fs), rows, pen_mm * self.settings.px_per_mm)
        if header and self.settings.show_patient_info:
            extra = header_ink(self.settings, header)
            np.maximum(ink, extra, out=ink)
            touched = np.concatenate([touched, np.flatnonzero(extra)])
        indexed = self._static_indexed.copy()
        flat = indexed.reshape(-1)
        flat[touched] = self.paper.classes.reshape(-1)[touched] + self._levels[ink.reshape(-1)[touched]]
        if self.settings.augment.enabled:
            return self._augmented_page(indexed, applied, seed)
        image = Image.fromarray(indexed, "P")
        image.putpalette(self._palette.tobytes())
        return RenderedPage(png=_encode_png(image, self.settings.png_compress_level), geometry=self._geometry())

    def _trace_ink(
        self, signal: np.ndarray, fs: float, rows: dict[str, int], pen_px: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Static ink plus every cell's trace segment (uint8 coverage), and the flat pixels the traces touched."""
        s, ppm = self.settings, self.settings.px_per_mm
        ink = self.paper.static_ink.copy()
        n = signal.shape[1]
        touched = []
        for cell in self.layout.cells:
            i0 = min(n, int(np.ceil(cell.t0_s * fs - 1e-9)))
            i1 = min(n, int(np.ceil(cell.t1_s * fs - 1e-9)))
            if i1 - i0 < 1:
                continue
            t = np.arange(i0, i1, dtype=np.float64) / fs
            xs = (cell.x0_mm + (t - cell.t0_s) * s.paper_speed_mm_s) * ppm
            values = signal[rows[cell.lead], i0:i1].astype(np.float64)
            ys = (cell.baseline_mm - values * s.gain_mm_mv) * ppm
            touched.append(paint_polyline(ink, xs, ys, pen_px))
        return ink, np.concatenate(touched) if touched else np.empty(0, dtype=np.int64)

    def geometry(self, seed: int = 0) -> ImageGeometry:
        """The geometry `render(..., seed=seed)` returns, without drawing (it never depends on the signal)."""
        applied = draw_augmentations(self.settings.augment, self.settings.line_width_mm, seed)
        return self._geometry(applied)

    def _geometry(self, applied: AppliedAugmentations | None = None) -> ImageGeometry:
        s = self.settings
        boxes = self._boxes
        if applied is not None and applied.rotation_deg:
            boxes = [rotate_box(b, applied.rotation_deg, s.width_px, s.height_px) for b in boxes]
        return ImageGeometry(
            width=s.width_px,
            height=s.height_px,
            dpi=s.dpi,
            px_per_mm=s.px_per_mm,
            layout=s.layout,
            lead_boxes=list(boxes),
            augmentations=applied or AppliedAugmentations(),
        )

    def _augmented_page(self, indexed: np.ndarray, applied: AppliedAugmentations, seed: int) -> RenderedPage:
        rgb = palette(applied.paper_rgb or (255, 255, 255))[indexed]
        image = apply_pixels(rgb, applied, (self.settings.augment.seed, seed))
        if applied.jpeg_quality is not None:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=applied.jpeg_quality)
            return RenderedPage(png=buffer.getvalue(), geometry=self._geometry(applied), format="jpeg")
        png = _encode_png(image, self.settings.png_compress_level)
        return RenderedPage(png=png, geometry=self._geometry(applied))
