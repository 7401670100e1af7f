"""Training data: LLaVA-format JSON lists (gemflow's export and others), mixed by weight, and the collator.

An item is `{"id", "image"?, "ecg"?, "conversations": [...]}`; `image` is a page path and
`ecg` a WFDB record path without extension, both relative to the source's root (the data root
for gemflow's export: `DATA_ROOT/exports/<version>/train.json`).
"""
from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from model.config import ConfigError, DataConfig
from model.conversation import IGNORE_INDEX, SampleError, Template, place_modalities, tokenize_conversation
from model.data_index import IndexedJson, iter_json_list, open_indexed
from model.llm import default_cache_dir
from model.signal import SignalError, load_ecg

log = logging.getLogger("model.data")
MAX_SKIPS = 64  # consecutive unreadable samples before the run stops: the data itself is broken

from schemas.exports import LATEST
from storage import atomic, staging
from storage.exports import resolve_export
from storage.layout import DataRoot


@dataclass
class Source:
    """One LLaVA-format list (read lazily through its index) with the root its relative paths start from."""

    name: str
    items: IndexedJson
    root: Path
    weight: float = 1.0


def export_dir(data_root: str | Path, export: str) -> Path:
    """The local folder `exports/<version>/` of `export` ("latest": the one exports/LATEST names), by the one
    rule of storage/exports.py; it holds train.json. On an s3:// root the export (its JSON lists and every page
    and signal they name) is staged into this machine's work folder first, once, and that copy is returned."""
    root = DataRoot.open(data_root, create=False)
    version = resolve_export(root, export, need="train.json")
    if root.is_remote:
        stage_export(root, version)
    return root.root / "exports" / version


def training_root(cfg: DataConfig, data_root: str | Path) -> Path:
    """The local folder training reads: the data root itself, or for s3://… this machine's work folder
    after the export and the other sources the config names are staged into it (storage/staging.py)."""
    if not str(data_root).startswith("s3://"):
        return Path(data_root)
    if cfg.export is not None:
        export_dir(data_root, cfg.export)
    for src in cfg.sources:
        stage_list(DataRoot.open(data_root), [src.json], src.root or "", src.json + STAGED)
    return staging.local_folder(data_root)


STAGED = ".staged.json"  # beside what was staged: every file and its size, written last (storage/staging.py)


def stage_export(root: DataRoot, version: str) -> None:
    """Stage exports/<version>/ of a remote root with the pages and signals train.json and val.json name.
    A complete earlier staging is reused without a download."""
    folder = f"exports/{version}"
    if not staging.is_complete(root, f"{folder}/{STAGED}"):
        names = sorted(set(root.ls(folder)) - set(root.ls(folder, dirs_only=True)))
        files = [f"{folder}/{n}" for n in names if not n.startswith(".")]
        staging.stage_files(root, files)
        lists = [f for f in files if f.endswith(("/train.json", "/val.json"))]
        stage_list(root, lists, "", f"{folder}/{STAGED}", also=files)
    atomic.write_text(root.root / "exports" / LATEST, version + "\n")  # the staged copy reads like a local root


def stage_list(root: DataRoot, lists: list[str], media: str, marker: str, also: list[str] = ()) -> None:
    """Stage LLaVA lists and every page and WFDB record their items name (relative to `media`); a file the
    store lacks fails the staging, naming it, and nothing is marked complete."""
    if staging.is_complete(root, marker):
        return
    staging.stage_files(root, lists)
    images, records = [], []
    for rel in lists:
        for item in iter_json_list(root.root / rel):
            if isinstance(item, dict):
                images += [posixpath.join(media, item["image"])] if isinstance(item.get("image"), str) else []
                records += [posixpath.join(media, item["ecg"])] if isinstance(item.get("ecg"), str) else []
    done = staging.stage_files(root, images).add(staging.stage_records(root, records))
    if done.missing:
        raise staging.StagingError(f"{root.location}: {len(done.missing)} file(s) the training data names are not on"
                                   f" the store, e.g. {', '.join(done.missing[:3])}")
    staged = [*also, *lists, *images, *[r + ".hea" for r in records]]
    data = [f for r in records for f in staging.wfdb_files((root.root / (r + ".hea")).read_text(errors="replace"), r)]
    staging.mark_complete(root, marker, [*staged, *data])
    log.info("staged %s into %s: %d files, %d bytes downloaded", root.location, root.root, done.downloaded, done.bytes)


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
    """The JSON files a run would read, checked to exist (cheap: nothing is parsed; an s3:// root is staged first)."""
    data_root = training_root(cfg, data_root)
    paths = [export_dir(data_root, cfg.export) / "train.json"] if cfg.export is not None else []
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
        path = export_dir(data_root, cfg.export) / f"{split}.json"
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
