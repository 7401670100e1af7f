"""Typed records for ingest: the canonical 12-lead signal, the `records` and `quarantine` tables."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

LEADS_12: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
CANONICAL_FS = 500
CANONICAL_SECONDS = 10.0
INGEST_VERSION = "ingest-1"

# Stages, in pipeline order; quarantine rows name one of them.
STAGES = ("ingest", "features", "render", "generate", "validate", "export")


@dataclass(frozen=True)
class RecordRef:
    """An ingested record as a later stage's pending work: its id, its source and its stored signal."""

    record_id: str
    source: str
    signal_path: str


REF_COLUMNS = ["record_id", "source", "signal_path"]


class RecordError(ValueError):
    """A record that a stage cannot handle; it goes to quarantine with `stage` and `reason`."""

    def __init__(self, record_id: str, stage: str, reason: str, detail: str = ""):
        super().__init__(f"{record_id} [{stage}]: {reason}" + (f" ({detail})" if detail else ""))
        self.record_id = record_id
        self.stage = stage
        self.reason = reason
        self.detail = detail


@dataclass
class RecordMeta:
    """What a source knows about a record before its signal is read."""

    record_id: str
    source: str
    source_kind: str
    path: str
    patient_id: str
    age: float | None = None
    sex: str | None = None  # "M", "F" or None
    label_system: str = "snomed"  # "snomed", "scp" or "text"
    source_codes: list[str] = field(default_factory=list)
    report: str = ""
    strat_fold: int | None = None
    credentialed: bool = False


@dataclass
class RawSignal:
    """A signal as a source stores it: any leads, rate and units."""

    signal: np.ndarray  # (n_leads, n_samples), physical units
    fs: float
    lead_names: list[str]
    units: list[str]
    offset_s: float = 0.0  # where this excerpt starts in the stored recording
    total_duration_s: float | None = None  # the stored recording's length, when only a window was read


@dataclass
class CanonicalRecord:
    """12 leads (LEADS_12 order) x 10 s at 500 Hz, in mV, plus the metadata the tables need."""

    meta: RecordMeta
    signal: np.ndarray  # float32 (12, 5000) mV
    orig_fs: float
    orig_n_leads: int
    orig_duration_s: float
    window_start_s: float
    labels: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


RECORDS_SCHEMA = pa.schema([
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_kind", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("fs", pa.float64()),
    pa.field("n_leads", pa.int32()),
    pa.field("duration_s", pa.float64()),
    pa.field("window_start_s", pa.float64()),
    pa.field("age", pa.float64()),
    pa.field("sex", pa.string()),
    pa.field("labels", pa.list_(pa.string())),
    pa.field("label_names", pa.list_(pa.string())),
    pa.field("label_text", pa.string()),
    pa.field("source_codes", pa.list_(pa.string())),
    pa.field("unknown_codes", pa.list_(pa.string())),
    pa.field("report", pa.string()),
    pa.field("strat_fold", pa.int32()),
    pa.field("credentialed", pa.bool_()),
    pa.field("signal_path", pa.string(), nullable=False),
    pa.field("notes", pa.list_(pa.string())),
    pa.field("ingest_version", pa.string()),
])

QUARANTINE_SCHEMA = pa.schema([
    pa.field("record_id", pa.string()),
    pa.field("path", pa.string()),
    pa.field("source", pa.string()),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("detail", pa.string()),
])


def record_row(rec: CanonicalRecord, signal_path: str) -> dict:
    """The `records` row of a canonical record."""
    m = rec.meta
    return {
        "record_id": m.record_id, "source": m.source, "source_kind": m.source_kind,
        "path": m.path, "patient_id": m.patient_id, "fs": float(rec.orig_fs),
        "n_leads": rec.orig_n_leads, "duration_s": float(rec.orig_duration_s),
        "window_start_s": float(rec.window_start_s), "age": m.age, "sex": m.sex,
        "labels": list(rec.labels), "label_names": list(rec.label_names),
        "label_text": "; ".join(rec.label_names), "source_codes": list(m.source_codes),
        "unknown_codes": list(rec.unknown_codes), "report": m.report,
        "strat_fold": m.strat_fold, "credentialed": m.credentialed,
        "signal_path": signal_path, "notes": list(rec.notes),
        "ingest_version": INGEST_VERSION,
    }


def quarantine_row(err: RecordError, path: str = "", source: str = "") -> dict:
    """The `quarantine` row of a record a stage refused."""
    return {
        "record_id": err.record_id, "path": path, "source": source,
        "stage": err.stage, "reason": err.reason, "detail": err.detail,
    }
