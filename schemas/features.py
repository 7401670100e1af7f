"""Typed records for the features stage: the `beats` and `record_features` tables and lead summaries."""
from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, Field

# Bump whenever an output value of the extractor can change (algorithm, thresholds, columns).
FEATURE_VERSION = "features-6"

# Per-beat fiducials (seconds from record start) and measurements, in column order.
BEAT_TIME_COLUMNS: tuple[str, ...] = (
    "r_peak_s", "p_on_s", "p_peak_s", "p_off_s", "qrs_on_s", "q_peak_s", "s_peak_s",
    "qrs_off_s", "j_s", "t_on_s", "t_peak_s", "t_off_s",
)
BEAT_INTERVAL_COLUMNS: tuple[str, ...] = ("rr_ms", "pr_ms", "qrs_ms", "qt_ms")
BEAT_AMPLITUDE_COLUMNS: tuple[str, ...] = (
    "p_amp_mv", "q_amp_mv", "r_amp_mv", "s_amp_mv", "t_amp_mv", "st_mv",
)
BEAT_FLOAT_COLUMNS: tuple[str, ...] = (
    BEAT_TIME_COLUMNS[:1] + ("rr_ms",) + BEAT_TIME_COLUMNS[1:]
    + BEAT_INTERVAL_COLUMNS[1:] + BEAT_AMPLITUDE_COLUMNS
)

# Per-beat values shared by all leads (the same in every lead's row of a beat): the global QRS
# bounds and T end, and (features-4) the global P onset/offset (seconds), see docs/features.md
# "What the leads share".
BEAT_GLOBAL_COLUMNS: tuple[str, ...] = ("qrs_on_g_s", "qrs_off_g_s", "t_off_g_s", "p_on_g_s", "p_off_g_s")
# Beat classes: N dominant, V ventricular ectopic (PVC), S supraventricular ectopic (PAC).
BEAT_CLASSES: tuple[str, ...] = ("N", "V", "S")

# One row per fused beat per usable lead. Floats are nullable: null = absent or not measurable.
BEATS_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("lead", pa.string(), nullable=False),
        pa.field("beat", pa.int32(), nullable=False),
    ]
    + [pa.field(name, pa.float32(), nullable=True) for name in BEAT_FLOAT_COLUMNS]
    + [pa.field(name, pa.float32(), nullable=True) for name in BEAT_GLOBAL_COLUMNS]
    + [pa.field("beat_class", pa.string(), nullable=True)]
)

RateClass = Literal["bradycardia", "normal", "tachycardia"]
Quality = Literal["good", "fair", "poor"]


class WaveMeasures(BaseModel):
    """The wave amplitudes, ST level and intervals of a beat or of a lead (mV, ms); None = not measured.

    Shared by a lead's summary (below) and one beat's facts (`schemas.teacher.BeatFacts`)."""

    p_amp_mv: float | None = None
    q_amp_mv: float | None = None
    r_amp_mv: float | None = None
    s_amp_mv: float | None = None
    t_amp_mv: float | None = None
    st_mv: float | None = None
    qrs_ms: float | None = None
    pr_ms: float | None = None
    qt_ms: float | None = None


class LeadSummary(WaveMeasures):
    """Medians over the beats of one lead (mV, ms); None where no beat gave a value."""

    lead: str
    n_beats: int
    qrs_net_mv: float | None = None  # R + Q + S (signed), the net QRS deflection
    q_wave: bool = False  # significant Q wave (see docs/features.md)


LEAD_SUMMARY_TYPE = pa.struct([
    pa.field("lead", pa.string()),
    pa.field("n_beats", pa.int32()),
    *[pa.field(name, pa.float64()) for name in (
        "p_amp_mv", "q_amp_mv", "r_amp_mv", "s_amp_mv", "t_amp_mv", "st_mv",
        "qrs_ms", "pr_ms", "qt_ms", "qrs_net_mv",
    )],
    pa.field("q_wave", pa.bool_()),
])

