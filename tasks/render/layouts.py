"""Page layouts of a 12-lead paper ECG: which lead sits in which row and column, in mm and pixels."""
from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.images import MIN_MARGIN_MM, LeadBox, RenderSettings

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

HEADER_MM = 12.0  # room above the first row (patient line when enabled)
FOOTER_MM = 8.0  # room below the last row (speed and gain line)

# Rows of lead names per layout; a row with one name is a full-length strip.
_GRIDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x4": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
    "3x4+II": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"), ("II",)),
    "6x2": (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")),
    "12x1": tuple((lead,) for lead in STANDARD_LEADS),
}


@dataclass(frozen=True)
class Cell:
    """One trace segment on the page: a lead over [t0_s, t1_s), drawn from x0_mm on baseline_mm."""

    lead: str
    row: int
    column: int
    t0_s: float
    t1_s: float
    x0_mm: float
    baseline_mm: float
    half_pitch_mm: float


@dataclass(frozen=True)
class PageLayout:
    """Where everything goes on one page, in mm from the top-left corner (y down)."""

    settings: RenderSettings
    cells: tuple[Cell, ...]
    row_baselines_mm: tuple[float, ...]
    calibration_x_mm: float  # left end of the calibration pulse's lead-in
    trace_x_mm: float  # where t = 0 is drawn on every row

    @property
    def px_per_mm(self) -> float:
        return self.settings.px_per_mm

    def mm_per_s(self) -> float:
        return self.settings.paper_speed_mm_s

    def lead_box(self, cell: Cell) -> LeadBox:
        """The pixel box of a cell (see LeadBox for the conventions)."""
        ppm = self.px_per_mm
        width_mm = (cell.t1_s - cell.t0_s) * self.mm_per_s()
        return LeadBox(
            lead=cell.lead,
            x0=cell.x0_mm * ppm,
            y0=(cell.baseline_mm - cell.half_pitch_mm) * ppm,
            x1=(cell.x0_mm + width_mm) * ppm,
            y1=(cell.baseline_mm + cell.half_pitch_mm) * ppm,
            t0_s=cell.t0_s,
            t1_s=cell.t1_s,
        )

    def lead_boxes(self) -> list[LeadBox]:
        return [self.lead_box(cell) for cell in self.cells]


def layout_leads(layout: str) -> tuple[str, ...]:
    """Every lead a layout draws, once each, in page order."""
    seen: dict[str, None] = {}
    for row in _GRIDS[layout]:
        seen.update(dict.fromkeys(row))
    return tuple(seen)


def build_layout(settings: RenderSettings) -> PageLayout:
    """Place rows on integer mm (so baselines and trace starts sit on grid lines) and cut columns."""
    if settings.layout not in _GRIDS:
        raise ValueError(f"layout={settings.layout!r}: expected one of {sorted(_GRIDS)}")
    grid = _GRIDS[settings.layout]
    page_w_mm = settings.page_width_in * 25.4
    page_h_mm = settings.page_height_in * 25.4
    block_mm = settings.calibration_zone_mm + settings.duration_s * settings.paper_speed_mm_s
    left_mm = max(MIN_MARGIN_MM, math.floor((page_w_mm - block_mm) / 2))
    trace_x = left_mm + settings.calibration_zone_mm
    pitch = (page_h_mm - HEADER_MM - FOOTER_MM) / len(grid)
    baselines = tuple(float(round(HEADER_MM + pitch * (r + 0.5))) for r in range(len(grid)))
    cells: list[Cell] = []
    for r, row in enumerate(grid):
        col_s = settings.duration_s / len(row)
        for c, lead in enumerate(row):
            cells.append(
                Cell(
                    lead=lead,
                    row=r,
                    column=c,
                    t0_s=c * col_s,
                    t1_s=(c + 1) * col_s,
                    x0_mm=trace_x + c * col_s * settings.paper_speed_mm_s,
                    baseline_mm=baselines[r],
                    half_pitch_mm=pitch / 2,
                )
            )
    return PageLayout(
        settings=settings,
        cells=tuple(cells),
        row_baselines_mm=baselines,
        calibration_x_mm=float(left_mm),
        trace_x_mm=float(trace_x),
    )
