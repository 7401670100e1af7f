"""The ingest stage's shard work: read, canonicalize, store signals, and commit records + quarantine."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from schemas.config import IngestSettings, SourceConfig
from schemas.records import QUARANTINE_SCHEMA, RECORDS_SCHEMA, RecordError, RecordMeta, quarantine_row, record_row
from schemas.vocab import Vocabulary
from storage.layout import DataRoot, RootHandle
from storage.parquet import TableStore, part_name, rows_to_table
from storage.signals import write_signal
from tasks.ingest.canonical import canonicalize
from tasks.ingest.labels import normalize_labels
from tasks.ingest.sources import open_reader
from tasks.shards import Counts, ShardStage

log = logging.getLogger(__name__)
STAGE = "ingest"
SHARDS = ShardStage(STAGE, "records", ("quarantine",))  # its tables; the primary part commits a shard


@dataclass
class ShardCounts(Counts):
    ingested: int = 0
    quarantined: int = 0


def done_record_ids(store: TableStore) -> set[str]:
    """Records this root has already ingested or refused at ingest."""
    import pyarrow.dataset as ds
    done = store.keys("records", RECORDS_SCHEMA)
    done |= store.keys("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == STAGE)
    return done


def pending_records(cfg: SourceConfig, settings: IngestSettings, store: TableStore,
                    limit: int | None = None) -> list[RecordMeta]:
    """Candidates of one source not yet handled, in a stable order; at most `limit`."""
    reader = open_reader(cfg, settings)
    done = done_record_ids(store)
    out: list[RecordMeta] = []
    for meta in reader.discover():
        if meta.record_id in done:
            continue
        out.append(meta)
        if limit is not None and len(out) >= limit:
            break
    return out


def ingest_one(reader, meta: RecordMeta, root: DataRoot, settings: IngestSettings, vocab: Vocabulary) -> dict:
    """One record to its `records` row (and its stored signal); RecordError for anything refused."""
    meta, raw = reader.load(meta)
    canon = canonicalize(meta, raw, settings)
    labels, unknown = normalize_labels(meta, vocab)
    canon.labels = [lab.code for lab in labels]
    canon.label_names = [lab.name for lab in labels]
    canon.unknown_codes = unknown
    comments = [f"record_id: {meta.record_id}", f"source: {meta.source}"]
    rel = write_signal(root, meta.record_id, meta.source, canon.signal, comments)
    return record_row(canon, rel)


def ingest_shard(cfg: SourceConfig, settings: IngestSettings, root_dir: str | RootHandle,
                 metas: list[RecordMeta]) -> ShardCounts:
    """Ingest one shard and commit its parts; a bad record is quarantined and the shard goes on.

    A signal's path is its record id, not its content: a shard whose run lost the writer lock stops
    before it writes one (`fence`, one GET on an s3:// root), as well as at its commit."""
    root = DataRoot.open(root_dir)
    root.fence()
    reader = open_reader(cfg, settings)
    vocab = Vocabulary.load()
    rows, bad = [], []
    try:
        for meta in metas:
            try:
                rows.append(ingest_one(reader, meta, root, settings, vocab))
            except RecordError as err:
                bad.append(quarantine_row(err, meta.path, meta.source))
            except (OSError, ValueError) as exc:  # odd input a reader did not foresee: quarantine, with the cause
                log.warning("record %s: %s", meta.record_id, exc)
                err = RecordError(meta.record_id, STAGE, "unreadable record", f"{type(exc).__name__}: {exc}")
                bad.append(quarantine_row(err, meta.path, meta.source))
    finally:
        if hasattr(reader, "close"):
            reader.close()
    store = TableStore(root)
    store.commit(
        part_name(STAGE, [m.record_id for m in metas]),
        {"quarantine": rows_to_table(bad, QUARANTINE_SCHEMA), "records": rows_to_table(rows, RECORDS_SCHEMA)},
        primary="records",
    )
    return ShardCounts(len(rows), len(bad))
