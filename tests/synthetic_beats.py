"""Seeded synthetic single-lead ECG with known R-peak times, for judging beat detection.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) placed on a rhythm drawn from the condition:
sinus at a set rate, atrial-fibrillation-like irregular RR (no P, fibrillatory waves), or sinus
with premature ventricular beats (wide, no P, discordant T, compensatory pause). Baseline wander,
EMG-like noise and mains interference are added on top; amplitudes can be low or inverted. The
waves are evaluated in continuous time, so any sampling rate gives the same truth (R-peak times).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

FS_SET = (100.0, 128.0, 200.0, 250.0, 360.0, 500.0, 1000.0)


@dataclass(frozen=True)
class Condition:
    """What a synthetic strip contains; noise levels are in mV."""

    name: str
    hr_bpm: float = 72.0
    af: bool = False
    af_spread: float = 0.22  # standard deviation of log RR in AF
    pvc_share: float = 0.0
    wander_mv: float = 0.05
    emg_mv: float = 0.01
    mains_mv: float = 0.0
    qrs_mv: float = 1.0  # R amplitude; negative inverts the whole beat
    t_ratio: float = 0.3  # T amplitude over R
    bursts_mv: float = 0.0  # motion-artefact bursts (2 per 10 s, 0.3-1 s long, 1-25 Hz)
    pvc_every: int = 0  # every n-th beat is a PVC (2: bigeminy, 3: trigeminy); 0: at random (pvc_share)
    pvc_scale: float = 1.4  # PVC main wave over the R amplitude (negative: opposite polarity)
    pvc_coupling: tuple[float, float] = (0.55, 0.7)  # PVC coupling interval, share of the preceding RR
    pause_s: float = 0.0  # one sinus pause (no beat) of this length at a random time


CONDITIONS = (
    Condition("sinus-35", hr_bpm=35.0),
    Condition("sinus-60", hr_bpm=60.0),
    Condition("sinus-100", hr_bpm=100.0),
    Condition("sinus-150", hr_bpm=150.0),
    Condition("sinus-200", hr_bpm=200.0),
    Condition("af-80", hr_bpm=80.0, af=True),
    Condition("af-140", hr_bpm=140.0, af=True),
    Condition("af-wild", hr_bpm=110.0, af=True, af_spread=0.4, emg_mv=0.03),
    Condition("pvc", hr_bpm=75.0, pvc_share=0.2),
    Condition("tall-t", hr_bpm=70.0, t_ratio=0.8),
    Condition("wander", hr_bpm=70.0, wander_mv=1.0),
    Condition("emg", hr_bpm=80.0, emg_mv=0.1),
    Condition("mains", hr_bpm=75.0, mains_mv=0.3),
    Condition("low-qrs", hr_bpm=75.0, qrs_mv=0.15, emg_mv=0.005),
    Condition("inverted", hr_bpm=75.0, qrs_mv=-1.0),
    Condition("artefact-bursts", hr_bpm=80.0, bursts_mv=1.0),
    Condition("af-pvc-noisy", hr_bpm=110.0, af=True, pvc_share=0.1, wander_mv=0.5, emg_mv=0.05, mains_mv=0.1),
    # failure classes of held-out strips (issue 14): ectopy that dominates the QRS level, T as tall as R,
    # a noise floor near the beats, wander that dwarfs the ECG, strong motion artefact
    Condition("trigeminy-inverted-pvc", hr_bpm=75.0, pvc_every=3, pvc_scale=-2.5, pvc_coupling=(0.42, 0.55)),
    Condition("bigeminy", hr_bpm=70.0, pvc_every=2, pvc_scale=2.0),
    Condition("trigeminy-tall-pvc", hr_bpm=65.0, qrs_mv=0.3, pvc_every=3, pvc_scale=5.0, pvc_coupling=(0.42, 0.5)),
    Condition("tall-t-over-r", hr_bpm=70.0, qrs_mv=0.6, t_ratio=1.2),
    Condition("low-qrs-emg", hr_bpm=60.0, qrs_mv=0.2, emg_mv=0.04),
    Condition("wander-large", hr_bpm=70.0, qrs_mv=0.5, wander_mv=3.0),
    Condition("motion-bursts-strong", hr_bpm=80.0, bursts_mv=3.0),
    Condition("pause-3s", hr_bpm=70.0, pause_s=3.0),
)


@dataclass(frozen=True)
class Strip:
    """One synthetic lead (mV) at `fs` and the sample indices of its R peaks."""

    signal: np.ndarray
    fs: float
    r_peaks: np.ndarray
    condition: Condition
    seed: int


def _rhythm(cond: Condition, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and a PVC flag per beat."""
    mean_rr = 60.0 / cond.hr_bpm
    times, pvc, t = [], [], rng.uniform(0.1, 0.9) * mean_rr
    while t < seconds:
        if cond.pvc_every:
            is_pvc = len(times) % cond.pvc_every == cond.pvc_every - 1
        else:
            is_pvc = bool(pvc and not pvc[-1] and rng.random() < cond.pvc_share)
        rr = mean_rr * rng.lognormal(0.0, cond.af_spread) if cond.af else mean_rr * (1 + 0.03 * rng.standard_normal())
        if is_pvc:  # premature by 30-45%, full compensatory pause after it
            rr_prev = mean_rr if cond.pvc_every else times[-1] - (times[-2] if len(times) > 1 else times[-1] - mean_rr)
            t = times[-1] + rr_prev * rng.uniform(*cond.pvc_coupling)
            rr = 2 * mean_rr - (t - times[-1])
        times.append(t)
        pvc.append(is_pvc)
        t += max(rr, 0.26)
    times, pvc = np.asarray(times), np.asarray(pvc)
    keep = times < seconds
    if cond.pause_s:
        start = rng.uniform(0.0, max(seconds - cond.pause_s, 0.0))
        keep &= (times < start) | (times > start + cond.pause_s)
    return times[keep], pvc[keep]


