"""Seeded scan-like augmentations of a rendered page: paper tint, pen width, rotation, noise, JPEG."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from schemas.images import AppliedAugmentations, AugmentSettings, LeadBox


def draw_augmentations(settings: AugmentSettings, base_line_mm: float, seed: int) -> AppliedAugmentations:
    """Draw this image's augmentations from (settings.seed, seed); nothing when disabled."""
    if not settings.enabled:
        return AppliedAugmentations()
    rng = np.random.default_rng([settings.seed & 0xFFFFFFFF, seed & 0xFFFFFFFF])
    tint = rng.uniform(0.0, settings.paper_tint_max)
    paper = (255, int(round(255 * (1 - tint * 0.35))), int(round(255 * (1 - tint))))
    jitter = rng.uniform(-settings.line_width_jitter, settings.line_width_jitter)
    quality = None
    if settings.jpeg_quality_min is not None:
        low = settings.jpeg_quality_min
        quality = int(rng.integers(low, max(low, settings.jpeg_quality_max) + 1))
    return AppliedAugmentations(
        noise_std=round(float(rng.uniform(0.0, settings.noise_std_max)), 3),
        rotation_deg=round(float(rng.uniform(-settings.rotation_deg_max, settings.rotation_deg_max)), 3),
        paper_rgb=paper,
        line_width_mm=round(base_line_mm * (1.0 + jitter), 4),
        jpeg_quality=quality,
    )


def rotate_point(x: float, y: float, deg: float, cx: float, cy: float) -> tuple[float, float]:
    """Where PIL's `Image.rotate(deg)` (counter-clockwise about (cx, cy)) moves the point (x, y)."""
    a = math.radians(deg)
    dx, dy = x - cx, y - cy
    return cx + dx * math.cos(a) + dy * math.sin(a), cy - dx * math.sin(a) + dy * math.cos(a)


def rotate_box(box: LeadBox, deg: float, width: int, height: int) -> LeadBox:
    """The axis-aligned box around a lead box after the page is rotated by `deg`."""
    cx, cy = width / 2.0, height / 2.0
    corners = [rotate_point(x, y, deg, cx, cy) for x in (box.x0, box.x1) for y in (box.y0, box.y1)]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return box.model_copy(update={"x0": min(xs), "y0": min(ys), "x1": max(xs), "y1": max(ys)})


def apply_pixels(rgb: np.ndarray, applied: AppliedAugmentations, seeds: tuple[int, int]) -> Image.Image:
    """Rotate and add noise to an RGB page as `applied` says (JPEG quality is applied when encoding)."""
    image = Image.fromarray(rgb, "RGB")
    if applied.rotation_deg:
        fill = applied.paper_rgb or (255, 255, 255)
        image = image.rotate(applied.rotation_deg, resample=Image.Resampling.BILINEAR, fillcolor=fill)
    if applied.noise_std:
        rng = np.random.default_rng([seeds[0] & 0xFFFFFFFF, seeds[1] & 0xFFFFFFFF, 0x5EED])
        noise = rng.standard_normal(size=(image.height, image.width, 1), dtype=np.float32)
        noisy = np.asarray(image, np.float32) + noise * np.float32(applied.noise_std)
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return image
