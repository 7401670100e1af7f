"""MIMIC-IV-ECG: WFDB records listed in `record_list.csv`, machine reports as text labels; credentialed data."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import pandas as pd

from schemas.config import IngestSettings
from schemas.records import RawSignal, RecordError, RecordMeta
from tasks.ingest.metadata import cell_number, read_columns
from tasks.ingest.wfdb_dir import make_record_id, read_wfdb_at

RECORD_LIST_CSV = "record_list.csv"
MEASUREMENTS_CSV = "machine_measurements.csv"
PATIENTS_CSV = "patients.csv"  # optional: MIMIC-IV hosp's table, copied beside the ECG files
_REPORT_COLUMN = re.compile(r"^report_\d+$")


@dataclass(frozen=True)
class Demographics:
    """What MIMIC-IV hosp `patients.csv` tells about one subject."""

    sex: str | None
    anchor_age: float | None
    anchor_year: int | None

    def age_at(self, year: int | None) -> float | None:
        """Age in the (shifted) year of the ECG: anchor_age + years since anchor_year (91 means over 89)."""
        if self.anchor_age is None:
            return None
        if year is None or self.anchor_year is None or self.anchor_age >= 91:
            return self.anchor_age
        age = self.anchor_age + (year - self.anchor_year)
        return age if 0 <= age < 130 else None


def _int(value: object) -> int | None:
    x = cell_number(value)
    return None if x is None else int(x)


def _year(value: object) -> int | None:
    match = re.match(r"\s*(\d{4})-", str(value or ""))
    return int(match.group(1)) if match else None


def read_reports(path: Path) -> dict[int, str]:
    """study_id -> the non-empty `report_i` lines joined with "; " (only those columns are read)."""
    if not path.exists():
        return {}
    present = list(pd.read_csv(path, nrows=0).columns)
    cols = [c for c in present if _REPORT_COLUMN.match(c)]
    if "study_id" not in present or not cols:
        return {}
    cols.sort(key=lambda c: int(c.split("_")[1]))
    df = pd.read_csv(path, usecols=["study_id", *cols], dtype={c: object for c in cols})
    df = df.dropna(subset=["study_id"]).set_index("study_id")
    lines = df[cols].stack().dropna().astype(str).str.strip()  # row by row, report_0 first
    lines = lines[lines != ""]
    joined = lines.groupby(level=0, sort=False).agg("; ".join)
    return {int(k): v for k, v in joined.items()}


def read_demographics(path: Path) -> dict[int, Demographics]:
    """subject_id -> sex and anchor age/year from an optional MIMIC-IV `patients.csv`."""
    if not path.exists():
        return {}
    present = set(pd.read_csv(path, nrows=0).columns)
    if "subject_id" not in present:
        return {}
    cols = [c for c in ("subject_id", "gender", "anchor_age", "anchor_year") if c in present]
    df = pd.read_csv(path, usecols=cols, dtype={"gender": object})
    out: dict[int, Demographics] = {}
    for row in df.itertuples(index=False):
        sid = _int(row.subject_id)
        if sid is None:
            continue
        gender = str(getattr(row, "gender", "") or "").strip().upper()
        age = _int(getattr(row, "anchor_age", None))
        out[sid] = Demographics(sex=gender if gender in ("M", "F") else None,
                                anchor_age=float(age) if age is not None else None,
                                anchor_year=_int(getattr(row, "anchor_year", None)))
    return out


class MimicReader:
    """One record per row of `record_list.csv`, in `path` order; every record is credentialed by default."""

    kind = "mimic"

    def __init__(self, root: Path, source: str, settings: IngestSettings, credentialed: bool = True):
        self.root = Path(root)
        self.source = source
        self.settings = settings
        self.credentialed = credentialed

    @cached_property
    def records(self) -> pd.DataFrame:
        df = read_columns(self.root / RECORD_LIST_CSV, ("subject_id", "study_id", "path"), ("ecg_time",),
                          dtype={"path": object, "ecg_time": object})
        df["path"] = df["path"].fillna("").astype(str).str.strip().str.strip("/")
        return df.sort_values(["path", "study_id"], kind="stable").reset_index(drop=True)

    @cached_property
    def reports(self) -> dict[int, str]:
        return read_reports(self.root / MEASUREMENTS_CSV)

    @cached_property
    def demographics(self) -> dict[int, Demographics]:
        return read_demographics(self.root / PATIENTS_CSV)

    def discover(self) -> Iterator[RecordMeta]:
        for row in self.records.itertuples(index=False):
            yield self._meta(row)

    def _meta(self, row) -> RecordMeta:
        subject, study = _int(row.subject_id), _int(row.study_id)
        rel = row.path or f"study_{study}"
        rid = make_record_id(self.source, rel)
        demo = self.demographics.get(subject) if subject is not None else None
        return RecordMeta(
            record_id=rid, source=self.source, source_kind=self.kind,
            path=str(self.root / row.path) if row.path else "",
            patient_id=f"{self.source}-{subject}" if subject is not None else rid,
            age=demo.age_at(_year(getattr(row, "ecg_time", None))) if demo else None,
            sex=demo.sex if demo else None, label_system="text", source_codes=[],
            report=self.reports.get(study, "") if study is not None else "",
            credentialed=self.credentialed,
        )

    def load(self, meta: RecordMeta) -> tuple[RecordMeta, RawSignal]:
        if not meta.path:
            raise RecordError(meta.record_id, "ingest", "record list entry has no path",
                              f"{RECORD_LIST_CSV} row without a `path` value")
        return meta, read_wfdb_at(Path(meta.path), meta.record_id, self.settings)