def _waves(cond: Condition, rr: float, is_pvc: bool, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(offset from R in s, amplitude in mV, width in s) of each wave of one beat."""
    a = cond.qrs_mv
    qt = 0.4 * np.sqrt(min(max(rr, 0.3), 1.8))
    t_peak = 0.62 * qt
    if is_pvc:
        k = cond.pvc_scale / 1.4
        return [(0.0, 1.4 * a * k, 0.028), (0.05, -0.4 * a * k, 0.025), (t_peak + 0.04, -0.5 * a * k, 0.07)]
    waves = [(-0.03, -0.12 * a, 0.008), (0.0, a, 0.011), (0.028, -0.25 * a, 0.01),
             (t_peak, cond.t_ratio * abs(a) * np.sign(a) * rng.uniform(0.9, 1.1), 0.045 + 0.03 * min(rr, 1.0))]
    if not cond.af:
        waves.append((-min(0.16, 0.3 * rr), 0.12 * abs(a) * np.sign(a), 0.022))
    return waves


def _noise(cond: Condition, t: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros_like(t)
    for f in rng.uniform(0.05, 0.5, 3):
        x += cond.wander_mv / 3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    if cond.mains_mv and fs > 2 * 50:
        f = 50.0 if fs > 120 else 60.0 if fs > 2 * 60 else 0.0
        x += cond.mains_mv * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) if f else 0.0
    x += cond.emg_mv * rng.standard_normal(t.size)
    for _ in range(int(round(2 * t[-1] / 10.0)) if cond.bursts_mv else 0):
        start, length = rng.uniform(0, t[-1]), rng.uniform(0.3, 1.0)
        inside = (t >= start) & (t < start + length)
        x[inside] += cond.bursts_mv * _burst(int(inside.sum()), fs, rng)
    if cond.af:  # fibrillatory waves, 5-8 Hz
        x += 0.05 * np.sin(2 * np.pi * rng.uniform(5, 8) * t + 0.5 * np.sin(2 * np.pi * 0.3 * t))
    return x


def _burst(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of 1-25 Hz noise under a raised-cosine window, unit peak."""
    from scipy import signal as sps
    sos = sps.butter(2, [1.0 / (fs / 2), min(25.0, 0.4 * fs) / (fs / 2)], btype="band", output="sos")
    b = sps.sosfilt(sos, rng.standard_normal(n + int(fs)))[int(fs):] * np.hanning(n)
    return b / max(np.abs(b).max(), 1e-12)


def synth_strip(cond: Condition, fs: float, seconds: float = 10.0, seed: int = 0,
                noise_seed: int | None = None) -> Strip:
    """A seeded strip of `seconds` at `fs`; the truth is each beat's R (largest-|wave|) time.

    `noise_seed` draws the noise (wander, EMG, bursts, mains phase) from its own stream: another
    lead of the same heart (same seed, same beats) with its own noise.
    """
    rng = np.random.default_rng([seed, int(fs), zlib.crc32(cond.name.encode())])
    times, pvc = _rhythm(cond, seconds, rng)
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    noise_rng = rng if noise_seed is None else np.random.default_rng([noise_seed, int(fs), 7919])
    x = _noise(cond, t, fs, noise_rng)
    peaks = []
    for i, (tb, is_pvc) in enumerate(zip(times, pvc)):
        rr = (times[i + 1] - tb) if i + 1 < times.size else (tb - times[i - 1] if i else 60.0 / cond.hr_bpm)
        waves = _waves(cond, rr, bool(is_pvc), rng)
        lo, hi = np.searchsorted(t, [tb - 0.4, tb + 0.6])
        seg = t[lo:hi] - tb
        for off, amp, width in waves:
            x[lo:hi] += amp * np.exp(-0.5 * ((seg - off) / width) ** 2)
        peaks.append(int(round(tb * fs)))
    r = np.asarray(peaks, dtype=np.int64)
    return Strip(signal=x, fs=fs, r_peaks=r[(r >= 0) & (r < n)], condition=cond, seed=seed)


def synthetic_set(seeds: int = 2, fs_set: tuple[float, ...] = FS_SET, seconds: float = 10.0) -> list[Strip]:
    """Every condition at every rate, `seeds` strips each."""
    return [synth_strip(c, fs, seconds, s) for c in CONDITIONS for fs in fs_set for s in range(seeds)]


def scaled(cond: Condition, **changes) -> Condition:
    """A variant of a condition (e.g. a stronger noise level)."""
    return replace(cond, **changes)
