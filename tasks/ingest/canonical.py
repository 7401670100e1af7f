"""Turn any source's raw signal into the canonical record: 12 named leads, 500 Hz, 10 s, mV."""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from schemas.config import IngestSettings
from schemas.records import (
    CANONICAL_FS, LEADS_12, CanonicalRecord, RawSignal, RecordError, RecordMeta,
)

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6, "": 1.0}
_LEAD_ALIASES = {
    "i": "I", "ii": "II", "iii": "III", "avr": "aVR", "avl": "aVL", "avf": "aVF",
    "di": "I", "dii": "II", "diii": "III", "lead i": "I", "lead ii": "II", "lead iii": "III",
    **{f"v{k}": f"V{k}" for k in range(1, 7)},
}


def standard_lead_name(name: str) -> str | None:
    """The standard 12-lead name for a channel name (case-insensitive), or None."""
    key = re.sub(r"[\s_\-]+", " ", name.strip().lower())
    return _LEAD_ALIASES.get(key) or _LEAD_ALIASES.get(key.replace(" ", ""))


def pick_leads(raw: RawSignal, record_id: str) -> tuple[np.ndarray, list[str]]:
    """Rows of the 12 standard leads in LEADS_12 order, converted to mV; refuse if any is missing."""
    found: dict[str, int] = {}
    for idx, name in enumerate(raw.lead_names):
        std = standard_lead_name(name)
        if std is not None and std not in found:
            found[std] = idx
    missing = [lead for lead in LEADS_12 if lead not in found]
    if missing:
        raise RecordError(
            record_id, "ingest", "not a 12-lead record",
            f"missing leads {', '.join(missing)}; found channels {', '.join(raw.lead_names) or 'none'}",
        )
    rows = []
    for lead in LEADS_12:
        idx = found[lead]
        unit = (raw.units[idx] if idx < len(raw.units) else "mV") or "mV"
        factor = _UNIT_TO_MV.get(unit.strip().lower())
        if factor is None:
            raise RecordError(record_id, "ingest", "unknown signal units", f"lead {lead} is in {unit!r}")
        rows.append(np.asarray(raw.signal[idx], dtype=np.float64) * factor)
    return np.vstack(rows), [raw.lead_names[found[lead]] for lead in LEADS_12]


def resample(signal: np.ndarray, fs: float, target: int = CANONICAL_FS) -> np.ndarray:
    """Polyphase resampling to `target` Hz (exact rational factor, anti-aliased)."""
    if abs(fs - target) < 1e-9:
        return signal
    ratio = Fraction(target / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=1)


def repair_gaps(signal: np.ndarray, record_id: str, settings: IngestSettings) -> tuple[np.ndarray, list[str]]:
    """Refuse all-NaN or flat leads; bridge short NaN gaps by linear interpolation and note them."""
    notes: list[str] = []
    nan_frac = np.isnan(signal).mean(axis=1)
    dead = [LEADS_12[i] for i in np.flatnonzero(nan_frac >= 1.0)]
    if dead:
        raise RecordError(record_id, "ingest", "all-NaN leads", ", ".join(dead))
    gappy = [LEADS_12[i] for i in np.flatnonzero(nan_frac > settings.max_nan_fraction)]
    if gappy:
        raise RecordError(
            record_id, "ingest", "too many missing samples",
            f"leads {', '.join(gappy)} miss more than {settings.max_nan_fraction:.0%} of samples",
        )
    if nan_frac.any():
        x = np.arange(signal.shape[1])
        for i in np.flatnonzero(nan_frac):
            bad = np.isnan(signal[i])
            signal[i, bad] = np.interp(x[bad], x[~bad], signal[i, ~bad])
            notes.append(f"{LEADS_12[i]}: interpolated {int(bad.sum())} missing samples")
    ptp = np.ptp(signal, axis=1)
    flat = [LEADS_12[i] for i in np.flatnonzero(ptp < settings.flat_ptp_mv)]
    if len(flat) > settings.max_flat_leads:
        raise RecordError(
            record_id, "ingest", "flat leads",
            f"{', '.join(flat)} vary by less than {settings.flat_ptp_mv} mV",
        )
    notes.extend(f"{lead}: flat" for lead in flat)
    return signal, notes


def choose_window(n: int, fs: float, settings: IngestSettings, record_id: str) -> int:
    """Start sample of the canonical window, or refuse a record shorter than it."""
    need = int(round(settings.window_s * fs))
    if n < need:
        raise RecordError(
            record_id, "ingest", "record shorter than the window",
            f"{n / fs:.2f} s of signal; the canonical window needs {settings.window_s:.1f} s",
        )
    if settings.window == "middle":
        return (n - need) // 2
    return 0


def canonicalize(meta: RecordMeta, raw: RawSignal, settings: IngestSettings) -> CanonicalRecord:
    """Leads by name, mV, a window of `window_s`, 500 Hz; every refusal is a RecordError with a reason."""
    rid = meta.record_id
    if raw.signal.ndim != 2 or raw.signal.shape[1] == 0:
        raise RecordError(rid, "ingest", "no signal samples", f"shape {raw.signal.shape}")
    leads_mv, _ = pick_leads(raw, rid)
    start = choose_window(leads_mv.shape[1], raw.fs, settings, rid)
    need = int(round(settings.window_s * raw.fs))
    window = leads_mv[:, start:start + need].copy()
    window, notes = repair_gaps(window, rid, settings)
    canon = resample(window, raw.fs)
    n_target = int(round(settings.window_s * CANONICAL_FS))
    canon = canon[:, :n_target]
    if canon.shape[1] < n_target:  # resample rounding: pad the last sample
        canon = np.pad(canon, ((0, 0), (0, n_target - canon.shape[1])), mode="edge")
    if raw.fs != CANONICAL_FS:
        notes.append(f"resampled {raw.fs:g} Hz -> {CANONICAL_FS} Hz")
    total_s = raw.total_duration_s or raw.signal.shape[1] / raw.fs
    start_s = raw.offset_s + start / raw.fs
    if total_s > settings.window_s + 1e-6:
        notes.append(f"window {start_s:.2f}-{start_s + settings.window_s:.2f} s of {total_s:.2f} s")
    return CanonicalRecord(
        meta=meta, signal=canon.astype(np.float32), orig_fs=float(raw.fs),
        orig_n_leads=len(raw.lead_names), orig_duration_s=total_s,
        window_start_s=start_s, notes=notes,
    )
