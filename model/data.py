"""Training data: LLaVA-format JSON lists (gemflow's export and others), mixed by weight, and the collator.

An item is `{"id", "image"?, "ecg"?, "conversations": [...]}`; `image` is a page path and
`ecg` a WFDB record path without extension, both relative to the source's root (the data root
for gemflow's export: `DATA_ROOT/exports/<version>/train.json`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from model.config import ConfigError, DataConfig
from model.conversation import IGNORE_INDEX, SampleError, Template, place_modalities, tokenize_conversation
from model.data_index import IndexedJson, open_indexed
from model.llm import default_cache_dir
from model.signal import SignalError, load_ecg

log = logging.getLogger("model.data")
MAX_SKIPS = 64  # consecutive unreadable samples before the run stops: the data itself is broken

from schemas.exports import NoSuchExport
from schemas.exports import resolve_export as shared_resolve_export


@dataclass
class Source:
    """One LLaVA-format list (read lazily through its index) with the root its relative paths start from."""

    name: str
    items: IndexedJson
    root: Path
    weight: float = 1.0


def resolve_export(data_root: str | Path, export: str) -> Path:
    """`DATA_ROOT/exports/<export>/train.json`; "latest" is the export exports/LATEST names (schemas/exports.py)."""
    if "://" in str(data_root):  # Path() would fold s3://b/p into s3:/b/p and report a missing folder
        raise NoSuchExport(f"{data_root}: training reads a local export; copy exports/<version>/ with the images and"
                           " signals it names to a local or mounted folder and pass that as --data")
    return shared_resolve_export(Path(data_root) / "exports", export, need="train.json") / "train.json"


def read_source(json_path: str | Path, root: str | Path, weight: float = 1.0, name: str | None = None,
                cache_dir: str | None = None) -> Source:
    path = Path(json_path)
    try:
        items = open_indexed(path, default_cache_dir(cache_dir))
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from err
    if not len(items):
        raise ConfigError(f"{path}: no usable LLaVA item ({items.malformed} malformed: {items.reasons[:3]})")
    return Source(name or path.parent.name, items, Path(root), weight)


def locate_sources(cfg: DataConfig, data_root: str | Path) -> list[Path]:
    """The JSON files a run would read, checked to exist (cheap: nothing is parsed)."""
    paths = [resolve_export(data_root, cfg.export)] if cfg.export is not None else []
    for i, src in enumerate(cfg.sources):
        path = Path(data_root) / src.json
        if not path.is_file():
            raise ConfigError(f"train.data.sources[{i}].json: {path} does not exist")
        paths.append(path)
    return paths


def build_sources(cfg: DataConfig, data_root: str | Path, split: str = "train",
                  cache_dir: str | None = None) -> list[Source]:
    """gemflow's export (if configured) plus the other LLaVA sets, with their weights. For a split
    other than train only the export's (e.g. val.json) is read; the other sets have no splits."""
    sources = []
    if cfg.export is not None:
        path = resolve_export(data_root, cfg.export)
        if split != "train":
            path = path.with_name(f"{split}.json")
        sources.append(read_source(path, data_root, cfg.export_weight, f"gemflow:{path.parent.name}", cache_dir))
    if split != "train":
        return sources
    for src in cfg.sources:
        json_path = Path(data_root) / src.json
        sources.append(read_source(json_path, Path(data_root) / (src.root or ""), src.weight, src.name, cache_dir))
    return sources


