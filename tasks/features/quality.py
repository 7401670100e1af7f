"""Per-lead signal-quality gate: flat, saturated, noise-dominated, baseline-dominated leads."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from tasks.features.filters import band_sos, remove_mains

# Thresholds (mV unless stated). See docs/features.md for the rationale of each.
FLAT_PTP_MV = 0.04  # robust peak-to-peak of the 0.5-40 Hz signal below this: no ECG
SATURATED_FRACTION = 0.01  # share of samples pinned at the lead's min or max
HF_NOISE_RATIO = 0.35  # share of signal power above 45 Hz
KURTOSIS_MIN = 4.5  # QRS band kurtosis: Gaussian noise ~3, ECG usually > 8 ...
RANGE_MIN = 6.5  # ... or a QRS envelope whose 98th percentile is this many times its 10th (noise < 5)
ENVELOPE_S = 0.08  # the envelope: root of the moving mean of the squared QRS-band slope (as beats.py)
RANGE_EDGE_S = 0.5  # ... leaving out the filter transients at both ends
RANGE_MIN_S = 5.0  # ... on leads at least this long
BASELINE_RATIO = 4.0  # wander peak-to-peak over ECG peak-to-peak
BASELINE_MIN_MV = 1.5


@dataclass(frozen=True)
class LeadQuality:
    """Quality verdict per lead: `issues[i]` is "" for a usable lead, else the reason."""

    issues: tuple[str, ...]
    snr_db: np.ndarray  # (n_leads,) QRS band power over the high-frequency residual
    detectable: np.ndarray  # (n_leads,) beats can still be detected: usable, or see _detectable

    @property
    def usable(self) -> np.ndarray:
        return np.array([not issue for issue in self.issues], dtype=bool)

def _robust_ptp(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, [1.0, 99.0], axis=-1)
    return hi - lo


def _saturated_fraction(raw: np.ndarray) -> np.ndarray:
    """Share of samples within 0.1% of range of the lead's own min or max (clipping plateaus)."""
    lo = raw.min(axis=-1, keepdims=True)
    hi = raw.max(axis=-1, keepdims=True)
    tol = np.maximum((hi - lo) * 1e-3, 1e-9)
    pinned = (raw >= hi - tol) | (raw <= lo + tol)
    return pinned.mean(axis=-1)


def _kurtosis(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    sq = centred * centred
    var = np.maximum(sq.mean(axis=-1), 1e-18)
    return (sq * sq).mean(axis=-1) / var**2


def _envelope_range(qrs_band: np.ndarray, fs: float) -> np.ndarray:
    """98th over 10th percentile of each lead's QRS envelope: beats stand out of the quiet between them.

    A wide QRS at a fast rate fills much of the strip, so its band's kurtosis falls to noise level
    (2-4.5 on seeded fast LBBB-like records), but in its best leads the envelope still rises 6-24
    times above the stretches between beats; band-limited Gaussian noise gives at most 5 over 5-20 s
    at 100-1000 Hz, the CPSC-2019 strips at least 8.6.
    """
    edge = int(RANGE_EDGE_S * fs)
    if qrs_band.shape[-1] < RANGE_MIN_S * fs:  # too short for a stable percentile: kurtosis alone decides
        return np.zeros(qrs_band.shape[:-1])
    slope = np.gradient(qrs_band, axis=-1) * fs
    width = max(3, int(round(ENVELOPE_S * fs)))
    env = np.sqrt(np.maximum(ndimage.uniform_filter1d(slope**2, width, axis=-1), 0.0))[..., edge:-edge]
    high, low = np.percentile(env, [98.0, 10.0], axis=-1)
    return high / np.maximum(low, 1e-12)


def assess_leads(raw: np.ndarray, clean: np.ndarray, qrs_band: np.ndarray, fs: float) -> LeadQuality:
    """Quality of each lead from the raw signal, its 0.5-40 Hz version and its QRS-band version."""
    finite = np.isfinite(raw).all(axis=-1)
    raw = np.where(np.isfinite(raw), raw, 0.0)
    ecg_ptp = _robust_ptp(clean)
    no_mains = remove_mains(raw, fs)  # mains hum is filtered out downstream; it does not make a lead unusable
    high = no_mains - sps.sosfiltfilt(band_sos(fs, None, 45.0), no_mains, axis=-1) if fs > 100 else np.zeros_like(raw)
    total = np.maximum(((raw - raw.mean(axis=-1, keepdims=True)) ** 2).mean(axis=-1), 1e-18)
    hf_ratio = (high**2).mean(axis=-1) / total
    wander = sps.sosfiltfilt(band_sos(fs, None, 0.5), raw, axis=-1)
    wander_ptp = _robust_ptp(wander)
    kurt = _kurtosis(qrs_band)
    peaky = kurt >= KURTOSIS_MIN
    if not peaky.all():  # the envelope range only for the leads kurtosis alone would call noise
        peaky[~peaky] = _envelope_range(qrs_band[~peaky], fs) >= RANGE_MIN
    snr_db = 10 * np.log10(np.maximum((qrs_band**2).mean(axis=-1), 1e-18) / np.maximum((high**2).mean(axis=-1), 1e-12))
    issues = []
    for i in range(raw.shape[0]):
        if not finite[i]:
            issues.append("missing")
        elif ecg_ptp[i] < FLAT_PTP_MV:
            issues.append("flat")
        elif _saturated_fraction(raw[i : i + 1])[0] > SATURATED_FRACTION:
            issues.append("saturated")
        elif hf_ratio[i] > HF_NOISE_RATIO or not peaky[i]:
            issues.append("noise")
        elif wander_ptp[i] > max(BASELINE_RATIO * ecg_ptp[i], BASELINE_MIN_MV):
            issues.append("baseline")
        else:
            issues.append("")
    return LeadQuality(issues=tuple(issues), snr_db=snr_db, detectable=_detectable(issues, qrs_band, fs))


def _detectable(issues: list[str], qrs_band: np.ndarray, fs: float) -> np.ndarray:
    """Usable leads, and leads rejected for wander, clipping or noise whose beats still stand out.

    Wander, high-frequency noise outside the QRS band and clipped R peaks make a lead unfit for
    amplitudes and delineation, but its QRS complexes are still there (ambulatory recordings
    often look like this). "Stand out" is the envelope range test alone (RANGE_MIN): band-limited
    noise stays below 5 on it, while its kurtosis can pass 4.5 on a short lead.
    """
    ok = np.array([not issue for issue in issues], dtype=bool)
    maybe = np.array([issue in ("noise", "saturated", "baseline") for issue in issues], dtype=bool)
    if maybe.any():
        ok[maybe] = _envelope_range(qrs_band[maybe], fs) >= RANGE_MIN
    return ok
