"""PTB-XL: records listed in `ptbxl_database.csv`, SCP-ECG statements as labels, WFDB signals at 500 or 100 Hz."""
from __future__ import annotations

import ast
import math
from functools import cached_property
from pathlib import Path
from typing import Iterator

import pandas as pd

from schemas.config import IngestSettings
from schemas.records import RawSignal, RecordMeta
from tasks.ingest.metadata import cell_number as _number, read_columns
from tasks.ingest.wfdb_dir import make_record_id, read_wfdb_at

DATABASE_CSV = "ptbxl_database.csv"
_COLUMNS = ["ecg_id", "patient_id", "age", "sex", "report", "scp_codes", "strat_fold", "filename_lr", "filename_hr"]
# PTB-XL stores the age of patients older than 89 as 300 (de-identification); we keep them as 90 ("90 or more").
_AGE_OVER_89_CODE = 300
_AGE_OVER_89 = 90.0


def _text(value: object) -> str:
    """A CSV cell as clean text; empty for NaN/None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def ptbxl_age(value: object) -> float | None:
    """Age in years; PTB-XL's 300 (older than 89) becomes 90, other implausible values None."""
    age = _number(value)
    if age is None:
        return None
    if age >= _AGE_OVER_89_CODE:
        return _AGE_OVER_89
    return age if 0 <= age < 130 else None


def ptbxl_sex(value: object) -> str | None:
    """PTB-XL codes sex as 0 = male, 1 = female."""
    code = _number(value)
    return {0.0: "M", 1.0: "F"}.get(code) if code is not None else None


def scp_code_keys(value: object) -> list[str]:
    """The statement codes of a `scp_codes` cell like "{'NORM': 100.0, 'SR': 0.0}" (likelihoods dropped)."""
    text = _text(value)
    if not text:
        return []
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    if not isinstance(parsed, dict):
        return []
    return [str(k).strip() for k in parsed if str(k).strip()]


class PtbxlReader:
    """One record per row of `ptbxl_database.csv`, in `ecg_id` order."""

    kind = "ptbxl"

    def __init__(self, root: Path, source: str, settings: IngestSettings, credentialed: bool = False):
        self.root = Path(root)
        self.source = source
        self.settings = settings
        self.credentialed = credentialed

    @cached_property
    def table(self) -> pd.DataFrame:
        """The metadata table, read once per reader with only the columns ingest uses."""
        df = read_columns(self.root / DATABASE_CSV, ("ecg_id", "filename_lr"), _COLUMNS, dtype={"report": object})
        return df.sort_values("ecg_id", kind="stable").reset_index(drop=True)

    def discover(self) -> Iterator[RecordMeta]:
        for row in self.table.itertuples(index=False):
            yield self._meta(row)

    def choose_file(self, row) -> str:
        """`filename_hr` when 500 Hz is wanted and its header is there, else `filename_lr`."""
        hr, lr = _text(getattr(row, "filename_hr", "")), _text(row.filename_lr)
        if self.settings.ptbxl_rate == 500 and hr and (self.root / f"{hr}.hea").exists():
            return hr
        return lr or hr

    def _meta(self, row) -> RecordMeta:
        rel = self.choose_file(row) or f"ecg_{_text(row.ecg_id)}"
        rid = make_record_id(self.source, rel)
        patient = _number(getattr(row, "patient_id", None))
        fold = _number(getattr(row, "strat_fold", None))
        return RecordMeta(
            record_id=rid, source=self.source, source_kind=self.kind, path=str(self.root / rel),
            patient_id=f"{self.source}-{int(patient)}" if patient is not None else rid,
            age=ptbxl_age(getattr(row, "age", None)), sex=ptbxl_sex(getattr(row, "sex", None)),
            label_system="scp", source_codes=scp_code_keys(getattr(row, "scp_codes", None)),
            report=_text(getattr(row, "report", "")),
            strat_fold=int(fold) if fold is not None else None, credentialed=self.credentialed,
        )

    def load(self, meta: RecordMeta) -> tuple[RecordMeta, RawSignal]:
        return meta, read_wfdb_at(Path(meta.path), meta.record_id, self.settings)
