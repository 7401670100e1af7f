"""Vision payloads: shrink a rendered page to the size the provider bills, and count its image tokens.

OpenAI's `detail: high` pricing (gpt-4o and its batch mode) first scales an image to fit within
2048 x 2048, then so that its shortest side is 768 px, and bills 170 tokens per 512 px tile of the
result plus 85. A 2200 x 1700 page is billed as 994 x 768: 2 x 2 tiles, 765 tokens. Sending the
full page costs bandwidth and provider storage (batch input files), not tokens, so gemflow sends
the billed size itself: the same tokens, a smaller payload. Images already at or under that size
are sent unchanged (byte for byte); nothing is ever scaled up.
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from PIL import Image

from schemas.teacher import RecordContext

FIT_SIDE = 2048  # first: fit within FIT_SIDE x FIT_SIDE
SHORT_SIDE = 768  # then: shortest side at most SHORT_SIDE
TILE = 512
TILE_TOKENS, BASE_TOKENS = 170, 85
PALETTE = 256  # colours of the downscaled page (anti-aliased edges quantized; see docs/teachers.md)


def billed_size(width: int, height: int) -> tuple[int, int]:
    """The size the provider scales an image to before billing it (never larger than the input)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = min(1.0, FIT_SIDE / max(width, height))
    scale *= min(1.0, SHORT_SIDE / (min(width, height) * scale))
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_tokens(width: int, height: int) -> int:
    """Prompt tokens billed for one image of this size at `detail: high`."""
    w, h = billed_size(width, height)
    return BASE_TOKENS + TILE_TOKENS * math.ceil(w / TILE) * math.ceil(h / TILE)


def page_size(image: bytes | Path) -> tuple[int, int]:
    """(width, height) of an encoded image (bytes or a file), read from its header only."""
    with Image.open(image if isinstance(image, Path) else io.BytesIO(image)) as im:
        return im.size


def downscale(data: bytes) -> bytes:
    """The image as a PNG at its billed size (Lanczos, then a 256-colour palette); unchanged when it already
    is that size or smaller.

    Raises ValueError for bytes that are not a readable image (a corrupt page is not sent).
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            target = billed_size(*im.size)
            if target == im.size:
                return data
            if im.mode not in ("RGB", "RGBA", "L"):
                im = im.convert("RGBA" if "transparency" in im.info or im.mode == "LA" else "RGB")
            small = im.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
            if small.mode != "L":  # back to a 256-colour palette, as rendered pages are: a third of the RGB bytes
                small = small.quantize(colors=PALETTE, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=6)  # optimize=True: 12% smaller, 5x the CPU (measured)
    return out.getvalue()


def page_path(ctx: RecordContext, data_root: Path | str | None) -> Path | None:
    """The record's rendered page on disk (image paths are relative to the data root), or None."""
    if not ctx.image_path:
        return None
    path = Path(ctx.image_path)
    if not path.is_absolute():
        if data_root is None:
            raise ValueError(f"record {ctx.record_id}: image path {path} is relative and no data root was given")
        path = Path(data_root) / path
    return path


def image_part_from_path(path: Path) -> dict:
    """A chat content part holding the page, downscaled to its billed size, as a base64 PNG."""
    data = base64.b64encode(downscale(path.read_bytes())).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}", "detail": "high"}}


def image_part(ctx: RecordContext, data_root: Path | str | None) -> dict | None:
    """The record's page as a content part (sync and batch requests both use this), or None without a page."""
    path = page_path(ctx, data_root)
    return None if path is None else image_part_from_path(path)
