"""The features contract: types, schemas, quality gate and refusals, on seeded synthetic and real records."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from schemas.features import BEATS_SCHEMA, FEATURE_VERSION, RECORD_FEATURES_SCHEMA, RecordFeatures
from tasks.features import FeatureError, FeatureResult, detect_r_peaks, extract_features, extract_many, lead_summaries

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
FS = 500.0


def _read_cinc(directory: Path, name: str) -> tuple[np.ndarray, float, list[str]]:
    import wfdb

    rec = wfdb.rdrecord(str(directory / name))
    return rec.p_signal.T.astype(np.float32), float(rec.fs), list(rec.sig_name)


@pytest.fixture(scope="module")
def normal_record(cinc2021_dir: Path) -> tuple[np.ndarray, float, list[str]]:
    """HR06004: PTB-XL sinus rhythm, all 12 leads clean."""
    return _read_cinc(cinc2021_dir, "HR06004")


def test_result_matches_schemas_and_round_trips(normal_record):
    signal, fs, leads = normal_record
    res = extract_features(signal, fs, leads, "HR06004")
    assert isinstance(res, FeatureResult)
    assert res.beats.schema.equals(BEATS_SCHEMA)
    rec = res.record
    assert rec.feature_version == FEATURE_VERSION
    assert RecordFeatures.from_row(rec.to_row()) == rec
    table = pa.Table.from_pylist([rec.to_row()], schema=RECORD_FEATURES_SCHEMA)
    assert RecordFeatures.from_row(table.to_pylist()[0]) == rec
    assert set(res.beats.column("lead").to_pylist()) == set(leads)
    assert res.beats.num_rows == 12 * rec.n_beats


def test_normal_record_values_are_physiological(normal_record):
    signal, fs, leads = normal_record
    rec = extract_features(signal, fs, leads, "HR06004").record
    assert 60 <= rec.hr_bpm <= 100 and rec.rate_class == "normal"
    assert rec.rhythm_regular and rec.p_waves_present
    assert rec.rhythm.startswith("regular rhythm, P waves present, rate")
    assert 100 <= rec.pr_ms <= 220 and 70 <= rec.qrs_ms <= 115 and 320 <= rec.qt_ms <= 460
    assert rec.qtc_ms == pytest.approx(rec.qt_ms / np.sqrt(rec.rr_mean_ms / 1000), rel=0.05)
    assert -30 <= rec.axis_deg <= 100
    assert rec.quality == "good" and len(rec.usable_leads) == 12
    # a clean record names no unusable lead; only single beat values may be set aside as implausible
    assert [i for i in rec.lead_issues if ":implausible " not in i] == []
    summ = lead_summaries(extract_features(signal, fs, leads, "HR06004").beats)
    assert summ["II"].r_amp_mv > 0.3 and summ["aVR"].r_amp_mv is None or summ["aVR"].qrs_net_mv < 0


def test_beat_times_are_ordered_and_intervals_bounded(normal_record):
    signal, fs, leads = normal_record
    b = extract_features(signal, fs, leads, "HR06004").beats.to_pandas()
    order = ["p_on_s", "p_peak_s", "p_off_s", "qrs_on_s", "qrs_off_s", "t_on_s", "t_peak_s", "t_off_s"]
    lead2 = b[b["lead"] == "II"]
    full = lead2.dropna(subset=order)
    assert len(full) >= 0.8 * len(lead2)
    for a, c in zip(order, order[1:]):
        assert (full[a] <= full[c] + 1e-6).all(), (a, c)
    for col in ("pr_ms", "qrs_ms", "qt_ms", "rr_ms"):
        assert (b[col].dropna() > 0).all()
    assert (b["pr_ms"] < b["rr_ms"]).where(b["pr_ms"].notna() & b["rr_ms"].notna(), True).all()


def test_at_a_fast_rate_p_waves_are_found_and_t_ends_before_the_next_p(cinc2021_dir: Path):
    """HR06003, sinus tachycardia at 124 bpm: the P wave sits right after the T wave.

    At such rates the T may end under the upstroke of the next P (P on T), so a T end is allowed up to
    the next P's peak, never past it, and never past the next QRS onset."""
    signal, fs, leads = _read_cinc(cinc2021_dir, "HR06003")
    res = extract_features(signal, fs, leads, "HR06003")
    rec = res.record
    assert rec.hr_bpm > 115 and rec.p_waves_present and 100 <= rec.pr_ms <= 200
    assert 250 <= rec.qt_ms <= 340 and 360 <= rec.qtc_ms <= 460
    b = res.beats.to_pandas().sort_values(["lead", "beat"])
    nxt = b.groupby("lead")[["p_peak_s", "qrs_on_s"]].shift(-1)
    for col in ("p_peak_s", "qrs_on_s"):
        both = b["t_off_s"].notna() & nxt[col].notna()
        assert both.sum() >= 0.5 * len(b) and (b.loc[both, "t_off_s"] <= nxt.loc[both, col] + 1e-6).all(), col
    lead2 = b[b["lead"] == "II"]
    assert lead2["p_peak_s"].notna().mean() >= 0.9 and lead2["p_amp_mv"].median() > 0.1


