"""R-peak detection on seeded synthetic ECG with known beats: every rate, rhythm and noise condition,
100-1000 Hz, and long records with local defects (drift, clipping) processed in windows."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.features import detect_r_peaks
from tasks.features.beats import detect_beats
from tasks.features.filters import clean_band, despike, qrs_band
from tasks.features.quality import assess_leads
from tasks.features.windows import spans, stitch
from tests.synthetic_beats import CONDITIONS, FS_SET, synth_strip

TOL_S = 0.075
CONDITION_F1_MIN = 0.95  # every condition, pooled over the rates
POOLED_F1_MIN = 0.985
# 3 mV motion bursts (2 per 10 s, up to 1 s long) bury the beats under them: lower floors there
BURIED = {"motion-bursts-strong": (0.8, 0.9)}


def _f1(det: np.ndarray, ref: np.ndarray, fs: float) -> float:
    tol = int(TOL_S * fs)
    used = np.zeros(det.size, dtype=bool)
    hit = 0
    for r in ref:
        d = np.where(used, np.inf, np.abs(det - r).astype(float))
        if d.size and d.min() <= tol:
            used[int(np.argmin(d))] = True
            hit += 1
    return 2 * hit / max(det.size + ref.size, 1)


@pytest.mark.parametrize("cond", CONDITIONS, ids=[c.name for c in CONDITIONS])
def test_every_synthetic_condition_is_detected_at_every_rate(cond):
    scores = []
    for fs in FS_SET:
        strip = synth_strip(cond, fs, seed=7)
        det = detect_r_peaks(strip.signal, fs)
        assert det.size > 0, f"no beats at {fs} Hz"
        scores.append(_f1(det, strip.r_peaks, fs))
    low, mean = BURIED.get(cond.name, (0.9, CONDITION_F1_MIN))
    assert min(scores) >= low and np.mean(scores) >= mean, dict(zip(FS_SET, np.round(scores, 3)))


def test_slow_rhythm_does_not_take_t_waves_or_noise_for_beats():
    """At 35 bpm beats are few among the candidates; the QRS level must not sink to T-wave height."""
    cond = next(c for c in CONDITIONS if c.name == "sinus-35")
    for fs in (128.0, 250.0, 500.0):
        strip = synth_strip(cond, fs, seed=3)
        assert detect_r_peaks(strip.signal, fs).size == strip.r_peaks.size


def test_mains_hum_does_not_make_a_lead_unusable():
    cond = next(c for c in CONDITIONS if c.name == "mains")
    strip = synth_strip(cond, 128.0, seed=1)
    x = strip.signal[None, :]
    assert assess_leads(x, clean_band(x, 128.0), qrs_band(x, 128.0), 128.0).issues == ("",)
    assert _f1(detect_r_peaks(strip.signal, 128.0), strip.r_peaks, 128.0) >= 0.95


def _long_defective(kind: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """3 minutes of AF at 200 Hz with a random-walk drift of several mV or an 8 s clipped artefact."""
    fs = 200.0
    strip = synth_strip(next(c for c in CONDITIONS if c.name == "af-80"), fs, seconds=180.0, seed=seed)
    x = strip.signal.copy()
    rng = np.random.default_rng(seed)
    if kind == "drift":
        x += np.cumsum(rng.standard_normal(x.size)) * 0.02
    else:
        a, n = int(0.4 * x.size), int(8 * fs)
        x[a:a + n] += 6 * np.sin(np.linspace(0, 3 * np.pi, n))
        x = np.clip(x, -2.5, 2.5)
    return x, strip.r_peaks, fs


@pytest.mark.parametrize("kind", ["drift", "clip"])
def test_long_record_with_a_local_defect_still_yields_its_beats(kind):
    """Whole-record gating called these 'baseline'/'saturated' and returned zero beats."""
    x, ref, fs = _long_defective(kind)
    det = detect_r_peaks(x, fs)
    assert np.all(np.diff(det) >= 0.2 * fs)  # stitched without duplicates
    assert _f1(det, ref, fs) >= 0.94


def test_fused_detection_of_a_long_two_lead_record_is_windowed():
    x, ref, fs = _long_defective("clip")
    lead2 = 0.6 * synth_strip(next(c for c in CONDITIONS if c.name == "af-80"), fs, seconds=180.0, seed=1).signal
    raw = despike(np.stack([x, lead2]), fs)
    band = qrs_band(raw, fs)
    usable = assess_leads(raw, clean_band(raw, fs), band, fs).usable
    det = detect_beats(raw, band, fs, np.ones(2, dtype=bool) if not usable.any() else usable)
    assert np.all(np.diff(det) >= 0.2 * fs)
    assert _f1(det, ref, fs) >= 0.97


def test_windows_cover_the_record_once_and_stitching_drops_duplicates():
    fs, n = 200.0, 200 * 300 + 17
    cores = [(lo, hi) for _, _, lo, hi in spans(n, fs)]
    assert cores[0][0] == 0 and cores[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))
    assert all(s <= lo and hi <= e for s, e, lo, hi in spans(n, fs))
    assert spans(int(10 * fs), fs) == [(0, 2000, 0, 2000)]
    assert stitch([np.array([100, 500]), np.array([510, 900])], fs).tolist() == [100, 500, 900]


def test_white_noise_and_flat_lines_give_no_beats_at_any_rate():
    rng = np.random.default_rng(0)
    for fs in (100.0, 250.0, 1000.0):
        assert detect_r_peaks(rng.standard_normal(int(30 * fs)) * 0.2, fs).size == 0
        assert detect_r_peaks(np.zeros(int(30 * fs)), fs).size == 0


def test_r_peaks_sit_on_the_annotated_peak_of_real_strips(cpsc2019_dir):
    """On the CPSC-2019 strips the detected R lies near the experts' R, not on a slope of the QRS:
    the 8-25 Hz extreme used before rang onto the slopes (95th percentile of the error 46 ms)."""
    from scipy.io import loadmat

    errors = []
    for path in sorted((cpsc2019_dir / "data").glob("data_*.mat")):
        ref = loadmat(cpsc2019_dir / "ref" / path.name.replace("data_", "R_"))["R_peak"].ravel().astype(int)
        det = detect_r_peaks(loadmat(path)["ecg"].ravel(), 500.0)
        near = np.abs(det[:, None] - ref[None, :]).min(axis=1) * 2.0  # ms at 500 Hz
        errors.extend(near[near <= TOL_S * 1000])
    assert len(errors) >= 370 and np.percentile(errors, 95) <= 35.0, np.percentile(errors, [50, 95])


def test_fast_wide_qrs_is_not_rejected_as_noise():
    """A wide QRS at 130 bpm fills much of the strip: its band's kurtosis is noise-like (3-4.5), so the
    gate called every lead of these seeded LBBB-like records "noise" and they had no beats at all."""
    from tasks.features.synthetic import make_record

    for seed in (1017, 1029):
        rec = make_record(seed)
        x = np.asarray(rec.signal, dtype=float)
        x = x if x.shape[0] == 12 else x.T
        raw = despike(x, rec.fs)
        band = qrs_band(raw, rec.fs)
        quality = assess_leads(raw, clean_band(raw, rec.fs), band, rec.fs)
        assert quality.usable.sum() >= 6, quality.issues
        det = detect_beats(raw, band, rec.fs, quality.usable)
        ref = rec.beats[(rec.beats > 0.05 * rec.fs) & (rec.beats < x.shape[-1] - 0.1 * rec.fs)] + int(0.04 * rec.fs)
        assert _f1(det, ref, rec.fs) >= 0.95


@pytest.mark.parametrize("seconds", [5.0, 10.0, 20.0])
def test_band_limited_noise_stays_unusable_for_any_length(seconds):
    rng = np.random.default_rng(int(seconds))
    for fs in (100.0, 250.0, 500.0, 1000.0):
        for _ in range(5):
            x = rng.standard_normal((1, int(seconds * fs))) * rng.uniform(0.02, 1.0)
            x = np.convolve(x[0], np.ones(3) / 3, "same")[None, :] if rng.random() < 0.5 else x
            band = qrs_band(x, fs)
            assert assess_leads(x, clean_band(x, fs), band, fs).issues == ("noise",)
            assert detect_r_peaks(x[0], fs).size == 0


def test_leads_unfit_only_for_amplitudes_still_give_their_beats():
    """Wander that dwarfs the ECG and clipped R peaks make a lead unusable for delineation, not for
    detection: such ambulatory-like records gave zero beats (`baseline` / `saturated` everywhere)."""
    fs = 200.0
    cond = next(c for c in CONDITIONS if c.name == "wander-large")
    a = synth_strip(cond, fs, seconds=60.0, seed=2)
    b = synth_strip(cond, fs, seconds=60.0, seed=2, noise_seed=11).signal
    clipped = np.concatenate([np.clip(w, None, np.percentile(w, 98.5)) for w in np.split(b, 6)])  # R tops cut
    raw = despike(np.stack([a.signal, clipped])[:, :2000], fs)
    band = qrs_band(raw, fs)
    quality = assess_leads(raw, clean_band(raw, fs), band, fs)
    assert quality.issues == ("baseline", "saturated") and quality.detectable.all()
    assert _f1(detect_beats(raw, band, fs, quality.usable), a.r_peaks[a.r_peaks < 2000], fs) >= 0.9
    for x in (a.signal, clipped):
        assert _f1(detect_r_peaks(x, fs), a.r_peaks, fs) >= 0.97
