"""Interpret one WFDB record with a trained checkpoint: signal + rendered page -> text.

`interpret(record, ckpt)` loads the model each call; `GemInterpreter` keeps it loaded for many
records. The page comes from `renderer(signal_mv [12, N], fs) -> PIL.Image`; by default the
project's `tasks.render.Renderer` (the pages training saw) when it is importable, else the
plain page in `model.page` (`model/` does not require `tasks/`).
"""
from __future__ import annotations

import importlib
import importlib.util
import io
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from model.checkpoint import load_checkpoint
from model.conversation import DEFAULT_QUESTION, get_template, place_modalities, tokenize_conversation
from model.page import render_page
from model.signal import LEADS, TARGET_FS, load_ecg
from model.vision import build_preprocessor

Renderer = Callable[[np.ndarray, int], Image.Image]


def default_renderer() -> Renderer:
    """`tasks.render.Renderer` with its default settings when available, else `model.page.render_page`."""
    try:
        found = importlib.util.find_spec("tasks.render") is not None
    except ModuleNotFoundError:  # no `tasks` package at all: model/ used on its own
        found = False
    if not found:
        return render_page
    project = importlib.import_module("tasks.render").Renderer()

    def render(signal: np.ndarray, fs: int) -> Image.Image:
        page = project.render(signal, fs, LEADS)
        with Image.open(io.BytesIO(page.png)) as image:
            return image.convert("RGB")

    return render


class GemInterpreter:
    """A loaded checkpoint that answers questions about records."""

    def __init__(self, ckpt: str | Path, device: str = "cpu", renderer: Renderer | None = None):
        self.model, self.tokenizer = load_checkpoint(ckpt, device)
        self.device = device
        self.renderer = renderer or default_renderer()
        cfg = self.model.gem_config
        self.template = get_template(cfg.conv_template)
        vision = self.model.vision_tower
        self.preprocess = build_preprocessor(cfg, vision.image_size) if vision is not None else None

    def prompt_ids(self, question: str, has_ecg: bool, has_image: bool) -> torch.Tensor:
        turns = place_modalities([{"from": "human", "value": question}], has_ecg, has_image)
        ids, _ = tokenize_conversation(turns, self.tokenizer, self.template,
                                       self.model.gem_config.max_length, add_generation_prompt=True)
        return torch.tensor([ids], device=self.device)

    def interpret(self, record_path: str | Path, question: str = DEFAULT_QUESTION,
                  max_new_tokens: int = 1024, page: Image.Image | None = None) -> str:
        """Generated text (greedy) for the record; `page` overrides the rendered image."""
        return self.interpret_batch([record_path], [question], max_new_tokens, [page])[0]

    def interpret_batch(self, record_paths: list[str | Path], questions: list[str | None] | None = None,
                        max_new_tokens: int = 1024, pages: list[Image.Image | None] | None = None) -> list[str]:
        """Generated texts (greedy) for several records in one `generate` call: prompts are padded, and
        the spliced ECG and page embeddings left-padded, so each row reads as if it were alone."""
        n = len(record_paths)
        questions = [q or DEFAULT_QUESTION for q in (questions or [None] * n)]
        pages = pages or [None] * n
        signals = [load_ecg(path) for path in record_paths]
        inputs: dict[str, torch.Tensor] = {}
        if self.model.ecg_encoder is not None:
            inputs["ecgs"] = torch.from_numpy(np.stack(signals)).to(self.device)
        if self.preprocess is not None:
            images = [page if page is not None else self.renderer(sig, TARGET_FS) for sig, page in zip(signals, pages)]
            inputs["images"] = torch.stack([self.preprocess(image) for image in images]).to(self.device)
        rows = [self.prompt_ids(q, "ecgs" in inputs, "images" in inputs)[0] for q in questions]
        tok = self.tokenizer
        width = max(len(r) for r in rows)
        ids = torch.full((n, width), tok.pad_token_id or 0, dtype=torch.long, device=self.device)
        mask = torch.zeros((n, width), dtype=torch.long, device=self.device)
        for i, row in enumerate(rows):  # right-padded here; the splice re-pads the embeddings on the left
            ids[i, :len(row)], mask[i, :len(row)] = row, 1
        out = self.model.generate(ids, mask, max_new_tokens=max_new_tokens, do_sample=False,
                                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **inputs)
        return [tok.decode(row, skip_special_tokens=True).strip() for row in out]


def interpret(record_path: str, ckpt: str, question: str = DEFAULT_QUESTION, max_new_tokens: int = 1024,
              device: str = "cpu", renderer: Renderer | None = None, image_path: str | None = None) -> str:
    """One-shot: load `ckpt`, read and render `record_path` (any 12-lead WFDB record; resampled
    to 500 Hz, first 10 s), return the model's interpretation. `image_path` uses an already
    rendered page instead of drawing one."""
    page = None
    if image_path is not None:
        with Image.open(image_path) as image:
            page = image.convert("RGB")
    return GemInterpreter(ckpt, device, renderer).interpret(record_path, question, max_new_tokens, page=page)
