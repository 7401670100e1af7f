"""The features stage: real records are measured; a record of pure noise is quarantined at `features`."""
from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import wfdb

from schemas.config import GemflowConfig, SourceConfig
from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
from schemas.records import LEADS_12, QUARANTINE_SCHEMA
from storage.layout import DataRoot
from storage.parquet import TableStore
from tasks.features.stage import features_shard, pending_features
from tasks.ingest.stage import ingest_shard, pending_records
from tests.records_support import write_wfdb_copies


def test_noise_record_is_quarantined_at_features_and_real_ones_are_measured(cinc2021_dir, tmp_path):
    src = write_wfdb_copies(cinc2021_dir, ("E07500", "JS20001"), tmp_path / "src")
    noise = np.random.default_rng(3).normal(0, 0.3, (5000, 12))
    wfdb.wrsamp("noise", fs=500, units=["mV"] * 12, sig_name=list(LEADS_12), p_signal=noise, fmt=["16"] * 12,
                write_dir=str(src))
    cfg = GemflowConfig(data_dir=str(tmp_path / "data"))
    root = DataRoot.open(cfg.data_dir)
    store = TableStore(root)
    source = SourceConfig(path=str(src))
    ingest_shard(source, cfg.ingest, str(root.root), pending_records(source, cfg.ingest, store))
    counts = features_shard(str(root.root), pending_features(root), cfg.features)
    assert (counts.measured, counts.quarantined) == (2, 1)
    q = store.read("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == "features").to_pylist()
    assert [x["record_id"] for x in q] == ["src-noise"] and "usable" in q[0]["detail"]
    feats = {r["record_id"]: r for r in store.read("record_features", RECORD_FEATURES_SCHEMA).to_pylist()}
    assert 40 < feats["src-E07500"]["hr_bpm"] < 60
    beats = store.read("beats", BEATS_SCHEMA, filter=ds.field("record_id") == "src-E07500")
    assert set(beats.column("lead").to_pylist()) <= set(LEADS_12) and beats.num_rows >= 8 * 12
    assert pending_features(root) == [], "a rerun has nothing left to do"
