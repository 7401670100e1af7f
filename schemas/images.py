"""Typed records of the render stage: render settings, page geometry and the `images` table schema."""
from __future__ import annotations

import hashlib
import json
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

Layout = Literal["3x4+II", "6x2", "12x1", "3x4"]

MM_PER_INCH = 25.4
MIN_MARGIN_MM = 3.0
MIN_PAGE_HEIGHT_MM = 80.0  # header, footer and rows of at least ~5 mm


class AugmentSettings(BaseModel):
    """Seeded image augmentations; off unless `enabled`. Each value is the maximum drawn per image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    seed: int = 0
    noise_std_max: float = Field(4.0, ge=0.0, le=64.0, description="max Gaussian pixel noise std, 0-255 scale")
    rotation_deg_max: float = Field(1.5, ge=0.0, le=10.0, description="max absolute page rotation, degrees")
    paper_tint_max: float = Field(0.2, ge=0.0, le=0.5, description="max yellow/grey tint of the paper, 0-1")
    line_width_jitter: float = Field(0.3, ge=0.0, le=0.9, description="trace width scaled by 1 +/- this")
    jpeg_quality_min: int | None = Field(40, ge=5, le=95, description="encode as JPEG at a quality in [min, max]")
    jpeg_quality_max: int = Field(90, ge=5, le=95, description="None as jpeg_quality_min keeps PNG")


class RenderSettings(BaseModel):
    """How a clinical paper ECG page is drawn. The defaults give a 2200x1700 px 3x4+II page at 200 dpi."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: Layout = "3x4+II"
    dpi: int = Field(200, ge=50, le=600)
    page_width_in: float = Field(11.0, gt=0.0, le=40.0)
    page_height_in: float = Field(8.5, gt=0.0, le=40.0)
    paper_speed_mm_s: float = Field(25.0, gt=0.0, le=100.0)
    gain_mm_mv: float = Field(10.0, gt=0.0, le=40.0)
    duration_s: float = Field(10.0, gt=0.0, le=60.0, description="seconds shown on one full row")
    line_width_mm: float = Field(0.25, gt=0.0, le=2.0)
    png_compress_level: int = Field(3, ge=0, le=9)
    augment: AugmentSettings = AugmentSettings()
    show_patient_info: bool = False

    @property
    def width_px(self) -> int:
        return int(round(self.page_width_in * self.dpi))

    @property
    def height_px(self) -> int:
        return int(round(self.page_height_in * self.dpi))

    @property
    def px_per_mm(self) -> float:
        return self.dpi / MM_PER_INCH

    @property
    def calibration_zone_mm(self) -> float:
        """Width left of each row for the 1 mV x 200 ms calibration pulse (2 mm before, 3 mm after)."""
        return 0.2 * self.paper_speed_mm_s + 5.0

    @model_validator(mode="after")
    def _rows_fit_the_page(self) -> RenderSettings:
        needed_mm = self.duration_s * self.paper_speed_mm_s + self.calibration_zone_mm + 2 * MIN_MARGIN_MM
        page_mm = self.page_width_in * MM_PER_INCH
        if needed_mm > page_mm:
            raise ValueError(
                f"page_width_in={self.page_width_in}: a {self.duration_s} s row at {self.paper_speed_mm_s} mm/s "
                f"needs {needed_mm:.0f} mm with margins, the page has {page_mm:.0f} mm "
                "(widen the page, or lower duration_s or paper_speed_mm_s)"
            )
        if self.page_height_in * MM_PER_INCH < MIN_PAGE_HEIGHT_MM:
            raise ValueError(f"page_height_in={self.page_height_in}: a page needs {MIN_PAGE_HEIGHT_MM:.0f} mm of height")
        return self

    def settings_hash(self) -> str:
        """Stable 16-hex-digit hash of every setting (sorted-key JSON)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class LeadBox(BaseModel):
    """Pixel box of one lead's trace cell on the page, and the time span it shows.

    The cell is [x0, x1) x [y0, y1) in pixel coordinates (x right, y down, pixel (r, c) covers
    [c, c+1) x [r, r+1)). x0 is where t0_s is drawn, x1 where t1_s would be; the 0 mV baseline is
    the horizontal mid-line (y0 + y1) / 2. Large waves may leave the cell, as on paper.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead: str
    x0: float
    y0: float
    x1: float
    y1: float
    t0_s: float
    t1_s: float


class AppliedAugmentations(BaseModel):
    """The augmentations drawn for one image (None: not applied)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    noise_std: float | None = None
    rotation_deg: float | None = None
    paper_rgb: tuple[int, int, int] | None = None
    line_width_mm: float | None = None
    jpeg_quality: int | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)


class ImageGeometry(BaseModel):
    """What the pixels of one rendered page mean: size, scale and where each lead is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int
    height: int
    dpi: int
    px_per_mm: float
    layout: Layout
    lead_boxes: list[LeadBox]
    augmentations: AppliedAugmentations = AppliedAugmentations()

    def box(self, lead: str, t_s: float | None = None) -> LeadBox:
        """The box of `lead` (the one showing time `t_s`, when a lead appears twice)."""
        for box in self.lead_boxes:
            if box.lead == lead and (t_s is None or box.t0_s <= t_s < box.t1_s):
                return box
        raise KeyError(f"no box for lead {lead!r} at t={t_s}")


_LEAD_BOX_TYPE = pa.struct(
    [
        ("lead", pa.string()),
        ("x0", pa.float32()),
        ("y0", pa.float32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("t0_s", pa.float32()),
        ("t1_s", pa.float32()),
    ]
)

IMAGES_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("layout", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("px_per_mm", pa.float64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("dpi", pa.int32(), nullable=False),
        pa.field("settings_hash", pa.string(), nullable=False),
        pa.field("render_key", pa.string(), nullable=False),
        pa.field("lead_boxes", pa.list_(_LEAD_BOX_TYPE), nullable=False),
        pa.field("augmentations", pa.string(), nullable=False),
    ]
)


def image_row(
    record_id: str,
    path: str,
    sha256: str,
    geometry: ImageGeometry,
    *,
    settings_hash: str,
    render_key: str,
) -> dict[str, object]:
    """One row of the `images` table, with the columns and types of IMAGES_SCHEMA."""
    return {
        "record_id": record_id,
        "layout": geometry.layout,
        "path": path,
        "width": geometry.width,
        "height": geometry.height,
        "px_per_mm": geometry.px_per_mm,
        "sha256": sha256,
        "dpi": geometry.dpi,
        "settings_hash": settings_hash,
        "render_key": render_key,
        "lead_boxes": [box.model_dump() for box in geometry.lead_boxes],
        "augmentations": geometry.augmentations.to_json(),
    }