_f = pa.float64()  # float64: record rows round-trip exactly through Parquet
RECORD_FEATURES_SCHEMA = pa.schema([
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("hr_bpm", _f), pa.field("rr_mean_ms", _f), pa.field("rr_std_ms", _f),
    pa.field("rr_cv", _f), pa.field("n_beats", pa.int32(), nullable=False),
    pa.field("pr_ms", _f), pa.field("qrs_ms", _f), pa.field("qt_ms", _f),
    pa.field("qtc_ms", _f), pa.field("qtc_fridericia_ms", _f),
    pa.field("axis_deg", _f), pa.field("p_axis_deg", _f), pa.field("t_axis_deg", _f),
    pa.field("sokolow_lyon_mv", _f), pa.field("cornell_mv", _f),
    pa.field("low_voltage_limb", pa.bool_()), pa.field("low_voltage_precordial", pa.bool_()),
    pa.field("q_wave_leads", pa.list_(pa.string()), nullable=False),
    pa.field("rhythm", pa.string(), nullable=False),
    pa.field("rhythm_regular", pa.bool_()), pa.field("p_waves_present", pa.bool_()),
    pa.field("rate_class", pa.string()),
    pa.field("quality", pa.string(), nullable=False),
    pa.field("usable_leads", pa.list_(pa.string()), nullable=False),
    pa.field("lead_issues", pa.list_(pa.string()), nullable=False),
    pa.field("leads", pa.list_(LEAD_SUMMARY_TYPE), nullable=False),
    pa.field("feature_version", pa.string(), nullable=False),
    pa.field("dominant_hr_bpm", _f), pa.field("n_pvc", pa.int32()), pa.field("n_pac", pa.int32()),
])


class RecordFeatures(BaseModel):
    """Record-level measurements: one row of `record_features`. None = not measurable."""

    record_id: str
    hr_bpm: float | None = None
    rr_mean_ms: float | None = None
    rr_std_ms: float | None = None
    rr_cv: float | None = None
    n_beats: int = 0
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_ms: float | None = None  # Bazett
    qtc_fridericia_ms: float | None = None
    axis_deg: float | None = None  # frontal QRS axis, (-180, 180]
    p_axis_deg: float | None = None
    t_axis_deg: float | None = None
    sokolow_lyon_mv: float | None = None  # S(V1) + max(R(V5), R(V6))
    cornell_mv: float | None = None  # R(aVL) + S(V3)
    low_voltage_limb: bool | None = None
    low_voltage_precordial: bool | None = None
    q_wave_leads: list[str] = Field(default_factory=list)
    rhythm: str = ""
    rhythm_regular: bool | None = None
    p_waves_present: bool | None = None
    rate_class: RateClass | None = None
    quality: Quality = "poor"
    usable_leads: list[str] = Field(default_factory=list)
    lead_issues: list[str] = Field(default_factory=list)  # "V1:noise", "aVR:flat"
    leads: list[LeadSummary] = Field(default_factory=list)
    feature_version: str = FEATURE_VERSION
    # The dominant (sinus) rate from dominant beats only: ectopic beats and their pauses left out.
    # hr_bpm is the ventricular rate (all beats); rate_class is judged on the dominant rate.
    dominant_hr_bpm: float | None = None
    n_pvc: int | None = None  # beats labelled 'V' in the beats table
    n_pac: int | None = None  # beats labelled 'S'

    def to_row(self) -> dict:
        """One row for RECORD_FEATURES_SCHEMA (pa.Table.from_pylist)."""
        return self.model_dump()

    @classmethod
    def from_row(cls, row: dict) -> "RecordFeatures":
        """Inverse of to_row (also accepts a row read back from Parquet)."""
        return cls.model_validate(row)

    def lead(self, name: str) -> LeadSummary | None:
        """The summary of one lead by name (case-insensitive), or None when unusable/absent."""
        wanted = name.lower()
        return next((s for s in self.leads if s.lead.lower() == wanted), None)
