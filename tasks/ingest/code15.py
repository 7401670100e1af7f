"""CODE-15%: exams listed in `exams.csv`, tracings read row by row from `exams_part*.hdf5`, six SNOMED-mapped flags."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pandas as pd

from schemas.config import IngestSettings
from schemas.records import RawSignal, RecordError, RecordMeta
from tasks.ingest.metadata import cell_number as _number, read_columns

EXAMS_CSV = "exams.csv"
CODE15_FS = 400.0
# The stored floats are read as millivolts, as the PhysioNet Challenge 2025 conversion of CODE-15% does;
# the authors' README is self-contradictory on this (see docs/sources.md).
CODE15_UNITS = "mV"
LEAD_NAMES = ("DI", "DII", "DIII", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
# exams.csv flag column -> SNOMED-CT code
FLAG_TO_SNOMED = {
    "1dAVb": "270492004", "RBBB": "59118001", "LBBB": "164909002",
    "SB": "426177001", "ST": "427084000", "AF": "164889003",
}
_META_COLUMNS = ["exam_id", "age", "is_male", "patient_id", "trace_file"]


def flag(value: object) -> bool:
    """A boolean cell of exams.csv: True/False, 1/0 or their text; empty counts as False."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "1.0", "yes", "t"}
    number = _number(value)
    return bool(number) if number is not None else False


def code15_sex(is_male: object) -> str | None:
    """"M" or "F" from the `is_male` cell; None when it is empty."""
    if isinstance(is_male, str):
        return ("M" if flag(is_male) else "F") if is_male.strip() else None
    if isinstance(is_male, (bool, np.bool_)):
        return "M" if is_male else "F"
    return None if _number(is_male) is None else ("M" if flag(is_male) else "F")


def strip_zero_padding(tracing: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows between the first and the last with any non-zero lead, and how many zero rows led."""
    active = np.flatnonzero(np.any(tracing != 0, axis=1))
    if active.size == 0:
        return tracing[:0], 0
    return tracing[active[0]:active[-1] + 1], int(active[0])


class Code15Reader:
    """One record per row of `exams.csv` (by trace file, then exam id); HDF5 files open lazily, kept per reader."""

    kind = "code15"

    def __init__(self, root: Path, source: str, settings: IngestSettings,
                 credentialed: bool = False, units: str = CODE15_UNITS):
        self.root = Path(root)
        self.source = source
        self.settings = settings
        self.credentialed = credentialed
        self.units = units
        self._files: dict[Path, h5py.File] = {}
        self._rows: dict[Path, dict[int, int]] = {}

    @cached_property
    def exams(self) -> pd.DataFrame:
        df = read_columns(self.root / EXAMS_CSV, ("exam_id", "trace_file"), [*_META_COLUMNS, *FLAG_TO_SNOMED],
                          dtype={"trace_file": object})
        df["trace_file"] = df["trace_file"].fillna("").astype(str).str.strip()
        return df.sort_values(["trace_file", "exam_id"], kind="stable").reset_index(drop=True)

    def discover(self) -> Iterator[RecordMeta]:
        flags = [c for c in FLAG_TO_SNOMED if c in self.exams.columns]
        for i, row in enumerate(self.exams.to_dict("records")):
            yield self._meta(i, row, flags)

    def _meta(self, index: int, row: dict, flags: list[str]) -> RecordMeta:
        exam = _number(row.get("exam_id"))
        rid = f"{self.source}-{int(exam)}" if exam is not None else f"{self.source}-row{index}"
        patient = _number(row.get("patient_id"))
        age = _number(row.get("age"))
        return RecordMeta(
            record_id=rid, source=self.source, source_kind=self.kind,
            path=str(self.root / row["trace_file"]) if row["trace_file"] else "",
            patient_id=f"{self.source}-{int(patient)}" if patient is not None else rid,
            age=age if age is not None and 0 <= age < 130 else None,
            sex=code15_sex(row.get("is_male")),
            label_system="snomed", source_codes=[FLAG_TO_SNOMED[c] for c in flags if flag(row.get(c))],
            credentialed=self.credentialed,
        )

    def load(self, meta: RecordMeta) -> tuple[RecordMeta, RawSignal]:
        exam = self._exam_id(meta)
        tracing = self._read_row(meta, exam)
        if tracing.ndim != 2 or tracing.shape[1] != len(LEAD_NAMES):
            raise RecordError(meta.record_id, "ingest", "not a 12-lead record",
                              f"tracing of shape {tracing.shape}; CODE-15% stores (4096, 12)")
        signal, lead = strip_zero_padding(tracing)
        n = signal.shape[0]
        if n == 0:
            raise RecordError(meta.record_id, "ingest", "all-zero tracing", f"exam {exam} in {Path(meta.path).name}")
        need = int(round(self.settings.window_s * CODE15_FS))
        if n < need:
            raise RecordError(
                meta.record_id, "ingest", "record shorter than the window",
                f"{n / CODE15_FS:.2f} s of signal once {tracing.shape[0] - n} zero-padding samples are removed; "
                f"the canonical window needs {self.settings.window_s:.1f} s")
        return meta, RawSignal(signal=signal.T.copy(), fs=CODE15_FS, lead_names=list(LEAD_NAMES),
                               units=[self.units] * len(LEAD_NAMES), offset_s=lead / CODE15_FS,
                               total_duration_s=n / CODE15_FS)

    def _exam_id(self, meta: RecordMeta) -> int:
        suffix = meta.record_id.removeprefix(f"{self.source}-")
        if not suffix.isdigit():
            raise RecordError(meta.record_id, "ingest", "exams.csv row without exam_id",
                              "the exam cannot be located in the HDF5 files")
        return int(suffix)

    def _read_row(self, meta: RecordMeta, exam: int) -> np.ndarray:
        path = Path(meta.path)
        if not meta.path or not path.is_file():
            raise RecordError(meta.record_id, "ingest", "data file missing",
                              f"exams.csv names trace_file {path.name or '(empty)'}, not found in {self.root}")
        handle, rows = self._open(path, meta.record_id)
        row = rows.get(exam)
        if row is None:
            raise RecordError(meta.record_id, "ingest", "exam not in its HDF5 file",
                              f"exam_id {exam} is not in {path.name}'s exam_id dataset")
        try:
            return np.asarray(handle["tracings"][row], dtype=np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise RecordError(meta.record_id, "ingest", "unreadable data file",
                              f"{path.name} row {row}: {type(exc).__name__}: {exc}") from exc

    def _open(self, path: Path, record_id: str) -> tuple[h5py.File, dict[int, int]]:
        """The open HDF5 file and its exam_id -> row index, both made once per file per reader."""
        if path not in self._files:
            try:
                handle = h5py.File(path, "r")
            except OSError as exc:
                raise RecordError(record_id, "ingest", "unreadable data file",
                                  f"{path.name}: {type(exc).__name__}: {exc}") from exc
            if "tracings" not in handle or "exam_id" not in handle:
                handle.close()
                raise RecordError(record_id, "ingest", "unreadable data file",
                                  f"{path.name} lacks the `tracings` or `exam_id` dataset")
            ids = np.asarray(handle["exam_id"][:]).astype(np.int64)
            self._rows[path] = {int(e): i for i, e in enumerate(ids) if e != 0}  # 0: the parts' filler rows
            self._files[path] = handle
        return self._files[path], self._rows[path]

    def close(self) -> None:
        """Close the HDF5 files this reader opened."""
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._rows.clear()