def test_white_noise_and_flat_line_produce_no_beats():
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.5, 5000)
    assert detect_r_peaks(noise, FS).size == 0
    assert detect_r_peaks(np.zeros(5000), FS).size == 0
    with pytest.raises(FeatureError, match="too few usable leads"):
        extract_features(rng.normal(0, 0.5, (12, 5000)), FS, LEADS, "noise")
    with pytest.raises(FeatureError, match="too few usable leads"):
        extract_features(np.zeros((12, 5000)), FS, LEADS, "flat")


def test_bad_leads_are_excluded_and_named(normal_record):
    signal, fs, leads = normal_record
    x = signal.astype(np.float64).copy()
    rng = np.random.default_rng(3)
    x[6] = rng.normal(0, 0.4, x.shape[1])  # V1 noise
    x[3] = 0.0  # aVR flat
    x[9] = np.clip(x[9] * 8, -1.0, 1.0)  # V4 clipped
    rec = extract_features(x, fs, leads, "HR06004-bad").record
    assert {"V1:noise", "aVR:flat", "V4:saturated"} <= set(rec.lead_issues)
    assert "V1" not in rec.usable_leads and rec.quality == "fair"
    assert 60 <= rec.hr_bpm <= 100


def test_too_short_and_misnamed_records_raise_feature_error():
    with pytest.raises(FeatureError, match="too short"):
        extract_features(np.zeros((12, 1000)), FS, LEADS, "short")
    with pytest.raises(FeatureError, match="lead names"):
        extract_features(np.zeros((2, 5000)), FS, LEADS, "two-lead")


def test_extract_many_collects_failures_and_keeps_going(normal_record):
    signal, fs, leads = normal_record
    recs = [("good", signal), ("flat", np.zeros_like(signal)), ("good2", signal * 1.5)]
    beats, feats, failures = extract_many(recs, fs, leads)
    assert beats.schema.equals(BEATS_SCHEMA) and feats.schema.equals(RECORD_FEATURES_SCHEMA)
    assert feats.column("record_id").to_pylist() == ["good", "good2"]
    assert [f[0] for f in failures] == ["flat"] and "usable leads" in failures[0][1]
    assert set(beats.column("record_id").to_pylist()) == {"good", "good2"}


def test_record_with_fewer_usable_leads_than_asked_is_refused_with_the_count(normal_record):
    signal, fs, leads = normal_record
    x = signal.astype(np.float64).copy()
    x[[3, 6, 9, 11]] = 0.0  # aVR, V1, V4, V6 flat: 8 usable leads
    assert extract_features(x, fs, leads, "eight").record.usable_leads == [
        "I", "II", "III", "aVL", "aVF", "V2", "V3", "V5"]  # the default (3) measures it
    with pytest.raises(FeatureError) as err:
        extract_features(x, fs, leads, "eight", min_usable_leads=9)
    assert err.value.reason == "too few usable leads (8 < 9)"
    assert {"aVR:flat", "V1:flat", "V4:flat", "V6:flat"} <= set(err.value.detail.split(", "))
    beats, feats, failures = extract_many([("eight", x), ("twelve", signal)], fs, leads, min_usable_leads=9)
    assert feats.column("record_id").to_pylist() == ["twelve"]
    assert [rid for rid, _ in failures] == ["eight"] and failures[0][1].startswith("too few usable leads (8 < 9)")
    assert extract_many([("eight", x)], fs, leads, min_usable_leads=8)[2] == []


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_min_usable_leads_must_be_a_positive_integer(normal_record, bad):
    signal, fs, leads = normal_record
    with pytest.raises(ValueError, match="min_usable_leads"):
        extract_features(signal, fs, leads, "x", min_usable_leads=bad)
    with pytest.raises(ValueError, match="min_usable_leads"):
        extract_many([("x", signal)], fs, leads, min_usable_leads=bad)


def test_other_rates_and_lowercase_lead_names_are_measured(wfdb_samples_dir, ptbxl_dir):
    import wfdb

    ptb = wfdb.rdrecord(str(wfdb_samples_dir / "s0010_re"), channels=list(range(12)))  # 1000 Hz, "i", "avr"
    rec = extract_features(ptb.p_signal.T[:, :10000], ptb.fs, ptb.sig_name, "s0010_re").record
    assert rec.usable_leads[:4] == ["I", "II", "III", "aVR"] and rec.axis_deg is not None
    assert 50 <= rec.hr_bpm <= 110 and rec.n_beats >= 8
    lr = wfdb.rdrecord(str(ptbxl_dir / "00001_lr"))  # 100 Hz
    rec = extract_features(lr.p_signal.T, lr.fs, lr.sig_name, "00001_lr").record
    assert 50 <= rec.hr_bpm <= 80 and rec.qrs_ms is not None and rec.qt_ms is not None
