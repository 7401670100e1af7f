"""Real records as test and benchmark input: copies of shared CinC-2021 records, and the context tables built from them.

`write_wfdb_copies` rewrites records as plain 500 Hz, mV, 16-bit WFDB files (the format the ingest
readers see from most sources); `copy_records` copies the original files as they are; `build_tables`
runs the real ingest and features stages (and render, if asked) over a folder, in shards, so each
table has one part per shard as a run leaves it.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from schemas.config import GemflowConfig, SourceConfig
from schemas.records import LEADS_12
from storage.layout import DataRoot
from storage.parquet import TableStore
from tasks.shards import chunk


def write_wfdb_copies(cinc_dir: Path, names: Iterable[str], folder: Path) -> Path:
    """Each named record rewritten into `folder` as a 12-lead, 500 Hz, mV WFDB record of the same name."""
    import wfdb
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        rec = wfdb.rdrecord(str(cinc_dir / name))
        wfdb.wrsamp(name, fs=500, units=["mV"] * 12, sig_name=list(LEADS_12), p_signal=rec.p_signal,
                    fmt=["16"] * 12, write_dir=str(folder))
    return folder


def copy_records(cinc_dir: Path, names: Iterable[str], folder: Path) -> Path:
    """The named records' files copied into `folder` unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        for f in cinc_dir.glob(f"{name}.*"):
            shutil.copy(f, folder / f.name)
    return folder


def build_tables(src: Path, data_dir: Path, shard_size: int | None = None, render: bool = False) -> TableStore:
    """Ingest and features (and render) over the records in `src` on a local root, `shard_size` records a shard."""
    from tasks.features.stage import features_shard, pending_features
    from tasks.ingest.stage import ingest_shard, pending_records
    cfg = GemflowConfig(data_dir=str(data_dir))
    root = DataRoot.open(cfg.data_dir)
    store = TableStore(root)
    source = SourceConfig(path=str(src))
    pending = pending_records(source, cfg.ingest, store)
    for shard in chunk(pending, shard_size or max(1, len(pending))):
        ingest_shard(source, cfg.ingest, str(root.root), shard)
    pending = pending_features(root)
    for shard in chunk(pending, shard_size or max(1, len(pending))):
        features_shard(str(root.root), shard, cfg.features)
    if render:
        from tasks.render.stage import pending_render, render_shard
        pending = pending_render(root, cfg.render)
        for shard in chunk(pending, shard_size or max(1, len(pending))):
            render_shard(str(root.root), shard, cfg.render)
    return store
