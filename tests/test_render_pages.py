"""Page-level behaviour of the renderer: determinism, cache keys, layouts, inputs it refuses, schema rows."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from schemas.images import IMAGES_SCHEMA, ImageGeometry, RenderSettings, image_row
from tasks.render import STANDARD_LEADS, Renderer, RenderError, render_key

FS = 500


def synthetic_record(seed: int = 0, fs: int = FS, seconds: float = 10.0) -> np.ndarray:
    """A seeded 12-lead toy ECG: Gaussian P, QRS and T waves at ~70 bpm plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beats = np.arange(0.4, seconds, 60 / 70)
    base = np.zeros_like(t)
    for b in beats:
        for offset, width, amp in ((-0.16, 0.025, 0.15), (0.0, 0.012, 1.2), (0.25, 0.05, 0.3)):
            base += amp * np.exp(-(((t - b - offset) / width) ** 2))
    gains = rng.uniform(-1.0, 1.5, size=(12, 1))
    return gains * base + rng.normal(0, 0.01, size=(12, t.size))


def png_chunks(png: bytes) -> list[str]:
    """Chunk types of a PNG file, in order."""
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunks.append(png[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return chunks


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(RenderSettings())


def test_same_record_and_settings_give_identical_png_bytes(renderer):
    signal = synthetic_record(1)
    first = renderer.render(signal, FS, STANDARD_LEADS).png
    again = renderer.render(signal, FS, STANDARD_LEADS).png
    fresh = Renderer(RenderSettings()).render(signal.copy(), FS, list(STANDARD_LEADS)).png
    assert first == again == fresh


def test_png_carries_no_metadata_chunks(renderer):
    png = renderer.render(synthetic_record(2), FS, STANDARD_LEADS).png
    assert png_chunks(png) == ["IHDR", "PLTE"] + ["IDAT"] * (png_chunks(png).count("IDAT")) + ["IEND"]


def test_default_page_is_2200_by_1700_with_13_lead_boxes(renderer):
    page = renderer.render(synthetic_record(3), FS, STANDARD_LEADS)
    assert Image.open(io.BytesIO(page.png)).size == (2200, 1700)
    geo = page.geometry
    assert (geo.width, geo.height, geo.dpi, geo.layout) == (2200, 1700, 200, "3x4+II")
    assert geo.px_per_mm == pytest.approx(200 / 25.4)
    assert len(geo.lead_boxes) == 13


def test_geometry_is_known_without_drawing(renderer):
    page = renderer.render(synthetic_record(3), FS, STANDARD_LEADS)
    assert renderer.geometry() == page.geometry


def test_render_modules_import_without_prefect():
    code = "import sys, tasks.render, schemas.images; assert 'prefect' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_columns_show_consecutive_time_slices_as_on_clinical_printouts(renderer):
    geo = renderer.render(synthetic_record(4), FS, STANDARD_LEADS).geometry
    spans = {box.lead: (box.t0_s, box.t1_s) for box in geo.lead_boxes[:12]}
    for column, leads in enumerate((("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))):
        for lead in leads:
            assert spans[lead] == (2.5 * column, 2.5 * (column + 1))
    assert (geo.lead_boxes[-1].lead, geo.lead_boxes[-1].t1_s) == ("II", 10.0)


@pytest.mark.parametrize(("layout", "n_boxes", "span_s"), [("3x4", 12, 2.5), ("6x2", 12, 5.0), ("12x1", 12, 10.0)])
def test_other_layouts_place_every_lead_once(layout, n_boxes, span_s):
    geo = Renderer(RenderSettings(layout=layout)).render(synthetic_record(5), FS, STANDARD_LEADS).geometry
    assert sorted(box.lead for box in geo.lead_boxes) == sorted(STANDARD_LEADS)
    assert all(box.t1_s - box.t0_s == span_s for box in geo.lead_boxes)
    assert all(0 <= box.x0 < box.x1 <= geo.width and 0 <= box.y0 < box.y1 <= geo.height for box in geo.lead_boxes)


def test_render_key_follows_signal_and_settings_but_not_seed_without_augmentation():
    signal, settings = synthetic_record(6), RenderSettings()
    key = render_key(signal, FS, settings)
    assert key == render_key(signal.astype(np.float32), FS, RenderSettings())
    assert key == render_key(signal, FS, settings, seed=7)
    changed = signal.copy()
    changed[3, 100] += 0.01
    assert render_key(changed, FS, settings) != key
    assert render_key(signal, FS, RenderSettings(layout="12x1")) != key
    assert render_key(signal, 250, settings) != key


def test_settings_hash_is_stable_and_sensitive():
    assert RenderSettings().settings_hash() == RenderSettings(layout="3x4+II", dpi=200).settings_hash()
    assert RenderSettings().settings_hash() != RenderSettings(png_compress_level=1).settings_hash()
    assert len(RenderSettings().settings_hash()) == 16


def test_a_page_too_narrow_for_ten_seconds_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="page_width_in"):
        RenderSettings(page_width_in=8.0)
    with pytest.raises(ValueError, match="page_height_in"):
        RenderSettings(page_height_in=2.0)


def test_a_record_missing_a_lead_is_refused_with_the_lead_named(renderer):
    leads = list(STANDARD_LEADS[:11]) + ["X"]
    with pytest.raises(RenderError, match="V6"):
        renderer.render(synthetic_record(7), FS, leads)


def test_lead_names_match_case_insensitively_and_in_any_order(renderer):
    signal = synthetic_record(8)
    order = np.random.default_rng(0).permutation(12)
    shuffled = [STANDARD_LEADS[i].upper() for i in order]
    assert renderer.render(signal[order], FS, shuffled).png == renderer.render(signal, FS, STANDARD_LEADS).png


def test_gaps_and_short_records_render_without_error(renderer):
    signal = synthetic_record(9, seconds=6.0)
    signal[:, 1000:1200] = np.nan
    page = renderer.render(signal, FS, STANDARD_LEADS)
    assert Image.open(io.BytesIO(page.png)).size == (2200, 1700)


def test_other_sampling_rates_draw_the_same_time_scale():
    """A 250 Hz copy of a record draws almost the same ink as the 500 Hz original."""
    r = Renderer(RenderSettings(layout="12x1"))
    signal = synthetic_record(10)
    a = np.asarray(Image.open(io.BytesIO(r.render(signal, FS, STANDARD_LEADS).png)).convert("L")) < 100
    b = np.asarray(Image.open(io.BytesIO(r.render(signal[:, ::2], 250, STANDARD_LEADS).png)).convert("L")) < 100
    assert (a & b).sum() / a.sum() > 0.8


def test_image_rows_fit_the_images_schema(renderer):
    page = renderer.render(synthetic_record(11), FS, STANDARD_LEADS)
    row = image_row(
        "rec-1",
        "images/rec-1.png",
        page.sha256,
        page.geometry,
        settings_hash=renderer.settings.settings_hash(),
        render_key=render_key(synthetic_record(11), FS, renderer.settings),
    )
    table = pa.Table.from_pylist([row], schema=IMAGES_SCHEMA)
    back = table.to_pylist()[0]
    assert back["lead_boxes"][-1]["lead"] == "II"
    assert back["lead_boxes"][0]["x0"] == pytest.approx(page.geometry.lead_boxes[0].x0, abs=1e-3)
    assert back["augmentations"] == "{}"
    assert ImageGeometry.model_validate_json(page.geometry.model_dump_json()) == page.geometry


def test_real_cinc2021_record_renders_on_the_default_page(cinc2021_dir: Path, renderer):
    wfdb = pytest.importorskip("wfdb")
    header = sorted(cinc2021_dir.glob("*.hea"))[0]
    record = wfdb.rdrecord(str(header.with_suffix("")))
    signal = record.p_signal.T
    page = renderer.render(signal, record.fs, record.sig_name)
    again = renderer.render(signal, record.fs, record.sig_name)
    assert page.png == again.png
    ink = np.asarray(Image.open(io.BytesIO(page.png)).convert("L")) < 100
    for box in page.geometry.lead_boxes:
        inside = ink[int(box.y0) : int(box.y1), int(box.x0) + 40 : int(box.x1)]
        assert inside.sum() > 200, f"lead {box.lead} drew almost nothing in its box"