def mixture_index(sizes: list[int], weights: list[float], n_samples: int, seed: int) -> list[tuple[int, int]]:
    """(source, item) pairs: each source gets a weight-proportional share of `n_samples`,
    drawn without replacement within a pass over it, and the whole list is shuffled."""
    rng = np.random.default_rng(seed)
    shares = np.asarray(weights, dtype=float) / float(sum(weights)) * n_samples
    counts = np.floor(shares).astype(int)
    for k in np.argsort(counts - shares)[: n_samples - counts.sum()]:
        counts[k] += 1
    pairs = []
    for source, (size, count) in enumerate(zip(sizes, counts)):
        passes = [rng.permutation(size) for _ in range(-(-int(count) // size))] if count else []
        order = np.concatenate(passes)[:count] if passes else []
        pairs += [(source, int(i)) for i in order]
    rng.shuffle(pairs)
    return pairs


class GemDataset(Dataset):
    """Tokenized conversations with their ECG signal and page, sampled from a mixture."""

    def __init__(self, sources: list[Source], tokenizer, template: Template, max_length: int,
                 page_preprocess: Callable[[Image.Image], torch.Tensor] | None, use_ecg: bool,
                 samples_per_epoch: int | None = None, seed: int = 0):
        self.sources, self.tokenizer, self.template = sources, tokenizer, template
        self.max_length, self.page_preprocess, self.use_ecg = max_length, page_preprocess, use_ecg
        sizes = [len(s.items) for s in sources]
        self.index = mixture_index(sizes, [s.weight for s in sources], samples_per_epoch or sum(sizes), seed)

        self.skipped = 0  # samples that could not be read (per process: each worker counts its own)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def lengths(self) -> list[int]:
        """A cheap length per sample (precomputed in the index), for group_by_length."""
        return [int(self.sources[s].items.lengths[i]) for s, i in self.index]

    def summary(self) -> str:
        """What the run reads: items per source, malformed ones skipped, the share without an ECG."""
        parts = []
        for src in self.sources:
            ecg = float(np.mean(src.items.has_ecg)) if len(src.items) else 0.0
            parts.append(f"{src.name}: {len(src.items)} items, {src.items.malformed} malformed skipped, "
                         f"{100 * (1 - ecg):.1f}% without an ECG")
        no_ecg = sum(1 for s, i in self.index if not self.sources[s].items.has_ecg[i])
        note = " (those train on the page alone)" if no_ecg and self.use_ecg else ""
        return (f"train data: {len(self)} samples per epoch, {100 * no_ecg / max(1, len(self)):.1f}% without an ECG"
                f"{note}; " + "; ".join(parts))

    def __getitem__(self, i: int) -> dict[str, Any]:
        """Sample i; an unreadable one (bad turns, missing page or record) is logged, counted and
        replaced by the next sample, so one bad item never stops a run."""
        for k in range(MAX_SKIPS):
            j = (i + k) % len(self.index)
            try:
                return self._load(j)
            except (SampleError, SignalError, OSError, ValueError, KeyError) as err:
                self.skipped += 1
                log.warning("skipping sample %d (%d skipped so far): %s", j, self.skipped, err)
        raise SampleError(f"{MAX_SKIPS} consecutive samples from {i} could not be read: check the data")

    def _load(self, i: int) -> dict[str, Any]:
        source = self.sources[self.index[i][0]]
        item = source.items.item(self.index[i][1])
        sample_id = f"{source.name}/{item.get('id', self.index[i][1])}"
        has_ecg = self.use_ecg and bool(item.get("ecg"))
        has_image = self.page_preprocess is not None and bool(item.get("image"))
        try:
            turns = place_modalities(item["conversations"], has_ecg, has_image, sample_id)
            ids, labels = tokenize_conversation(turns, self.tokenizer, self.template, self.max_length)
        except (KeyError, SampleError) as err:
            raise SampleError(f"sample {sample_id}: {err}") from err
        if all(lab == IGNORE_INDEX for lab in labels):
            raise SampleError(f"sample {sample_id}: no answer token within max_length {self.max_length}")
        out: dict[str, Any] = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                               "ecg": None, "image": None}
        if has_ecg:
            out["ecg"] = torch.from_numpy(load_ecg(source.root / item["ecg"]))
        if has_image:
            with Image.open(source.root / item["image"]) as page:
                out["image"] = self.page_preprocess(page)
        return out


class GemCollator:
    """Pads ids (pad id) and labels (IGNORE_INDEX) on the right; stacks ECGs and pages,
    with zeros for a sample that lacks one (its prompt has no placeholder, so zeros go unused)."""

    def __init__(self, pad_id: int, ecg_shape: tuple[int, int] | None, image_size: int | None):
        self.pad_id, self.ecg_shape, self.image_size = pad_id, ecg_shape, image_size

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = b["input_ids"], b["labels"], 1
        out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if self.ecg_shape is not None:
            out["ecgs"] = _stack([b["ecg"] for b in batch], self.ecg_shape)
        if self.image_size is not None:
            out["images"] = _stack([b["image"] for b in batch], (3, self.image_size, self.image_size))
        return out


def _stack(tensors: list[torch.Tensor | None], shape: tuple[int, ...]) -> torch.Tensor:
    return torch.stack([t if t is not None else torch.zeros(shape) for t in tensors])
