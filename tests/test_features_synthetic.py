"""Delineation and ectopy against truth known by construction: seeded synthetic 12-lead records."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.features import FeatureError, extract_features
from tasks.features.synthetic import LEADS, make_record


def _global_errors(rec, tbl, fid: str) -> np.ndarray:
    """ms error of the global fiducial per true beat (estimate - truth), matched on the QRS onset."""
    g = tbl.groupby("beat")[list(dict.fromkeys(["qrs_on_g_s", f"{fid}_g_s"]))].first()
    est_on = g["qrs_on_g_s"].to_numpy(float) * rec.fs
    true_on = rec.truth_global["qrs_on"]
    out = []
    for i, t in enumerate(true_on):
        j = int(np.argmin(np.abs(est_on - t)))
        if abs(est_on[j] - t) < 0.1 * rec.fs:
            out.append((g[f"{fid}_g_s"].to_numpy(float)[j] * rec.fs - rec.truth_global[fid][i]) * 1000 / rec.fs)
    return np.asarray(out)


def test_generator_is_seeded_and_its_truth_is_ordered():
    a, b = make_record(7), make_record(7)
    assert np.array_equal(a.signal, b.signal) and a.shape == b.shape
    assert not np.array_equal(a.signal, make_record(8).signal)
    g = a.truth_global
    assert np.all(g["p_on"] < g["p_off"]) and np.all(g["p_off"] < g["qrs_on"])
    assert np.all(g["qrs_on"] < g["qrs_off"]) and np.all(g["qrs_off"] < g["t_off"])
    narrow = make_record(3, shape="normal", hr=70)
    wide = make_record(3, shape="rbbb", hr=70)
    width = lambda r: np.median(r.truth_global["qrs_off"] - r.truth_global["qrs_on"]) * 1000 / r.fs
    assert width(wide) >= 120 > 110 >= width(narrow)


@pytest.mark.parametrize("seed,shape,hr", [(11, "normal", 65), (12, "normal", 95), (13, "rbbb", 70),
                                           (14, "lbbb", 80)])
def test_global_qrs_bounds_and_t_end_match_the_truth(seed, shape, hr):
    rec = make_record(seed, shape=shape, hr=hr)
    tbl = extract_features(rec.signal, rec.fs, list(LEADS), "syn").beats.to_pandas()
    for fid, tol in (("qrs_on", 12.0), ("qrs_off", 15.0), ("t_off", 35.0)):
        err = _global_errors(rec, tbl, fid)
        assert err.size >= rec.beats.size - 1, f"{fid}: {err.size} of {rec.beats.size} beats measured"
        assert np.median(np.abs(err)) <= tol, f"{shape} {fid}: median |error| {np.median(np.abs(err)):.1f} ms"


def test_a_wide_qrs_is_wide_in_at_least_ten_leads():
    rec = make_record(21, shape="rbbb", hr=72)
    f = extract_features(rec.signal, rec.fs, list(LEADS), "syn").record
    assert f.qrs_ms >= 120
    assert sum(1 for s in f.leads if s.qrs_ms is not None and s.qrs_ms >= 100) >= 10


@pytest.mark.parametrize("kind", ["V", "S"])
def test_ectopic_beats_are_labelled_and_leave_the_dominant_rate_alone(kind):
    hits = misses = false = 0
    for seed in (31, 32, 33):
        rec = make_record(seed, shape="normal", hr=75, ectopy=kind)
        res = extract_features(rec.signal, rec.fs, list(LEADS), "syn")
        g = res.beats.to_pandas().groupby("beat")[["qrs_on_g_s", "beat_class"]].first()
        on = g["qrs_on_g_s"].to_numpy(float) * rec.fs
        for t, cls in zip(rec.truth_global["qrs_on"], rec.beat_class):
            got = g["beat_class"].to_numpy()[int(np.argmin(np.abs(on - t)))]
            hits += cls == kind and got == kind
            misses += cls == kind and got != kind
            false += cls == "N" and got != "N"
        rr_true = np.diff(rec.beats)[[a == "N" and b == "N" for a, b in zip(rec.beat_class, rec.beat_class[1:])]]
        f = res.record
        assert f.dominant_hr_bpm == pytest.approx(60 * rec.fs / rr_true.mean(), abs=2.0)
        assert f.rate_class == "normal"
    assert hits >= 0.9 * (hits + misses) and hits > 0, f"{kind}: {hits} found, {misses} missed"
    assert false <= 1, f"{false} dominant beats labelled ectopic"


def test_sinus_strip_without_ectopy_has_every_beat_dominant():
    rec = make_record(41, shape="normal", hr=88)
    res = extract_features(rec.signal, rec.fs, list(LEADS), "syn")
    assert set(res.beats.column("beat_class").to_pylist()) == {"N"}
    assert res.record.n_pvc == 0 and res.record.n_pac == 0
    assert res.record.dominant_hr_bpm == pytest.approx(res.record.hr_bpm, abs=0.5)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.sampled_from(["normal", "rbbb", "lbbb"]),
       hr=st.floats(40, 160), ectopy=st.sampled_from([None, "V", "S"]), noise=st.floats(0.0, 3.0))
def test_any_synthetic_record_is_measured_or_refused_with_a_reason(seed, shape, hr, ectopy, noise):
    rec = make_record(seed, shape=shape, hr=hr, ectopy=ectopy, noise=noise)
    try:
        res = extract_features(rec.signal, rec.fs, list(LEADS), "syn")
    except FeatureError as err:
        assert err.reason
        return
    tbl = res.beats.to_pandas()
    assert set(tbl["beat_class"]) <= {"N", "V", "S"}
    g = tbl.groupby("beat")[["qrs_on_g_s", "qrs_off_g_s", "t_off_g_s"]].first()  # null: not measurable
    both = g[["qrs_on_g_s", "qrs_off_g_s"]].dropna()
    assert (both["qrs_on_g_s"] < both["qrs_off_g_s"]).all()
    qt = g.dropna()
    assert (qt["t_off_g_s"] > qt["qrs_off_g_s"]).all()
    lead_qrs = tbl[["qrs_on_s", "qrs_off_s"]].dropna()
    assert (lead_qrs["qrs_off_s"] > lead_qrs["qrs_on_s"]).all()
    f = res.record
    assert f.n_pvc + f.n_pac == int((tbl.groupby("beat")["beat_class"].first() != "N").sum())
    assert f.dominant_hr_bpm is None or 20 < f.dominant_hr_bpm < 250


@pytest.mark.parametrize("seed,hr", [(65, 55), (66, 140)])
def test_the_r_prime_of_a_right_bundle_branch_block_after_a_quiet_pause_is_inside_the_qrs(seed, hr):
    """Records whose R' follows the S after a short quiet stretch: the QRS ends after the R', not at the S."""
    rec = make_record(seed, shape="rbbb", hr=hr)
    tbl = extract_features(rec.signal, rec.fs, list(LEADS), "syn").beats.to_pandas()
    err = _global_errors(rec, tbl, "qrs_off")
    assert np.isfinite(err).sum() >= rec.beats.size - 2
    assert np.nanmedian(np.abs(err)) <= 12.0, f"QRS offset off by {np.nanmedian(err):.0f} ms (the R' cut off?)"


def _hump(k: np.ndarray, mu: float, sd: float, a: float) -> np.ndarray:
    return a * np.exp(-0.5 * ((k - mu) / sd) ** 2)


def test_the_t_peak_is_the_earlier_wave_when_a_taller_next_p_shares_its_window():
    from tasks.features.delineate import _t_peak

    k = np.arange(400.0)
    t_then_p = _hump(k, 120, 20, 0.20) + _hump(k, 250, 8, 0.25)  # a T, then the next beat's taller P
    shoulder = _hump(k, 200, 25, 0.30) + _hump(k, 150, 12, 0.18)  # one T with a shoulder before its peak
    early_top = _hump(k, 120, 20, 0.30) + _hump(k, 250, 8, 0.20)  # the T is the tallest anyway
    ys = np.stack([t_then_p, shoulder, early_top])[None]  # (L=1, B=3, W)
    lo, hi, zone = np.full(3, 40.0), np.full(3, 300.0), np.full(3, 220.0)
    pk, amp = _t_peak(ys, lo, hi, zone, 500.0)
    assert abs(pk[0, 0] - 120) <= 2, "the next P was taken for the T"
    assert pk[0, 1] >= 195, "a shoulder of the same T is not a separate wave"
    assert abs(pk[0, 2] - 120) <= 2
    assert np.all(np.abs(amp) >= 0.2)
