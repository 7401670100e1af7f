"""The features stage's shard work: read canonical signals, measure, commit beats + record_features."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow.dataset as ds

from schemas.config import FeatureSettings
from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
from schemas.records import CANONICAL_FS, LEADS_12, QUARANTINE_SCHEMA, RECORDS_SCHEMA
from storage.layout import DataRoot
from storage.parquet import TableStore, part_name, rows_to_table
from storage.signals import read_signal
from tasks.features import extract_many

STAGE = "features"


@dataclass
class FeatureCounts:
    measured: int = 0
    quarantined: int = 0
    beats: int = 0

    def __add__(self, o: "FeatureCounts") -> "FeatureCounts":
        return FeatureCounts(self.measured + o.measured, self.quarantined + o.quarantined, self.beats + o.beats)


def pending_features(root: DataRoot) -> list[tuple[str, str]]:
    """(record_id, signal_path) of ingested records without features or a features quarantine."""
    store = TableStore(root)
    store.drop_orphans(STAGE, "record_features", ["beats", "quarantine"])
    done = store.keys("record_features", RECORD_FEATURES_SCHEMA)
    done |= store.keys("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == STAGE)
    recs = store.read("records", RECORDS_SCHEMA, columns=["record_id", "signal_path"]).to_pylist()
    return sorted((r["record_id"], r["signal_path"]) for r in recs if r["record_id"] not in done)


def features_shard(root_dir: str, items: list[tuple[str, str]], settings: FeatureSettings) -> FeatureCounts:
    """Measure one shard; records too noisy or flat to measure go to quarantine with stage `features`."""
    root = DataRoot.open(root_dir)
    signals = ((rid, read_signal(root, rel)) for rid, rel in items)
    beats, feats, failures = extract_many(signals, CANONICAL_FS, LEADS_12, min_usable_leads=settings.min_usable_leads)
    bad = [{"record_id": rid, "path": "", "source": rid.split("-", 1)[0], "stage": STAGE,
            "reason": "not measurable", "detail": reason} for rid, reason in failures]
    TableStore(root).commit(
        part_name(STAGE, [rid for rid, _ in items]),
        {"beats": beats.cast(BEATS_SCHEMA), "quarantine": rows_to_table(bad, QUARANTINE_SCHEMA),
         "record_features": feats.cast(RECORD_FEATURES_SCHEMA)},
        primary="record_features",
    )
    return FeatureCounts(feats.num_rows, len(bad), beats.num_rows)
