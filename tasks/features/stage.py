"""The features stage's shard work: read canonical signals, measure, commit beats + record_features."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow.dataset as ds

from schemas.config import FeatureSettings
from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
from schemas.records import (CANONICAL_FS, LEADS_12, QUARANTINE_SCHEMA, RECORDS_SCHEMA, REF_COLUMNS, RecordError,
                             RecordRef, quarantine_row)
from storage.layout import DataRoot, RootHandle
from storage.parquet import TableStore, part_name, rows_to_table
from storage.signals import read_signal
from tasks.features import extract_many
from tasks.shards import Counts, ShardStage

STAGE = "features"
SHARDS = ShardStage(STAGE, "record_features", ("beats", "quarantine"))  # its tables; the primary part commits a shard


@dataclass
class FeatureCounts(Counts):
    measured: int = 0
    quarantined: int = 0
    beats: int = 0


def pending_features(root: DataRoot) -> list[RecordRef]:
    """Ingested records without features or a features quarantine (the stage runner drops orphans first)."""
    store = TableStore(root)
    done = store.keys("record_features", RECORD_FEATURES_SCHEMA)
    done |= store.keys("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == STAGE)
    recs = store.read("records", RECORDS_SCHEMA, columns=REF_COLUMNS).to_pylist()
    return sorted((RecordRef(**r) for r in recs if r["record_id"] not in done), key=lambda r: r.record_id)


def features_shard(root_dir: str | RootHandle, items: list[RecordRef], settings: FeatureSettings) -> FeatureCounts:
    """Measure one shard; records too noisy or flat to measure go to quarantine with stage `features`."""
    root = DataRoot.open(root_dir)
    source = {r.record_id: r.source for r in items}
    signals = ((r.record_id, read_signal(root, r.signal_path)) for r in items)
    beats, feats, failures = extract_many(signals, CANONICAL_FS, LEADS_12, min_usable_leads=settings.min_usable_leads)
    bad = [quarantine_row(RecordError(rid, STAGE, "not measurable", reason), source=source[rid])
           for rid, reason in failures]
    TableStore(root).commit(
        part_name(STAGE, [r.record_id for r in items]),
        {"beats": beats.cast(BEATS_SCHEMA), "quarantine": rows_to_table(bad, QUARANTINE_SCHEMA),
         "record_features": feats.cast(RECORD_FEATURES_SCHEMA)},
        primary="record_features",
    )
    return FeatureCounts(feats.num_rows, len(bad), beats.num_rows)
