"""Record-level measurements from per-beat values: lead summaries, axes, voltage criteria, rhythm."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from schemas.features import LeadSummary
from tasks.features.wave_arrays import nan_median

# Hexaxial angle of each limb lead (degrees, +90 = aVF, clockwise positive).
LIMB_ANGLES: dict[str, float] = {"I": 0, "II": 60, "III": 120, "aVR": -150, "aVL": -30, "aVF": 90}
PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")
PRESENT_SHARE = 0.5  # a wave counts in a lead when present in at least this share of its beats
Q_WAVE_MIN_MV = 0.1
Q_WAVE_R_RATIO = 0.25
Q_WAVE_EXCLUDED = ("aVR",)
LOW_VOLTAGE_LIMB_MV = 0.5
LOW_VOLTAGE_PRECORDIAL_MV = 1.0
IRREGULAR_STEP = 0.15  # successive RR change, as a share of the median RR, that counts as a jump
IRREGULAR_SHARE = 0.35  # rhythm is irregular when more successive RR changes than this share jump
P_LEAD_SHARE = 0.7  # a lead shows P waves when this share of its beats have one ...
PR_SPREAD_MS = 40.0  # ... at a consistent PR (interquartile range over beats)
P_MIN_LEADS = 2  # P waves are present when this many leads show them
P_MIN_BEATS = 3  # ... judged on at least this many eligible beats
PREMATURE_SHARE = 0.8  # a beat this much earlier than the median RR is premature (no sinus P expected)


SUMMARY_COLUMNS = ("p_amp_mv", "q_amp_mv", "r_amp_mv", "s_amp_mv", "t_amp_mv", "st_mv", "qrs_ms", "pr_ms", "qt_ms")


def _medians_present(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(L,) median of each lead's finite values among its n beats (v: (L, max n), NaN-padded); NaN where
    the wave is present in fewer than PRESENT_SHARE of the beats."""
    share = np.isfinite(v).sum(axis=-1) / np.maximum(n, 1)
    return np.where((n > 0) & (share >= PRESENT_SHARE), nan_median(v), np.nan)


def _summary(lead: str, n_beats: int, vals: dict[str, float | None]) -> LeadSummary:
    net = sum(v or 0.0 for v in (vals["q_amp_mv"], vals["r_amp_mv"], vals["s_amp_mv"]))
    r, q = vals["r_amp_mv"] or 0.0, vals["q_amp_mv"]
    q_wave = q is not None and -q >= max(Q_WAVE_MIN_MV, Q_WAVE_R_RATIO * r) and lead not in Q_WAVE_EXCLUDED
    return LeadSummary(lead=lead, n_beats=n_beats, qrs_net_mv=net, q_wave=q_wave, **vals)


def lead_summaries(beats: pa.Table) -> dict[str, LeadSummary]:
    """Per-lead medians (amplitudes, ST, QRS/PR/QT) over the beats of each lead in a BEATS_SCHEMA table."""
    if beats.num_rows == 0:
        return {}
    enc = beats.column("lead").combine_chunks().dictionary_encode()  # leads in order of appearance
    names = enc.dictionary.to_pylist()
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(idx, kind="stable")
    n = np.bincount(idx, minlength=len(names))
    slot = np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)  # position of each sorted row in its lead
    med = {}
    for k in SUMMARY_COLUMNS:
        v = beats.column(k).to_numpy(zero_copy_only=False).astype(np.float64)
        grid = np.full((len(names), int(n.max())), np.nan)
        grid[idx[order], slot] = v[order]
        med[k] = _medians_present(grid, n)
    return {str(lead): _summary(str(lead), int(n[i]), {k: None if np.isnan(m[i]) else float(m[i])
                                                       for k, m in med.items()})
            for i, lead in enumerate(names)}


def frontal_axis(values: Mapping[str, float | None]) -> float | None:
    """Frontal-plane axis (degrees) fitted to signed deflections of the limb leads present (>= 2)."""
    rows = [(math.radians(LIMB_ANGLES[k]), v) for k, v in values.items() if k in LIMB_ANGLES and v is not None]
    if len(rows) < 2:
        return None
    ang = np.array([a for a, _ in rows])
    a = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    hx, hy = np.linalg.lstsq(a, np.array([v for _, v in rows]), rcond=None)[0]
    if math.hypot(hx, hy) < 1e-3:
        return None
    return float(round(math.degrees(math.atan2(hy, hx)), 1))


