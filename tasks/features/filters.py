"""Signal conditioning shared by the features modules: despiking and zero-phase band-pass filters."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy import signal as sps

CLEAN_BAND_HZ = (0.5, 40.0)  # delineation and amplitudes
QRS_BAND_HZ = (8.0, 25.0)  # beat detection and the quality gate
SPIKE_MADS = 30.0  # an impulse this many MADs off a 12 ms running median is a spike
SPIKE_MIN_MV = 0.5
MAINS_HZ = (50.0, 60.0)
MAINS_Q = 30.0  # notch quality factor: about 2 Hz wide at 50-60 Hz


def band_sos(fs: float, low: float | None, high: float | None) -> np.ndarray:
    """Second-order Butterworth sections (band, high or low pass); the high edge stays below Nyquist."""
    return _design(float(fs), low, high).copy()


@lru_cache(maxsize=64)
def _design(fs: float, low: float | None, high: float | None) -> np.ndarray:
    """The filter design, cached per (fs, band): it costs more than filtering a 10 s record."""
    nyq = fs / 2.0
    high = None if high is None else min(high, 0.8 * nyq)
    if low and high:
        return sps.butter(2, [low / nyq, high / nyq], btype="band", output="sos")
    if low:
        return sps.butter(2, low / nyq, btype="high", output="sos")
    return sps.butter(2, high / nyq, btype="low", output="sos")


def despike(x: np.ndarray, fs: float) -> np.ndarray:
    """Replace isolated impulses (pacing/ADC spikes, a few samples wide) by a short running median."""
    width = max(3, int(0.012 * fs) | 1)
    med = ndimage.median_filter(x, size=(1,) * (x.ndim - 1) + (width,), mode="nearest")
    resid = x - med
    mad = np.median(np.abs(resid), axis=-1, keepdims=True)
    spikes = np.abs(resid) > np.maximum(SPIKE_MADS * mad, SPIKE_MIN_MV)
    return np.where(spikes, med, x)


def clean_band(x: np.ndarray, fs: float) -> np.ndarray:
    """0.5-40 Hz zero-phase band-pass (baseline wander and mains/EMG removed); (n,) or (leads, n)."""
    return sps.sosfiltfilt(band_sos(fs, *CLEAN_BAND_HZ), x, axis=-1)


def qrs_band(x: np.ndarray, fs: float) -> np.ndarray:
    """8-25 Hz zero-phase band-pass where QRS energy dominates P, T and wander."""
    return sps.sosfiltfilt(band_sos(fs, *QRS_BAND_HZ), x, axis=-1)


@lru_cache(maxsize=64)
def _notches(fs: float) -> np.ndarray:
    """Second-order sections of a 50 Hz and a 60 Hz notch, for those below 0.45 fs."""
    sections = []
    for f in MAINS_HZ:
        if f < 0.45 * fs:
            sections.append(sps.tf2sos(*sps.iirnotch(f, MAINS_Q, fs)))
    return np.concatenate(sections) if sections else np.zeros((0, 6))


def remove_mains(x: np.ndarray, fs: float) -> np.ndarray:
    """50 and 60 Hz interference removed by zero-phase notches (nothing to do at low sampling rates)."""
    sos = _notches(float(fs))
    return sps.sosfiltfilt(sos, x, axis=-1) if sos.size else x
