"""Seeded synthetic 12-lead ECGs whose fiducial points are known by construction.

Each wave (P, Q, R, S, an RBBB R', T and an ST shift) is a smooth time course (Gaussians, an asymmetric
Gaussian for T, a raised-cosine plateau for ST) times a 3-D dipole direction; a lead is the projection
of every dipole on that lead's vector, so each lead sees the same events with its own amplitudes and
polarities, and the QRS of a lead starts when the first component it can "see" does. The truth is
read off the noise-free wave components, never off the summed signal: a lead's wave starts (ends) where
that lead's component of the wave first (last) reaches ONSET_FRACTION of its peak. The global onset is
the earliest lead onset, the global offset the latest (CSE style), over leads where the wave is visible.

Variety: rate 45-150 bpm with RR jitter, AV delay 110-300 ms, QT adapting to RR, random axis, narrow,
RBBB-like and LBBB-like QRS, ST shifts, T inversions, optional PVCs (wide, no P, discordant T,
compensatory pause) and PACs (early, different P), baseline wander, EMG-like and powerline noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ONSET_FRACTION = 0.05  # a wave's bounds: where its own component is 5% of its peak in that lead
VISIBLE_MV = {"p": 0.05, "qrs": 0.15, "t": 0.12}  # a lead counts for a wave's truth above this peak
_LIMB = {"I": 0, "II": 60, "III": 120, "aVR": -150, "aVL": -30, "aVF": 90}
_PRECORDIAL = {"V1": (-0.55, 0.1, 0.8), "V2": (-0.1, 0.1, 1.0), "V3": (0.35, 0.1, 0.95),
               "V4": (0.7, 0.15, 0.7), "V5": (0.9, 0.15, 0.4), "V6": (1.0, 0.15, 0.1)}
SHAPES = ("normal", "rbbb", "lbbb")
VARIANTS = ("default", "alt")


def lead_vectors() -> np.ndarray:
    """(12, 3) lead vectors in (left, inferior, anterior) coordinates."""
    rows = []
    for name in LEADS:
        if name in _LIMB:
            a = np.radians(_LIMB[name])
            rows.append((np.cos(a), np.sin(a), 0.0))
        else:
            v = np.asarray(_PRECORDIAL[name])
            rows.append(1.6 * v / np.linalg.norm(v))
    return np.asarray(rows)


@dataclass
class SyntheticECG:
    """A synthetic record: the signal and, per lead and beat, the true fiducials (samples, NaN = none)."""

    signal: np.ndarray  # (12, N) mV
    fs: float
    beats: np.ndarray  # (B,) sample of each beat's true QRS onset (global)
    beat_class: list[str]  # 'N', 'V' (PVC) or 'S' (PAC)
    shape: str
    truth: dict[str, np.ndarray] = field(default_factory=dict)  # "qrs_on" -> (12, B)
    truth_global: dict[str, np.ndarray] = field(default_factory=dict)  # "qrs_on" -> (B,)
    leads: tuple[str, ...] = LEADS


def _gauss(t: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - mu) / sd) ** 2)


def _asym(t: np.ndarray, mu: float, sd_up: float, sd_down: float) -> np.ndarray:
    return np.where(t < mu, _gauss(t, mu, sd_up), _gauss(t, mu, sd_down))


def _hann(t: np.ndarray, mu: float, up: float, down: float) -> np.ndarray:
    """A hump peaking at mu that rises over `up` s and falls over `down` s along raised cosines (0 outside)."""
    x = np.where(t < mu, (t - mu) / up, (t - mu) / down)
    return np.where(np.abs(x) < 1, 0.5 + 0.5 * np.cos(np.pi * x), 0.0)


def _variant(m: _Morph, rng: np.random.Generator) -> _Morph:
    """The same beat with differently shaped P and T (the "alt" variant, to test the delineator on shapes
    it was not built around): a bifid P (its two parts 35-50 ms apart, narrower) and a T of raised-cosine
    limbs (up 90-140 ms, down 50-90 ms), notched in half the records by a second hump at 30-50%."""
    sep, sd = rng.uniform(0.035, 0.05), rng.uniform(0.009, 0.012)
    notch = rng.uniform(0.3, 0.5) if rng.random() < 0.5 else 0.0
    up, down, lag = rng.uniform(0.09, 0.14), rng.uniform(0.05, 0.09), rng.uniform(0.05, 0.07)
    parts, n_p = [], 0
    for wave, kind, prm, d in m.parts:
        if wave == "p":
            parts.append((wave, kind, (-0.07 + n_p * sep, sd), d))
            n_p += 1
        elif kind == "t":
            parts.append((wave, "hann", (prm[0], up, down, notch, lag), d))
        else:
            parts.append((wave, kind, prm, d))
    return _Morph(parts)


def _plateau(t: np.ndarray, start: float, stop: float, ramp: float) -> np.ndarray:
    """1 on [start+ramp, stop-ramp], raised-cosine ramps, 0 outside [start, stop]."""
    up = np.clip((t - start) / ramp, 0, 1)
    down = np.clip((stop - t) / ramp, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """A random rotation of at most max_deg about a random axis (Rodrigues)."""
    k = _unit(rng.normal(size=3))
    a = np.radians(rng.uniform(-max_deg, max_deg))
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx


@dataclass
class _Morph:
    """One beat morphology: wave components as (wave, kind, params, dipole) relative to QRS onset (s)."""

    parts: list[tuple[str, str, tuple, np.ndarray]]


def _qrs_parts(rng, shape: str, rot: np.ndarray, wide: bool) -> list:
    s = rng.uniform(0.8, 1.25)
    if shape == "lbbb" or wide:
        r1, r2 = rng.uniform(0.045, 0.06), rng.uniform(0.085, 0.11)
        d = rot @ _unit((0.8, 0.25, -0.6)) * rng.uniform(0.9, 1.6)
        return [("qrs", "g", (r1, 0.016 * s), d * 0.8), ("qrs", "g", (r2, 0.02 * s), d)]
    q = ("qrs", "g", (0.018 * s, 0.0065 * s), rot @ _unit((-0.6, 0.2, 0.6)) * rng.uniform(0.08, 0.25))
    r = ("qrs", "g", (0.042 * s, 0.011 * s), rot @ _unit((0.7, 0.6, -0.25)) * rng.uniform(0.8, 1.8))
    sw = ("qrs", "g", (0.066 * s, 0.009 * s), rot @ _unit((-0.4, -0.4, -0.7)) * rng.uniform(0.2, 0.6))
    parts = [q, r, sw]
    if shape == "rbbb":
        lag = rng.uniform(0.045, 0.07)
        parts.append(("qrs", "g", (0.066 * s + lag, 0.016 * s), rot @ _unit((-0.7, 0.0, 0.7)) * rng.uniform(0.35, 0.8)))
    return parts


def _morphology(rng, shape: str, rot: np.ndarray, kind: str) -> _Morph:
    """Wave components of a dominant ('N'), PVC ('V') or PAC ('S') beat; times from QRS onset."""
    parts = []
    if kind != "V":
        pdir = rot @ _unit((0.45, 0.8, 0.2) if kind == "N" else (0.2, -0.6, 0.5))
        pa = rng.uniform(0.08, 0.25)
        p_sd = rng.uniform(0.011, 0.016)
        parts += [("p", "g", (-0.055, p_sd), pdir * pa), ("p", "g", (-0.03, p_sd), rot @ _unit((0.8, 0.3, -0.4)) * pa * 0.6)]
    qrs = _qrs_parts(rng, shape, rot, wide=kind == "V")
    parts += qrs
    qrs_end = max(p[2][0] + 3 * p[2][1] for p in qrs)
    tdir = rot @ _unit((0.6, 0.6, 0.35)) * rng.uniform(0.15, 0.5)
    if shape == "lbbb" or kind == "V" or rng.random() < 0.15:
        tdir = -tdir  # discordant or inverted T
    parts.append(("t", "t", (qrs_end, rng.uniform(0.035, 0.06), rng.uniform(0.022, 0.04)), tdir))
    if rng.random() < 0.35 and kind == "N":
        parts.append(("st", "st", (qrs_end,), rot @ _unit(rng.normal(size=3)) * rng.uniform(0.05, 0.2)))
    return _Morph(parts)


def _components(m: _Morph, t: np.ndarray, t0: float, pr: float, qt: float, lv: np.ndarray) -> dict[str, np.ndarray]:
    """(12, T) per-wave signal of one beat whose QRS starts at t0; pr: P-to-QRS stretch, qt: T peak time."""
    out = {w: np.zeros((len(lv), t.size)) for w in ("p", "qrs", "t", "st")}
    for wave, kind, prm, d in m.parts:
        proj = lv @ d
        if kind == "g":
            mu = prm[0] if wave != "p" else prm[0] - (pr - 0.09)
            g = _gauss(t, t0 + mu, prm[1])
        elif kind == "t":
            g = _asym(t, t0 + qt, prm[1], prm[2])
        elif kind == "hann":  # variant T: compact raised-cosine limbs, optionally a second (notch) hump
            g = _hann(t, t0 + qt, prm[1], prm[2]) + prm[3] * _hann(t, t0 + qt + prm[4], prm[2], prm[2])
        else:
            g = _plateau(t, t0 + prm[0] - 0.01, t0 + qt, 0.04)
        out[wave] += proj[:, None] * g[None, :]
    return out


def _bounds(c: np.ndarray, t: np.ndarray, visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Per lead: first/last time |c| >= ONSET_FRACTION of its peak (NaN where the peak < visible)."""
    a = np.abs(c)
    peak = a.max(axis=1)
    above = a >= ONSET_FRACTION * peak[:, None]
    on = t[np.argmax(above, axis=1)]
    off = t[a.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)]
    ok = peak >= visible
    return np.where(ok, on, np.nan), np.where(ok, off, np.nan)


