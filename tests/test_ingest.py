"""Ingest: canonical 12-lead records from real WFDB folders, and quarantine with a reason for bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
import wfdb

from schemas.config import IngestSettings, SourceConfig
from schemas.records import LEADS_12, QUARANTINE_SCHEMA, RECORDS_SCHEMA, RawSignal, RecordError, RecordMeta
from storage.layout import DataRoot
from storage.parquet import TableStore
from storage.signals import read_signal
from tasks.ingest.canonical import canonicalize, standard_lead_name
from tasks.ingest.stage import ingest_shard, pending_records
from tasks.ingest.wfdb_dir import WfdbDirReader


def _ingest(src: Path, data: Path, **settings) -> tuple[list[dict], list[dict]]:
    cfg = SourceConfig(path=str(src))
    ingest = IngestSettings(**settings)
    root = DataRoot.open(data)
    store = TableStore(root)
    pending = pending_records(cfg, ingest, store)
    if pending:
        ingest_shard(cfg, ingest, str(root.root), pending)
    return (store.read("records", RECORDS_SCHEMA).to_pylist(), store.read("quarantine", QUARANTINE_SCHEMA).to_pylist())


def _copy(src: Path, names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        for f in src.glob(f"{name}.*"):
            shutil.copy(f, dest / f.name)
            (dest / f.name).chmod(0o644)
    return dest


def test_cinc2021_records_are_ingested_with_labels_age_and_sex(cinc2021_dir, tmp_path):
    records, quarantine = _ingest(cinc2021_dir, tmp_path / "data")
    assert len(records) == 25 and quarantine == []
    by_id = {r["record_id"]: r for r in records}
    e0 = by_id["cinc2021-E07500"]
    assert e0["age"] == 78 and e0["sex"] == "M"
    assert e0["source_codes"] == ["67741000119109", "426177001"]
    assert "SB" in e0["labels"] and "sinus bradycardia" in e0["label_text"].lower()
    assert all(r["unknown_codes"] == [] for r in records), "every shared Dx code resolves"
    assert all(r["labels"] for r in records)


def test_canonical_signal_is_12_leads_500hz_10s_in_mv(cinc2021_dir, tmp_path):
    records, _ = _ingest(cinc2021_dir, tmp_path / "data")
    root = DataRoot.open(tmp_path / "data")
    rec = next(r for r in records if r["record_id"] == "cinc2021-E07500")
    sig = read_signal(root, rec["signal_path"])
    original = wfdb.rdrecord(str(cinc2021_dir / "E07500")).p_signal.T
    assert sig.shape == (12, 5000)
    np.testing.assert_allclose(sig, original[:, :5000], atol=1e-3)  # 1 µV storage resolution
    header = wfdb.rdheader(str(root.abs(rec["signal_path"])))
    assert header.sig_name == list(LEADS_12) and header.fs == 500 and set(header.units) == {"mV"}


def test_ptb_record_with_15_signals_yields_12_named_leads_resampled_to_500hz(wfdb_samples_dir, tmp_path):
    src = _copy(wfdb_samples_dir, ["s0010_re"], tmp_path / "src")
    records, quarantine = _ingest(src, tmp_path / "data")
    assert quarantine == [] and len(records) == 1
    rec = records[0]
    assert rec["fs"] == 1000 and rec["n_leads"] == 15 and rec["duration_s"] == pytest.approx(38.4)
    assert rec["window_start_s"] == 0 and any("window 0.00-10.00 s of 38.40 s" in n for n in rec["notes"])
    assert rec["age"] == 81 and rec["sex"] == "F"
    sig = read_signal(DataRoot.open(tmp_path / "data"), rec["signal_path"])
    raw = wfdb.rdrecord(str(src / "s0010_re"), sampto=10000)
    v6 = raw.p_signal[:, raw.sig_name.index("v6")][::2]  # 1000 -> 500 Hz
    assert sig.shape == (12, 5000)
    assert np.corrcoef(sig[LEADS_12.index("V6")], v6)[0, 1] > 0.99
    assert "MI" in rec["labels"], "the PTB header's diagnosis text is normalized too"


def test_lead_names_are_matched_case_insensitively():
    assert [standard_lead_name(x) for x in ("i", "AVR", "avl", "V1", "v6", "MLII")] == ["I", "aVR", "aVL", "V1", "V6", None]


def test_two_lead_record_is_quarantined_with_reason(wfdb_samples_dir, tmp_path):
    records, quarantine = _ingest(wfdb_samples_dir, tmp_path / "data")
    bad = {q["record_id"]: q for q in quarantine}
    assert bad["wfdb_samples-100"]["reason"] == "not a 12-lead record"
    assert "MLII" in bad["wfdb_samples-100"]["detail"] and bad["wfdb_samples-100"]["stage"] == "ingest"
    assert [r["record_id"] for r in records] == ["wfdb_samples-s0010_re"]


def test_header_whose_data_file_is_missing_is_quarantined(cinc2021_dir, tmp_path):
    src = _copy(cinc2021_dir, ["E07500", "E07501"], tmp_path / "src")
    (src / "E07501.mat").unlink()
    records, quarantine = _ingest(src, tmp_path / "data")
    assert [r["record_id"] for r in records] == ["src-E07500"]
    assert quarantine[0]["reason"] == "data file missing" and "E07501.mat" in quarantine[0]["detail"]


def test_truncated_data_file_is_quarantined(cinc2021_dir, tmp_path):
    src = _copy(cinc2021_dir, ["E07500"], tmp_path / "src")
    with open(src / "E07500.mat", "r+b") as fh:
        fh.truncate(50_000)
    _, quarantine = _ingest(src, tmp_path / "data")
    assert quarantine[0]["reason"] == "truncated data file"
    assert "50000 bytes" in quarantine[0]["detail"]


def _write(folder: Path, name: str, signal: np.ndarray, fs: int = 500) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * 12, sig_name=list(LEADS_12), p_signal=signal.T,
                fmt=["16"] * 12, write_dir=str(folder))


def _ecg_like(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 500
    beat = np.exp(-((t % 0.8) - 0.2) ** 2 / 0.0002)
    return np.vstack([beat * (0.5 + 0.1 * k) + rng.normal(0, 0.01, n) for k in range(12)])


def test_all_nan_lead_is_quarantined(tmp_path):
    sig = _ecg_like(5000)
    sig[3] = np.nan
    meta = RecordMeta(record_id="x-nan", source="x", source_kind="wfdb", path="p", patient_id="x")
    raw = RawSignal(signal=sig, fs=500, lead_names=list(LEADS_12), units=["mV"] * 12)
    with pytest.raises(RecordError) as err:
        canonicalize(meta, raw, IngestSettings())
    assert err.value.reason == "all-NaN leads" and "aVR" in err.value.detail


def test_record_with_mostly_flat_leads_is_quarantined(tmp_path):
    sig = _ecg_like(5000)
    sig[:8] = 0.0
    _write(tmp_path / "src", "flat", sig)
    _, quarantine = _ingest(tmp_path / "src", tmp_path / "data")
    assert quarantine[0]["reason"] == "flat leads" and "V2" in quarantine[0]["detail"]


def test_a_few_flat_leads_are_noted_not_quarantined(tmp_path):
    sig = _ecg_like(5000)
    sig[[7, 9]] = 0.0
    _write(tmp_path / "src", "someflat", sig)
    records, quarantine = _ingest(tmp_path / "src", tmp_path / "data")
    assert quarantine == [] and "V2: flat" in records[0]["notes"]


def test_record_shorter_than_the_window_is_quarantined(tmp_path):
    _write(tmp_path / "src", "short", _ecg_like(1000))
    _, quarantine = _ingest(tmp_path / "src", tmp_path / "data")
    assert quarantine[0]["reason"] == "record shorter than the window" and "2.00 s" in quarantine[0]["detail"]


def test_unreadable_header_is_quarantined_and_the_run_goes_on(cinc2021_dir, tmp_path):
    src = _copy(cinc2021_dir, ["E07500"], tmp_path / "src")
    (src / "broken.hea").write_text("this is not a WFDB header\n\x00\x01")
    records, quarantine = _ingest(src, tmp_path / "data")
    assert [r["record_id"] for r in records] == ["src-E07500"]
    assert quarantine[0]["record_id"] == "src-broken" and quarantine[0]["reason"] == "unreadable header"


def test_second_ingest_does_no_work_twice(cinc2021_dir, tmp_path):
    first, _ = _ingest(cinc2021_dir, tmp_path / "data")
    second, _ = _ingest(cinc2021_dir, tmp_path / "data")
    assert len(second) == len(first) == 25
    store = TableStore(DataRoot.open(tmp_path / "data"))
    assert len(store.parts("records")) == 1


def test_longer_record_window_can_be_taken_from_the_middle(wfdb_samples_dir, tmp_path):
    src = _copy(wfdb_samples_dir, ["s0010_re"], tmp_path / "src")
    records, _ = _ingest(src, tmp_path / "data", window="middle")
    assert records[0]["window_start_s"] == pytest.approx(14.2)


def test_quarantine_filter_by_stage(wfdb_samples_dir, tmp_path):
    _ingest(wfdb_samples_dir, tmp_path / "data")
    store = TableStore(DataRoot.open(tmp_path / "data"))
    assert store.keys("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == "ingest") == {"wfdb_samples-100"}
