"""The features stage entry points: one record -> beats table + RecordFeatures; one shard -> tables."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.features import (
    BEAT_FLOAT_COLUMNS, BEAT_GLOBAL_COLUMNS, BEATS_SCHEMA, FEATURE_VERSION, RECORD_FEATURES_SCHEMA, RecordFeatures,
)
from schemas.records import LEADS_12
from tasks.features import ectopy, measures
from tasks.features.beats import detect_beats
from tasks.features.filters import clean_band, despike, qrs_band
from tasks.features.delineate import Delineation, delineate
from tasks.features.plausibility import null_implausible
from tasks.features.quality import LeadQuality, assess_leads

MIN_USABLE_LEADS = 3  # default of min_usable_leads (gemflow.yaml: features.min_usable_leads)
MIN_SECONDS = 4.0
MIN_BEATS = 2
PR_BOUNDS_MS = (50.0, 400.0)
QRS_BOUNDS_MS = (30.0, 250.0)
QT_BOUNDS_MS = (150.0, 700.0)
_CANONICAL = {name.lower(): name for name in LEADS_12}  # "avr" -> "aVR"


class FeatureError(ValueError):
    """A record the extractor cannot measure; `reason` is what quarantine stores (stage "features")."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason + (f": {detail}" if detail else ""))
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return self.reason + (f": {self.detail}" if self.detail else "")


@dataclass
class FeatureResult:
    """Measurements of one record: the per-beat, per-lead table and the record-level summary."""

    beats: pa.Table  # BEATS_SCHEMA
    record: RecordFeatures


def _check_input(signal: np.ndarray, fs: float, leads: Sequence[str]) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise FeatureError("signal is not 2-D", f"shape {x.shape}, expected (n_leads, n_samples)")
    if len(leads) != x.shape[0]:
        raise FeatureError("lead names do not match the signal", f"{len(leads)} names for {x.shape[0]} leads")
    if not fs or fs < 50:
        raise FeatureError("sampling rate too low", f"fs={fs}")
    if x.shape[1] < MIN_SECONDS * fs:
        raise FeatureError("record too short", f"{x.shape[1] / fs:.1f} s < {MIN_SECONDS:.0f} s")
    return x


def _ms(a: np.ndarray, fs: float) -> np.ndarray:
    return a * (1000.0 / fs)


def _bounded(v: np.ndarray, lo: float, hi: np.ndarray | float) -> np.ndarray:
    return np.where((v >= lo) & (v <= hi), v, np.nan)