def _across_leads(v: np.ndarray, earliest: bool) -> np.ndarray:
    """(B,) earliest (or latest) finite value over leads, NaN where no lead has one."""
    fill = np.where(np.isfinite(v), v, np.inf if earliest else -np.inf)
    out = fill.min(axis=0) if earliest else fill.max(axis=0)
    return np.where(np.isfinite(out), out, np.nan)


def _noise(rng, n: int, fs: float, level: float) -> np.ndarray:
    t = np.arange(n) / fs
    base = sum(rng.uniform(0.05, 0.25) * level * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 6.3))
               for _ in range(2))
    b, a = sps.butter(2, [20 / (fs / 2), min(150, 0.45 * fs) / (fs / 2)], "band")
    emg = sps.lfilter(b, a, rng.normal(0, 1, (12, n)), axis=1) * rng.uniform(0.005, 0.03) * level
    mains = rng.uniform(0, 0.02) * level * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t + rng.uniform(0, 6.3))
    return base[None, :] * rng.uniform(0.5, 1.5, (12, 1)) + emg + mains[None, :] * rng.uniform(0.3, 1, (12, 1))


def _schedule(rng, n_s: float, hr: float, ectopy: str | None) -> tuple[list[float], list[str]]:
    """QRS onset times and classes: jittered sinus RR; PVCs early with a compensatory pause, PACs early."""
    rr0 = 60.0 / hr
    times, kinds, tt = [], [], rng.uniform(0.15, 0.6)
    while tt < n_s - 0.7:
        kind = "N"
        if ectopy and len(times) >= 2 and kinds[-1] == "N" and rng.random() < 0.25:
            kind = ectopy
        if kind != "N":
            tt += -rr0 + rr0 * (0.62 if kind == "V" else 0.72)
        times.append(tt)
        kinds.append(kind)
        step = rr0 * rng.normal(1.0, 0.02)
        tt += step + (rr0 * 0.38 if kind == "V" else rr0 * 0.15 if kind == "S" else 0.0)
    return times, kinds


