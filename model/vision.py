"""The vision tower (an HF CLIP vision model) and the page preprocessing that feeds it.

An ECG page is wider than tall (2200 x 1700). Three preprocessings (`image_preprocess`):

- "ori" (GEM's script): CLIP's own resize of the short side + centre crop; on a 2200 x 1700
  page it cuts about 23% of the width, the first and last seconds of every lead.
- "pad" (LLaVA-1.5, the default): pad to a square with the CLIP mean colour, then resize; the
  whole page is kept, in the form LLaVA's projector was aligned on.
- "pad-white": pad with `image_pad_fill` (white by default, the paper colour).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MEAN_RGB = tuple(int(m * 255) for m in CLIP_MEAN)  # LLaVA's pad colour: (122, 116, 104)

TINY_CLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 image_size=32, patch_size=8, projection_dim=32)


def pad_to_square(image: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Centre `image` on a square canvas of its longer side; nothing is cropped."""
    image = image.convert("RGB")
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def resize_centre_crop(image: Image.Image, size: int) -> Image.Image:
    """CLIP's processor: the short side to `size` (bicubic), then the central `size` x `size`."""
    image = image.convert("RGB")
    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(new, Image.Resampling.BICUBIC)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


class PagePreprocessor:
    """PIL page -> [3, size, size] float tensor: pad to square (or centre-crop), resize, CLIP-normalise."""

    def __init__(self, size: int, fill: tuple[int, int, int] = (255, 255, 255),
                 mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD, mode: str = "pad"):
        if mode not in ("pad", "ori"):
            raise ValueError(f"unknown preprocessing {mode!r}")
        self.size, self.fill, self.mode = size, tuple(fill), mode
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if self.mode == "ori":
            square = resize_centre_crop(image, self.size)
        else:
            square = pad_to_square(image, self.fill).resize((self.size, self.size), Image.Resampling.BICUBIC)
        pixels = (np.asarray(square, dtype=np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(pixels.transpose(2, 0, 1).copy())


def build_preprocessor(config, size: int) -> PagePreprocessor:
    """The preprocessing a `GemConfig` names (`image_preprocess`)."""
    if config.image_preprocess == "ori":
        return PagePreprocessor(size, mode="ori")
    fill = CLIP_MEAN_RGB if config.image_preprocess == "pad" else tuple(config.image_pad_fill)
    return PagePreprocessor(size, fill)


class VisionTower(nn.Module):
    """CLIP vision model -> patch features of one hidden layer, CLS dropped (LLaVA's `patch`)."""

    def __init__(self, clip: nn.Module, select_layer: int = -2):
        super().__init__()
        self.clip = clip
        self.select_layer = select_layer

    @property
    def hidden_size(self) -> int:
        return self.clip.config.hidden_size

    @property
    def image_size(self) -> int:
        return self.clip.config.image_size

    @property
    def n_tokens(self) -> int:
        return (self.clip.config.image_size // self.clip.config.patch_size) ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dtype = next(self.clip.parameters()).dtype
        out = self.clip(pixel_values=images.to(dtype), output_hidden_states=True)
        return out.hidden_states[self.select_layer][:, 1:]


def build_vision_tower(kind: str, name: str, select_layer: int = -2,
                       arch: dict[str, Any] | None = None) -> VisionTower | None:
    """"clip": HF weights `name` (or, given `arch`, that config with random weights for a reload);
    "clip-tiny": a small random CLIP for tests; "none": no image input."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if kind == "none":
        return None
    if kind not in ("clip", "clip-tiny"):
        raise ValueError(f"unknown vision_tower {kind!r}; known: clip, clip-tiny, none")
    if arch is not None:  # _from_config: under ZeRO-3 partitioned at construction, like from_pretrained
        clip = CLIPVisionModel._from_config(CLIPVisionConfig(**arch))
    elif kind == "clip-tiny":
        clip = CLIPVisionModel._from_config(CLIPVisionConfig(**TINY_CLIP))
    else:
        clip = CLIPVisionModel.from_pretrained(name)
    return VisionTower(clip, select_layer)


def vision_arch(tower: VisionTower) -> dict[str, Any]:
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "image_size", "patch_size", "projection_dim", "num_channels", "hidden_act", "layer_norm_eps")
    cfg = tower.clip.config
    return {k: getattr(cfg, k) for k in keys}
