"""The render stage's shard work: draw each record's page once (content-hash cached), commit the images rows."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from schemas.images import IMAGES_SCHEMA, RenderSettings, image_row
from schemas.records import (CANONICAL_FS, LEADS_12, QUARANTINE_SCHEMA, RECORDS_SCHEMA, REF_COLUMNS, RecordError,
                             RecordRef, quarantine_row)
from storage.layout import DataRoot, RootHandle
from storage.parquet import TableStore, part_name, rows_to_table
from storage.signals import bucket, read_signal
from tasks.render import Renderer, RenderError, render_key
from tasks.shards import Counts, ShardStage

STAGE = "render"
SHARDS = ShardStage(STAGE, "images", ("quarantine",))  # its tables; the primary part commits a shard


@dataclass
class RenderCounts(Counts):
    rendered: int = 0
    reused: int = 0
    quarantined: int = 0


def image_rel_path(record_id: str, source: str, key: str, extension: str = ".png") -> str:
    """Images are named by record and content key: a changed signal or setting gives a new file."""
    return f"images/{source}/{bucket(record_id)}/{record_id}-{key[:12]}{extension}"


def pending_render(root: DataRoot, settings: RenderSettings) -> list[RecordRef]:
    """Ingested records without an image for these settings (rendering never depends on features)."""
    import pyarrow.dataset as ds
    store = TableStore(root)
    done = store.keys("images", IMAGES_SCHEMA, filter=ds.field("settings_hash") == settings.settings_hash())
    recs = store.read("records", RECORDS_SCHEMA, columns=REF_COLUMNS).to_pylist()
    return sorted((RecordRef(**r) for r in recs if r["record_id"] not in done), key=lambda r: r.record_id)


def _seed(record_id: str) -> int:
    """A per-record augmentation seed, stable across runs (used only when augmentation is on)."""
    return int(hashlib.sha1(record_id.encode()).hexdigest()[:8], 16)


def render_shard(root_dir: str | RootHandle, items: list[RecordRef], settings: RenderSettings) -> RenderCounts:
    """Render one shard with one reused figure; an existing file with the same key is not drawn again."""
    root = DataRoot.open(root_dir)
    renderer = Renderer(settings)
    rows, bad, counts = [], [], RenderCounts()
    extension = ".jpg" if settings.augment.enabled else ".png"
    for item in items:
        rid = item.record_id
        signal = read_signal(root, item.signal_path)
        seed = _seed(rid)
        key = render_key(signal, CANONICAL_FS, settings, leads=LEADS_12, seed=seed)
        rel = image_rel_path(rid, item.source, key, extension)
        if root.exists(rel):  # same content key: the bytes are already there, draw nothing
            data, geometry = root.read_bytes(rel), renderer.geometry(seed=seed)
            sha = hashlib.sha256(data).hexdigest()
            counts.reused += 1
        else:
            try:
                page = renderer.render(signal, CANONICAL_FS, LEADS_12, seed=seed)
            except RenderError as exc:
                bad.append(quarantine_row(RecordError(rid, STAGE, "cannot render", str(exc)), source=item.source))
                continue
            root.write_bytes(rel, page.png)
            sha, geometry = page.sha256, page.geometry
            counts.rendered += 1
        rows.append(image_row(rid, rel, sha, geometry, settings_hash=settings.settings_hash(), render_key=key))
    TableStore(root).commit(part_name(STAGE, [i.record_id for i in items]),
                            {"quarantine": rows_to_table(bad, QUARANTINE_SCHEMA),
                             "images": rows_to_table(rows, IMAGES_SCHEMA)}, primary="images")
    counts.quarantined = len(bad)
    return counts