def make_record(seed: int, fs: float = 500.0, seconds: float = 10.0, shape: str | None = None,
                hr: float | None = None, ectopy: str | None = None, noise: float = 1.0,
                variant: str = "default") -> SyntheticECG:
    """One seeded synthetic 12-lead record with its truth (see the module docstring).

    variant "alt": the same record with bifid P waves and raised-cosine (half of them notched) T waves
    (_variant); its shape parameters come from a second generator, so "default" records are unchanged."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rng = np.random.default_rng(seed)
    shape = shape or str(rng.choice(SHAPES, p=[0.6, 0.2, 0.2]))
    hr = hr or float(rng.uniform(45, 150))
    rot = _rotation(rng, 35)
    lv = lead_vectors()
    morph = {"N": _morphology(rng, shape, rot, "N"), "V": _morphology(rng, shape, rot @ _rotation(rng, 60), "V")}
    pac_p = [p for p in _morphology(rng, shape, rot, "S").parts if p[0] == "p"]
    morph["S"] = _Morph(pac_p + [p for p in morph["N"].parts if p[0] != "p"])  # conducted: the dominant QRS
    if variant == "alt":
        vrng = np.random.default_rng([seed, 7])
        morph = {k: _variant(m, vrng) for k, m in morph.items()}
    pr = rng.uniform(0.11, 0.30 if hr < 110 else 0.2)
    qtc = rng.uniform(0.38, 0.46)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    times, kinds = _schedule(rng, seconds, hr, ectopy)
    sig = np.zeros((12, n))
    truth = {k: np.full((12, len(times)), np.nan) for k in ("p_on", "p_off", "qrs_on", "qrs_off", "t_off")}
    for b, (t0, kind) in enumerate(zip(times, kinds)):
        rr = 60.0 / hr
        t_peak = qtc * np.sqrt(rr) - 0.075 + (0.04 if kind == "V" or shape != "normal" else 0.0)
        comp = _components(morph[kind], t, t0, pr if kind == "N" else pr * 0.85, t_peak, lv)
        for w, c in comp.items():
            sig += c
        for wave in ("p", "qrs", "t"):
            if wave == "p" and kind == "V":
                continue
            on, off = _bounds(comp[wave], t, VISIBLE_MV[wave])
            if wave != "t":
                truth[f"{wave}_on"][:, b] = on
            truth[f"{wave}_off"][:, b] = off
    sig += _noise(rng, n, fs, noise)
    truth = {k: v * fs for k, v in truth.items()}
    glob = {k: _across_leads(v, k.endswith("_on")) for k, v in truth.items()}
    return SyntheticECG(signal=sig.astype(np.float32), fs=fs, beats=np.round(np.asarray(times) * fs).astype(int),
                        beat_class=kinds, shape=shape, truth=truth, truth_global=glob)