def _beat_columns(d: Delineation, beats: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """All float columns of BEATS_SCHEMA as (L, B) arrays: times in s, intervals in ms, amplitudes in mV."""
    n_leads = d.fid["r_peak"].shape[0]
    rr = np.insert(_ms(np.diff(beats).astype(float), fs), 0, np.nan)
    rr_next = np.append(rr[1:], rr[-1] if rr.size > 1 else np.nan)
    cols: dict[str, np.ndarray] = {f"{k}_s": v / fs for k, v in d.fid.items()}
    cols["rr_ms"] = np.broadcast_to(rr, (n_leads, rr.size))
    on_g = d.qrs_on_g[None, :]
    pr = _ms(on_g - d.fid["p_on"], fs)
    cols["pr_ms"] = _bounded(pr, PR_BOUNDS_MS[0], np.fmin(PR_BOUNDS_MS[1], np.nan_to_num(rr, nan=np.inf)))
    cols["qrs_ms"] = _bounded(_ms(d.fid["qrs_off"] - d.fid["qrs_on"], fs), *QRS_BOUNDS_MS)
    qt_hi = np.fmin(QT_BOUNDS_MS[1], np.nan_to_num(rr_next, nan=np.inf))
    cols["qt_ms"] = _bounded(_ms(d.fid["t_off"] - on_g, fs), QT_BOUNDS_MS[0], qt_hi)
    for wave, v in d.amp.items():
        cols["st_mv" if wave == "st" else f"{wave}_amp_mv"] = v
    for name, v in zip(BEAT_GLOBAL_COLUMNS, (d.qrs_on_g, d.qrs_off_g, d.t_off_g, d.p_on_g, d.p_off_g)):
        cols[name] = np.broadcast_to(v / fs, (n_leads, v.size))
    return cols


def _beats_table(record_id: str, leads: Sequence[str], keep: np.ndarray, cols: dict[str, np.ndarray],
                 classes: np.ndarray) -> pa.Table:
    lead_idx = np.flatnonzero(keep)
    n_beats = cols["rr_ms"].shape[1]
    data: dict[str, pa.Array] = {
        "record_id": pa.array([record_id] * (lead_idx.size * n_beats), pa.string()),
        "lead": pa.array(np.repeat(np.asarray(leads, dtype=object)[lead_idx], n_beats).tolist(), pa.string()),
        "beat": pa.array(np.tile(np.arange(n_beats, dtype=np.int32), lead_idx.size), pa.int32()),
    }
    for name in BEAT_FLOAT_COLUMNS + BEAT_GLOBAL_COLUMNS:
        v = np.asarray(cols[name], dtype=np.float32)[lead_idx].ravel()
        data[name] = pa.array(v, pa.float32(), mask=~np.isfinite(v))
    data["beat_class"] = pa.array(np.tile(classes, lead_idx.size).tolist(), pa.string())
    return pa.table(data, schema=BEATS_SCHEMA)


def _median(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def _round(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(float(v), nd)


def _intervals(cols: dict[str, np.ndarray], d: Delineation, p_leads: np.ndarray, dom: np.ndarray,
               rr_ms: float | None, fs: float) -> dict:
    """Record PR/QRS/QT/QTc as medians over the dominant beats `dom`.

    QRS: the spatial-velocity (all-lead) duration per beat. QT: global QRS onset to the beat's global
    T end (upper quartile of the clear-T leads). PR: median over the beats of the leads with
    consistent P waves (None without P waves). QTc from the dominant RR.
    """
    qrs_g = _bounded(_ms(d.qrs_off_g - d.qrs_on_g, fs), *QRS_BOUNDS_MS)[dom]
    pr = _median(cols["pr_ms"][np.ix_(p_leads, dom)].ravel()) if p_leads.any() else None
    qt = _median(_bounded(_ms(d.t_off_g - d.qrs_on_g, fs), *QT_BOUNDS_MS)[dom])
    rr_s = (rr_ms or np.nan) / 1000.0
    return {
        "pr_ms": _round(pr), "qrs_ms": _round(_median(qrs_g)), "qt_ms": _round(qt),
        "qtc_ms": _round(qt / np.sqrt(rr_s)) if qt and np.isfinite(rr_s) else None,
        "qtc_fridericia_ms": _round(qt / np.cbrt(rr_s)) if qt and np.isfinite(rr_s) else None,
    }


@dataclass
class _Rhythm:
    """What the beats say about the rhythm: P-wave leads, beat classes and the dominant beats."""

    p_leads: np.ndarray  # (L,) leads with consistent P waves
    p_present: bool | None
    classes: np.ndarray  # (B,) 'N' / 'V' / 'S'

    @property
    def dominant(self) -> np.ndarray:
        return self.classes == "N"


def _rhythm(clean: np.ndarray, beats: np.ndarray, usable: np.ndarray, cols: dict[str, np.ndarray],
            d: Delineation, fs: float) -> _Rhythm:
    """P waves from the non-premature beats, then each beat's class (see tasks/features/ectopy.py)."""
    eligible = d.p_window_in & measures.dominant_beats(cols["rr_ms"][0])
    p_leads = usable & measures.consistent_p_leads(np.isfinite(cols["p_peak_s"]), cols["pr_ms"], eligible)
    p_present = measures.p_waves_present(p_leads[usable])
    classes = ectopy.classify(clean, beats, usable, (d.qrs_off_g - d.qrs_on_g) / fs, fs, bool(p_present))
    return _Rhythm(p_leads if p_present else np.zeros_like(p_leads), p_present, classes)


def _rates(beats: np.ndarray, classes: np.ndarray, fs: float) -> dict:
    """Ventricular rate and RR statistics over all beats; the dominant rate over dominant beats only."""
    rr = np.diff(beats).astype(float) * (1000.0 / fs)
    rr_mean = float(np.mean(rr)) if rr.size else None
    dom_rr = ectopy.dominant_rr(beats, classes) * (1000.0 / fs)
    dom_mean = float(np.mean(dom_rr)) if dom_rr.size else None
    return {"hr_bpm": _round(60000.0 / rr_mean) if rr_mean else None, "rr_mean_ms": _round(rr_mean),
            "rr_std_ms": _round(float(np.std(rr))) if rr.size else None,
            "rr_cv": _round(float(np.std(rr) / rr_mean), 4) if rr_mean else None,
            "dominant_hr_bpm": _round(60000.0 / dom_mean) if dom_mean else None,
            "_rr": rr, "_dom_rr_ms": dom_mean or rr_mean}


def _record_features(record_id: str, leads: Sequence[str], q: LeadQuality, beats_tbl: pa.Table,
                     cols: dict[str, np.ndarray], d: Delineation, rh: _Rhythm, beats: np.ndarray,
                     beat_issues: list[str], fs: float) -> RecordFeatures:
    usable = q.usable
    rates = _rates(beats, rh.classes, fs)
    rr, dom_rr = rates.pop("_rr"), rates.pop("_dom_rr_ms")
    iv = _intervals(cols, d, rh.p_leads, rh.dominant, dom_rr, fs)
    regular = measures.rr_regular(rr)
    dom_tbl = beats_tbl.filter(pc.equal(beats_tbl.column("beat_class"), "N"))
    summaries = measures.lead_summaries(dom_tbl if dom_tbl.num_rows else beats_tbl)
    rate_hr = rates["dominant_hr_bpm"] if rates["dominant_hr_bpm"] is not None else rates["hr_bpm"]
    rate = measures.rate_class(rate_hr)
    n_bad = int((~usable).sum())
    p_present = rh.p_present
    return RecordFeatures(
        record_id=record_id, **rates, n_beats=int(beats.size), **iv,
        axis_deg=measures.frontal_axis({k: s.qrs_net_mv for k, s in summaries.items()}),
        p_axis_deg=measures.frontal_axis({k: s.p_amp_mv for k, s in summaries.items()}) if p_present else None,
        t_axis_deg=measures.frontal_axis({k: s.t_amp_mv for k, s in summaries.items()}),
        **measures.voltage_criteria(summaries),
        q_wave_leads=[k for k, s in summaries.items() if s.q_wave],
        rhythm=measures.rhythm_text(regular, p_present, rate_hr, rate), rhythm_regular=regular,
        p_waves_present=p_present, rate_class=rate,
        quality="good" if n_bad == 0 else "fair" if n_bad <= 3 else "poor",
        usable_leads=[str(leads[i]) for i in np.flatnonzero(usable)],
        lead_issues=[f"{leads[i]}:{q.issues[i]}" for i in np.flatnonzero(~usable)] + beat_issues,
        leads=list(summaries.values()), feature_version=FEATURE_VERSION,
        n_pvc=int((rh.classes == "V").sum()), n_pac=int((rh.classes == "S").sum()),
    )


def _check_min_leads(min_usable_leads: int) -> int:
    if isinstance(min_usable_leads, bool) or not isinstance(min_usable_leads, (int, np.integer)) \
            or min_usable_leads < 1:
        raise ValueError(f"min_usable_leads must be an integer >= 1, got {min_usable_leads!r}")
    return int(min_usable_leads)


def extract_features(signal: np.ndarray, fs: float, leads: Sequence[str], record_id: str, *,
                     min_usable_leads: int = MIN_USABLE_LEADS) -> FeatureResult:
    """Measure every beat in every usable lead of one record (mV, (n_leads, n_samples)).

    Raises FeatureError (with a `reason` for quarantine) when the record cannot be measured, e.g.
    fewer than `min_usable_leads` leads pass the quality gate; ValueError for a bad min_usable_leads.
    """
    min_usable_leads = _check_min_leads(min_usable_leads)
    x = _check_input(signal, fs, leads)
    leads = [_CANONICAL.get(str(name).lower(), str(name)) for name in leads]
    raw = np.where(np.isfinite(x), x, 0.0)
    raw = despike(raw, fs)
    clean = clean_band(raw, fs)
    band = qrs_band(raw, fs)
    q = assess_leads(np.where(np.isfinite(x), raw, np.nan), clean, band, fs)
    usable = q.usable
    if usable.sum() < min_usable_leads:
        issues = ", ".join(f"{leads[i]}:{q.issues[i]}" for i in np.flatnonzero(~usable))
        raise FeatureError(f"too few usable leads ({int(usable.sum())} < {min_usable_leads})", issues)
    beats = detect_beats(raw, band, fs, usable)
    if beats.size < MIN_BEATS:
        raise FeatureError(f"too few beats detected ({beats.size} < {MIN_BEATS})")
    d = delineate(clean, beats, usable, fs)
    cols = _beat_columns(d, beats, fs)
    rh = _rhythm(clean, beats, usable, cols, d, fs)
    issues = null_implausible(cols, rh.classes, usable, d.t_far, leads)
    tbl = _beats_table(record_id, leads, usable, cols, rh.classes)
    return FeatureResult(beats=tbl, record=_record_features(record_id, leads, q, tbl, cols, d, rh, beats, issues, fs))


def extract_many(records: Iterable[tuple[str, np.ndarray]], fs: float, leads: Sequence[str], *,
                 min_usable_leads: int = MIN_USABLE_LEADS) -> tuple[pa.Table, pa.Table, list[tuple[str, str]]]:
    """One shard: (beats table, record_features table, [(record_id, reason)] for records that failed).

    `min_usable_leads` (features.min_usable_leads in gemflow.yaml) is passed to every extract_features.
    """
    min_usable_leads = _check_min_leads(min_usable_leads)
    beat_tables: list[pa.Table] = []
    rows: list[dict] = []
    failures: list[tuple[str, str]] = []
    for record_id, signal in records:
        try:
            res = extract_features(signal, fs, leads, record_id, min_usable_leads=min_usable_leads)
        except FeatureError as err:
            failures.append((record_id, str(err)))
            continue
        beat_tables.append(res.beats)
        rows.append(res.record.to_row())
    beats = pa.concat_tables(beat_tables) if beat_tables else BEATS_SCHEMA.empty_table()
    return beats, pa.Table.from_pylist(rows, schema=RECORD_FEATURES_SCHEMA), failures
