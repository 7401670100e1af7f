"""Vision payloads: pages shrink to the size the provider bills, the billed tokens stay the same, and batch
requests to the local server carry the small page."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from storage.ledger import Ledger
from tasks.teachers import batch
from tasks.teachers.vision import billed_size, downscale, image_part, image_tokens, page_size
from tests.openai_server import image_sizes
from tests.teacher_support import contexts, fake_openai, llm_config, plan, server  # noqa: F401


@pytest.fixture(scope="module")
def real_page(cinc2021_dir: Path) -> bytes:
    """A default page (2200 x 1700, 200 dpi) of a real CinC-2021 record, drawn by gemflow's renderer."""
    wfdb = pytest.importorskip("wfdb")
    from schemas.images import RenderSettings
    from tasks.render import Renderer
    record = wfdb.rdrecord(str(sorted(cinc2021_dir.glob("*.hea"))[1].with_suffix("")))
    return Renderer(RenderSettings()).render(record.p_signal.T, record.fs, record.sig_name).png


def test_a_letter_page_is_billed_at_994_by_768_for_765_tokens():
    assert billed_size(2200, 1700) == (994, 768)
    assert image_tokens(2200, 1700) == image_tokens(994, 768) == 765
    assert billed_size(4096, 8192) == (768, 1536)  # OpenAI's documented example
    assert image_tokens(512, 512) == 85 + 170


@given(st.integers(1, 12_000), st.integers(1, 12_000))
@settings(deadline=None)
def test_the_billed_size_never_grows_fits_the_limits_and_bills_the_same(w, h):
    bw, bh = billed_size(w, h)
    assert bw <= w and bh <= h
    assert max(bw, bh) <= 2048 and min(bw, bh) <= 768
    assert billed_size(bw, bh) == (bw, bh)
    assert image_tokens(bw, bh) == image_tokens(w, h)


@given(st.binary(max_size=200))
@settings(max_examples=60, deadline=None)
def test_bytes_that_are_not_an_image_are_refused_with_a_reason(data):
    try:
        out = downscale(data)
    except ValueError as exc:
        assert "not a readable image" in str(exc)
    else:
        assert out == data  # only a real image at or under its billed size comes back unchanged


def test_a_real_page_shrinks_to_the_billed_size_with_the_same_tokens(real_page):
    small = downscale(real_page)
    assert page_size(real_page) == (2200, 1700) and page_size(small) == (994, 768)
    assert image_tokens(*page_size(small)) == image_tokens(*page_size(real_page)) == 765
    assert len(small) < len(real_page)
    grey = Image.open(io.BytesIO(small)).convert("L")
    assert min(grey.getdata()) < 100  # the traces survive the reduction (dark ink on the page)


def test_a_page_already_at_the_billed_size_is_sent_byte_for_byte():
    buf = io.BytesIO()
    Image.new("RGB", (700, 500), "white").save(buf, format="PNG")
    assert downscale(buf.getvalue()) == buf.getvalue()


def _vision_records(tmp_path: Path, page: bytes, n: int):
    (tmp_path / "images").mkdir()
    ctxs = []
    for ctx in contexts(n):
        rel = f"images/{ctx.record_id}.png"
        (tmp_path / rel).write_bytes(page)
        ctxs.append(ctx.model_copy(update={"image_path": rel, "image_sha256": hashlib.sha256(page).hexdigest()}))
    return ctxs


def test_batch_requests_carry_the_downscaled_page_and_estimate_its_billed_tokens(server, tmp_path, real_page):
    tcfg = llm_config(server.base_url, batch=True, batch_poll_s=0.01, batch_enqueued_tokens=10**7, vision=True)
    work = plan(_vision_records(tmp_path, real_page, 3), "fake", tcfg)
    item = batch._item(*work[0], tcfg, tmp_path)
    assert item.image == "images/r0000.png" and item.tokens > 765
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.register(r for r, _ in work)
        batch.submit_batches(work, ledger, "fake", tcfg, data_root=tmp_path)
        res = batch.wait_for_batches(ledger, "fake", tcfg, data_root=tmp_path, wait_s=5, sleep=lambda s: None)
    assert res.done == 3
    sizes = [s for body in server.fake.counters.bodies for s in image_sizes(body)]
    assert [(w, h) for w, h, _ in sizes] == [(994, 768)] * 3
    assert all(n < len(real_page) for _, _, n in sizes)
    (_, uploaded), = server.fake.batch_log.uploads
    assert uploaded < 3 * len(real_page) * 4 / 3  # less than the full pages' base64 alone


def test_the_image_part_is_the_downscaled_page_at_high_detail(tmp_path, real_page):
    ctx = _vision_records(tmp_path, real_page, 1)[0]
    part = image_part(ctx, tmp_path)
    assert part["image_url"]["detail"] == "high"
    body = {"messages": [{"role": "user", "content": [part]}]}
    assert [(w, h) for w, h, _ in image_sizes(body)] == [(994, 768)]


def test_sync_requests_carry_the_same_downscaled_page_as_batch_ones(server, tmp_path, real_page):
    from tasks.teachers.client import ask_one
    tcfg = llm_config(server.base_url, vision=True)
    (req, ctx), = plan(_vision_records(tmp_path, real_page, 1), "fake", tcfg)
    resp = ask_one(req, ctx, "fake", tcfg, data_root=tmp_path)
    assert resp.status == "ok"
    sizes = [s for body in server.fake.counters.bodies for s in image_sizes(body)]
    assert [(w, h) for w, h, _ in sizes] == [(994, 768)]
    assert sizes[0][2] == len(downscale(real_page))  # byte for byte what vision.downscale makes