def _amp(s: Mapping[str, LeadSummary], lead: str, wave: str) -> float | None:
    """Absolute amplitude of a wave in a usable lead: 0 when the lead shows none, None when unusable."""
    if lead not in s:
        return None
    v = getattr(s[lead], f"{wave}_amp_mv")
    return abs(v) if v is not None else 0.0


def voltage_criteria(s: Mapping[str, LeadSummary]) -> dict[str, float | bool | None]:
    """Sokolow-Lyon, Cornell (mV) and low-voltage flags from lead summaries."""
    sv1, rv5, rv6 = _amp(s, "V1", "s"), _amp(s, "V5", "r"), _amp(s, "V6", "r")
    r_lat = [v for v in (rv5, rv6) if v is not None]
    sokolow = sv1 + max(r_lat) if sv1 is not None and r_lat else None
    ravl, sv3 = _amp(s, "aVL", "r"), _amp(s, "V3", "s")
    cornell = ravl + sv3 if ravl is not None and sv3 is not None else None

    def low(leads: tuple[str, ...], limit: float) -> bool | None:
        ptp = [(_amp(s, k, "r") or 0.0) + max(_amp(s, k, "q") or 0.0, _amp(s, k, "s") or 0.0) for k in leads if k in s]
        return bool(max(ptp) < limit) if len(ptp) >= 4 else None

    return {
        "sokolow_lyon_mv": None if sokolow is None else round(sokolow, 3),
        "cornell_mv": None if cornell is None else round(cornell, 3),
        "low_voltage_limb": low(tuple(LIMB_ANGLES), LOW_VOLTAGE_LIMB_MV),
        "low_voltage_precordial": low(PRECORDIAL, LOW_VOLTAGE_PRECORDIAL_MV),
    }


def rr_regular(rr_ms: np.ndarray) -> bool | None:
    """Regular unless many successive RR changes exceed IRREGULAR_STEP of the median RR."""
    if rr_ms.size < 3:
        return None
    jumps = np.abs(np.diff(rr_ms)) > IRREGULAR_STEP * np.median(rr_ms)
    return bool(jumps.mean() <= IRREGULAR_SHARE)


def dominant_beats(rr_ms: np.ndarray) -> np.ndarray:
    """(B,) mask of beats that are not premature (RR to the previous beat >= PREMATURE_SHARE of the
    median): an early (ectopic) beat is not expected to follow a P wave. Beat 0 counts as dominant."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    ok = np.isfinite(rr)
    if not ok.any():
        return np.ones(rr.shape, dtype=bool)
    return ~ok | (rr >= PREMATURE_SHARE * np.median(rr[ok]))


def consistent_p_leads(p_found: np.ndarray, pr_ms: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """(L,) mask of leads whose P wave shows in most eligible beats at a consistent PR interval.

    `eligible` (B,): the beats that count (P window inside the record, not premature); default all.
    """
    out = np.zeros(p_found.shape[0], dtype=bool)
    elig = np.ones(p_found.shape[-1], dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if elig.sum() < P_MIN_BEATS:
        return out
    for i, (found, pr) in enumerate(zip(p_found[:, elig], pr_ms[:, elig])):
        pr = pr[found & np.isfinite(pr)]
        if found.mean() < P_LEAD_SHARE or pr.size < 2:
            continue
        q75, q25 = np.percentile(pr, [75, 25])
        out[i] = q75 - q25 <= PR_SPREAD_MS
    return out


def p_waves_present(consistent: np.ndarray) -> bool | None:
    """P waves present when at least P_MIN_LEADS leads show them consistently."""
    if consistent.size == 0:
        return None
    return bool(consistent.sum() >= min(P_MIN_LEADS, consistent.size))


def rate_class(hr: float | None) -> str | None:
    if hr is None:
        return None
    return "bradycardia" if hr < 60 else "tachycardia" if hr > 100 else "normal"


def rhythm_text(regular: bool | None, p_present: bool | None, hr: float | None, rate: str | None) -> str:
    """A readable rhythm description derived only from the measurements."""
    parts = [
        "rhythm regularity not measurable" if regular is None else ("regular rhythm" if regular else "irregular rhythm"),
        "P waves not assessable" if p_present is None else ("P waves present" if p_present else "P waves absent"),
    ]
    if hr is not None:
        parts.append(f"rate {hr:.0f} bpm ({rate})")
    return ", ".join(parts)
