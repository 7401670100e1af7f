"""Per-lead signal-quality gate: flat, saturated, noise-dominated, baseline-dominated leads."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from tasks.features.filters import band_sos, remove_mains

# Thresholds (mV unless stated). See docs/features.md for the rationale of each.
FLAT_PTP_MV = 0.04  # robust peak-to-peak of the 0.5-40 Hz signal below this: no ECG
SATURATED_FRACTION = 0.01  # share of samples pinned at the lead's min or max
HF_NOISE_RATIO = 0.35  # share of signal power above 45 Hz
KURTOSIS_MIN = 4.5  # QRS band kurtosis: Gaussian noise ~3, ECG usually > 8
BASELINE_RATIO = 4.0  # wander peak-to-peak over ECG peak-to-peak
BASELINE_MIN_MV = 1.5


@dataclass(frozen=True)
class LeadQuality:
    """Quality verdict per lead: `issues[i]` is "" for a usable lead, else the reason."""

    issues: tuple[str, ...]
    snr_db: np.ndarray  # (n_leads,) QRS band power over the high-frequency residual

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
    snr_db = 10 * np.log10(np.maximum((qrs_band**2).mean(axis=-1), 1e-18) / np.maximum((high**2).mean(axis=-1), 1e-12))
    issues = []
    for i in range(raw.shape[0]):
        if not finite[i]:
            issues.append("missing")
        elif ecg_ptp[i] < FLAT_PTP_MV:
            issues.append("flat")
        elif _saturated_fraction(raw[i : i + 1])[0] > SATURATED_FRACTION:
            issues.append("saturated")
        elif hf_ratio[i] > HF_NOISE_RATIO or kurt[i] < KURTOSIS_MIN:
            issues.append("noise")
        elif wander_ptp[i] > max(BASELINE_RATIO * ecg_ptp[i], BASELINE_MIN_MV):
            issues.append("baseline")
        else:
            issues.append("")
    return LeadQuality(issues=tuple(issues), snr_db=snr_db)
