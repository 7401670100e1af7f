"""A plain ECG paper page for inference when no project renderer is given.

12 rows x 10 s at 25 mm/s and 10 mm/mV on a red millimetre grid, 11 x 8.5 in at 200 dpi
(2200 x 1700 px), the page size GEM trained on. `tasks.render` owns the real renderer; pass
it to `model.infer.interpret(..., renderer=...)` to match the training images exactly.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from model.signal import LEADS, TARGET_FS

PAGE_MM = (279.4, 215.9)
DPI = 200
MM_PER_S, MM_PER_MV = 25.0, 10.0
LEFT_MM = 12.0


def render_page(ecg: np.ndarray, fs: int = TARGET_FS) -> Image.Image:
    """[12, samples] mV -> RGB page of 2200 x 1700 px."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    width_mm, height_mm = PAGE_MM
    fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width_mm)
    ax.set_ylim(0, height_mm)
    ax.axis("off")
    for step, colour, lw in ((1.0, "#f4b6b6", 0.3), (5.0, "#e06666", 0.7)):
        xs, ys = np.arange(0, width_mm, step), np.arange(0, height_mm, step)
        lines = [((x, 0), (x, height_mm)) for x in xs] + [((0, y), (width_mm, y)) for y in ys]
        ax.add_collection(LineCollection(lines, colors=colour, linewidths=lw))
    row_mm = height_mm / (len(LEADS) + 1)
    t_mm = LEFT_MM + np.arange(ecg.shape[1]) / fs * MM_PER_S
    traces = []
    for i, lead in enumerate(LEADS):
        base = height_mm - (i + 1) * row_mm
        traces.append(np.column_stack([t_mm, base + ecg[i] * MM_PER_MV]))
        ax.text(2.0, base + 3.0, lead, fontsize=9)
        traces.append(np.array([[4.0, base], [5.0, base], [5.0, base + 10], [10, base + 10], [10, base], [11, base]]))
    ax.add_collection(LineCollection(traces, colors="black", linewidths=0.6))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
