"""Seeded augmentations are off by default, recorded per image, reproducible, and keep boxes right."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from schemas.images import AugmentSettings, RenderSettings
from tasks.render import STANDARD_LEADS, Renderer
from tasks.render.augment import rotate_point

FS = 500


def square_record() -> np.ndarray:
    t = np.arange(10 * FS) / FS
    return np.tile(((t % 1.0) >= 0.5).astype(np.float64), (12, 1))


def darkness(png: bytes) -> np.ndarray:
    return 255 - np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(np.int32)


def test_augmentations_are_off_by_default_and_recorded_as_empty():
    page = Renderer(RenderSettings()).render(square_record(), FS, STANDARD_LEADS, seed=5)
    assert page.geometry.augmentations.to_json() == "{}"
    assert page.png == Renderer(RenderSettings()).render(square_record(), FS, STANDARD_LEADS, seed=6).png


def test_enabled_augmentations_are_recorded_and_reproducible_per_seed():
    renderer = Renderer(RenderSettings(augment=AugmentSettings(enabled=True, seed=3)))
    a = renderer.render(square_record(), FS, STANDARD_LEADS, seed=1)
    b = renderer.render(square_record(), FS, STANDARD_LEADS, seed=1)
    c = renderer.render(square_record(), FS, STANDARD_LEADS, seed=2)
    assert a.png == b.png and a.geometry == b.geometry
    assert a.png != c.png
    assert renderer.geometry(seed=1) == a.geometry
    applied = json.loads(a.geometry.augmentations.to_json())
    assert set(applied) == {"noise_std", "rotation_deg", "paper_rgb", "line_width_mm", "jpeg_quality"}
    assert abs(applied["rotation_deg"]) <= 1.5 and 40 <= applied["jpeg_quality"] <= 90
    image = Image.open(io.BytesIO(a.png))
    assert image.size == (2200, 1700)
    assert (image.format, a.format, a.extension) == ("JPEG", "jpeg", ".jpg")


def test_rotated_page_moves_its_lead_boxes_with_the_trace():
    augment = AugmentSettings(
        enabled=True, rotation_deg_max=3.0, noise_std_max=0, paper_tint_max=0, line_width_jitter=0, jpeg_quality_min=None
    )
    page = Renderer(RenderSettings(augment=augment)).render(square_record(), FS, STANDARD_LEADS, seed=11)
    deg = page.geometry.augmentations.rotation_deg
    assert deg is not None and abs(deg) > 0.5
    dark, ppm = darkness(page.png), page.geometry.px_per_mm
    unrotated = Renderer(RenderSettings()).render(square_record(), FS, STANDARD_LEADS).geometry.lead_boxes[-1]
    x = unrotated.x0 + 9.5 * 25 * ppm  # the last rising edge of the rhythm strip, half way up
    y = (unrotated.y0 + unrotated.y1) / 2 - 5 * ppm
    rx, ry = rotate_point(x, y, deg, 1100, 850)
    assert dark[int(ry) - 2 : int(ry) + 3, int(rx) - 2 : int(rx) + 3].max() > 150
    assert dark[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3].max() < 150
    box = page.geometry.lead_boxes[-1]
    assert box.x0 <= rx <= box.x1 and box.y0 <= ry <= box.y1


def test_patient_information_is_printed_only_when_enabled():
    header = "Jane Doe  MRN 12345  1950-01-01"
    hidden = Renderer(RenderSettings()).render(square_record(), FS, STANDARD_LEADS, header=header)
    plain = Renderer(RenderSettings()).render(square_record(), FS, STANDARD_LEADS)
    shown = Renderer(RenderSettings(show_patient_info=True)).render(square_record(), FS, STANDARD_LEADS, header=header)
    assert hidden.png == plain.png
    top = darkness(shown.png)[: int(12 * shown.geometry.px_per_mm)]
    assert (top > 150).sum() > 200


@pytest.mark.parametrize("field", ["noise_std_max", "rotation_deg_max"])
def test_augment_settings_refuse_out_of_range_values_naming_the_field(field):
    with pytest.raises(ValueError, match=field):
        AugmentSettings(**{field: -1.0})
