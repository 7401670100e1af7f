"""Wave bounds read on the median beat and carried to the beats (tasks/features/median_beat.py)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.features import median_beat as mb
from tasks.features.synthetic import LEADS, make_record

FS = 500.0


def _gauss(k: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((k - mu) / sd) ** 2)


def _onset_at(wave: np.ndarray, frac: float) -> int:
    """First sample where a positive wave reaches `frac` of its peak (the truth of a clean wave)."""
    return int(np.argmax(wave >= frac * wave.max()))


def test_a_wave_on_the_previous_waves_tail_does_not_start_at_the_window_edge():
    k = np.arange(300.0)
    p = 0.15 * _gauss(k, 200, 7)
    tail = 0.5 * np.clip((160 - k) / 160, 0, None) ** 2  # the previous wave still falling into the P
    v = (p + tail)[None, :]
    on, off = mb.wave_bounds(v, np.array([200.0]), np.array([80.0]), np.array([260.0]), FS)
    assert on[0] >= 200 - 3 * 7, f"onset {on[0]} runs into the previous wave's tail"
    assert 200 < off[0] <= 200 + 3 * 7


def test_the_two_humps_of_a_bifid_p_are_one_wave():
    k = np.arange(300.0)
    v = (0.12 * _gauss(k, 140, 5) + 0.15 * _gauss(k, 160, 5))[None, :]  # 40 ms apart at 500 Hz
    on, off = mb.wave_bounds(v, np.array([160.0]), np.array([90.0]), np.array([230.0]), FS)
    assert on[0] < 140 - 5 and off[0] > 160 + 5


@settings(max_examples=30, deadline=None)
@given(sd=st.floats(5.0, 9.0), noise=st.floats(0.0, 0.01), seed=st.integers(0, 2**16))
def test_the_median_beat_moves_p_bounds_out_towards_where_the_wave_leaves_the_baseline(sd, noise, seed):
    rng = np.random.default_rng(seed)
    k = np.arange(250.0)
    clean = 0.15 * _gauss(k, 150, sd)
    v = np.stack([clean + rng.normal(0, noise, (12, k.size)) for _ in range(2)])  # (L=2, B=12, W)
    pk = np.full((2, 12), 150.0)
    lo, hi = np.full((2, 12), 90.0), np.full((2, 12), 210.0)
    d_on, d_off = mb.p_shift(v, pk, lo, hi, FS)
    on_b, off_b = mb.wave_bounds(clean[None, :], np.array([150.0]), np.array([90.0]), np.array([210.0]), FS)
    assert np.all(d_on <= 0) and np.all(d_off >= 0)
    assert np.all(np.abs(d_on) <= mb.MAX_SHIFT_S * FS)
    truth_on = _onset_at(clean, 0.05)
    assert np.all(np.abs(on_b[0] + d_on - truth_on) <= np.abs(on_b[0] - truth_on) + 1)


def test_too_few_beats_with_the_wave_give_no_shift():
    v = np.zeros((1, 6, 200))
    pk = np.full((1, 6), np.nan)
    pk[0, 0] = 100.0
    d_on, d_off = mb.p_shift(v, pk, np.full((1, 6), 40.0), np.full((1, 6), 160.0), FS)
    assert d_on[0] == 0.0 and d_off[0] == 0.0


def test_the_alt_variant_reshapes_p_and_t_and_leaves_the_default_records_alone():
    a, b, alt = make_record(5), make_record(5), make_record(5, variant="alt")
    assert np.array_equal(a.signal, b.signal)
    assert np.array_equal(a.beats, alt.beats) and a.shape == alt.shape  # same rhythm and QRS, other P/T
    assert not np.allclose(a.signal, alt.signal)
    assert np.all(alt.truth_global["p_on"] < alt.truth_global["p_off"])
    assert np.all(alt.truth_global["qrs_off"] < alt.truth_global["t_off"])
    try:
        make_record(5, variant="nope")
    except ValueError as err:
        assert "variant" in str(err)
    else:
        raise AssertionError("an unknown variant must be refused")
    assert len(alt.leads) == len(LEADS)


def _lead_errors(rec, tbl, fid: str) -> np.ndarray:
    """ms errors of a per-lead fiducial against the lead's truth, beats matched on the QRS onset."""
    out = []
    for li, lead in enumerate(LEADS):
        g = tbl[tbl.lead == lead]
        on = g["qrs_on_g_s"].to_numpy(float) * rec.fs
        est = g[f"{fid}_s"].to_numpy(float) * rec.fs
        for b, t in enumerate(rec.truth_global["qrs_on"]):
            j = int(np.argmin(np.abs(on - t)))
            if abs(on[j] - t) < 0.1 * rec.fs and np.isfinite(rec.truth[fid][li, b]) and np.isfinite(est[j]):
                out.append((est[j] - rec.truth[fid][li, b]) * 1000 / rec.fs)
    return np.asarray(out)


def test_p_and_t_bounds_hold_on_wave_shapes_the_delineator_was_not_built_on():
    """alt variant (bifid P, raised-cosine/notched T) at sinus rates where P and T do not overlap."""
    from tasks.features import extract_features

    for seed, hr in ((41, 62), (42, 78)):
        rec = make_record(seed, shape="normal", hr=hr, variant="alt")
        tbl = extract_features(rec.signal, rec.fs, list(LEADS), "alt").beats.to_pandas()
        for fid, tol in (("p_on", 15.0), ("p_off", 15.0), ("t_off", 25.0)):
            err = _lead_errors(rec, tbl, fid)
            assert err.size >= 20, f"seed {seed} {fid}: only {err.size} lead-beats measured"
            assert np.median(np.abs(err)) <= tol, f"seed {seed} {fid}: median |error| {np.median(np.abs(err)):.1f} ms"


def test_the_opposite_lobe_of_a_biphasic_p_belongs_to_the_p():
    """A V1-like P: positive, then a negative lobe of half its height; the median beat's offset is where
    the negative lobe is back at the baseline, not where the positive part ends."""
    k = np.arange(300.0)
    clean = 0.12 * _gauss(k, 140, 7) - 0.07 * _gauss(k, 165, 7)
    v = np.broadcast_to(clean, (1, 10, k.size)).copy()
    pk = np.full((1, 10), 140.0)
    lo, hi = np.full((1, 10), 80.0), np.full((1, 10), 230.0)
    d_on, d_off = mb.p_shift(v, pk, lo, hi, FS)
    on_b, off_b = mb.wave_bounds(v[:, 0], pk[:, 0], lo[:, 0], hi[:, 0], FS)
    neg_end = 165 + 2.45 * 7  # the negative lobe at 5% of its depth
    assert d_off[0] > 0 and off_b[0] + d_off[0] >= 165, "the negative lobe was left out of the P"
    assert abs(off_b[0] + d_off[0] - neg_end) <= 8
    assert d_on[0] <= 0  # the onset side has no lobe: unchanged rule
