"""Generic WFDB folders (CinC-2021 style `.hea` + `.mat`, PTB, any `.hea`/`.dat`), read recursively."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
import wfdb

from schemas.config import IngestSettings
from schemas.records import RawSignal, RecordError, RecordMeta
from tasks.ingest.canonical import standard_lead_name

# bytes per sample for the WFDB formats whose file size we can predict
_BYTES_PER_SAMPLE = {"16": 2.0, "61": 2.0, "212": 1.5, "80": 1.0, "24": 3.0, "32": 4.0, "8": 1.0, "310": 4 / 3, "311": 4 / 3}


def make_record_id(source: str, rel_path: str) -> str:
    """A stable id from the source name and the record's path inside it (no extension)."""
    stem = re.sub(r"\.(hea|dat|mat)$", "", rel_path)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem.replace("/", "_"))
    return f"{source}-{safe}"


def parse_comments(comments: list[str]) -> dict[str, str]:
    """Header comments `Key: value` (CinC `# Dx:`, PTB `# age:`...) as a lower-cased key map."""
    out: dict[str, str] = {}
    for line in comments:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip().lower(), value.strip())
    return out


def parse_age(value: str | None) -> float | None:
    try:
        age = float(value) if value is not None else None
    except ValueError:
        return None
    return age if age is not None and 0 <= age < 130 else None


def parse_sex(value: str | None) -> str | None:
    v = (value or "").strip().lower()
    if v in {"m", "male", "0"}:
        return "M"
    if v in {"f", "female", "1"}:
        return "F"
    return None


class WfdbDirReader:
    """Every `.hea` under a folder is one candidate record; metadata comes from header comments."""

    kind = "wfdb"

    def __init__(self, root: Path, source: str, settings: IngestSettings, credentialed: bool = False,
                 kind: str = "wfdb"):
        self.kind = kind
        self.root = Path(root)
        self.source = source
        self.settings = settings
        self.credentialed = credentialed

    def discover(self) -> Iterator[RecordMeta]:
        for hea in sorted(self.root.rglob("*.hea")):
            rel = hea.relative_to(self.root).as_posix()
            rid = make_record_id(self.source, rel)
            yield RecordMeta(record_id=rid, source=self.source, source_kind=self.kind,
                             path=str(hea), patient_id=rid, credentialed=self.credentialed)

    def load(self, meta: RecordMeta) -> tuple[RecordMeta, RawSignal]:
        base = str(Path(meta.path).with_suffix(""))
        header = read_header(base, meta.record_id)
        fill_meta_from_comments(meta, parse_comments(header.comments or []))
        return meta, read_signal(base, header, meta.record_id, self.settings)


def read_header(base: str, record_id: str) -> wfdb.Record:
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises many types for a bad header; all mean the same here
        raise RecordError(record_id, "ingest", "unreadable header", f"{type(exc).__name__}: {exc}") from exc
    if getattr(header, "n_seg", None):
        raise RecordError(record_id, "ingest", "multi-segment records are not supported", base)
    return header


def read_wfdb_at(base: Path, record_id: str, settings: IngestSettings) -> RawSignal:
    """The window of one WFDB record at `base` (no extension); a missing header is refused by name."""
    if not base.with_name(base.name + ".hea").exists():
        raise RecordError(record_id, "ingest", "header file missing",
                          f"{base.name}.hea not found in {base.parent}")
    header = read_header(str(base), record_id)
    return read_signal(str(base), header, record_id, settings)


def fill_meta_from_comments(meta: RecordMeta, c: dict[str, str]) -> None:
    meta.age = parse_age(c.get("age"))
    meta.sex = parse_sex(c.get("sex"))
    if "dx" in c:
        meta.label_system = "snomed"
        meta.source_codes = [x.strip() for x in c["dx"].split(",") if x.strip()]
    else:  # PTB-style prose diagnosis
        meta.label_system = "text"
        parts = [f"{k}: {c[k]}" for k in ("reason for admission", "acute infarction (localization)",
                                          "former infarction (localization)", "additional diagnoses")
                 if c.get(k) and c[k].lower() not in {"no", "n/a"}]
        meta.report = "; ".join(parts)
    if c.get("patient"):
        meta.patient_id = f"{meta.source}-{c['patient']}"


def check_header_leads(header: wfdb.Record, record_id: str) -> None:
    names = list(header.sig_name or [])
    have = {standard_lead_name(n) for n in names} - {None}
    if len(have) < 12:
        from schemas.records import LEADS_12
        missing = [x for x in LEADS_12 if x not in have]
        raise RecordError(record_id, "ingest", "not a 12-lead record",
                          f"missing leads {', '.join(missing)}; found channels {', '.join(names) or 'none'}")


def check_data_files(base: str, header: wfdb.Record, record_id: str) -> None:
    """A missing or truncated data file is named before wfdb fails on it with a reshape error."""
    folder = Path(base).parent
    per_file: dict[str, list[int]] = {}
    for i, fname in enumerate(header.file_name or []):
        per_file.setdefault(fname, []).append(i)
    for fname, idxs in per_file.items():
        path = folder / fname
        if not path.exists():
            raise RecordError(record_id, "ingest", "data file missing", f"header names {fname}, not found in {folder}")
        fmt = str(header.fmt[idxs[0]])
        bps = _BYTES_PER_SAMPLE.get(fmt)
        if bps is None or not header.sig_len:
            continue
        offset = int((header.byte_offset or [0] * len(header.fmt))[idxs[0]] or 0)
        expected = int(np.ceil(header.sig_len * len(idxs) * bps)) + offset
        size = path.stat().st_size
        if size < expected:
            raise RecordError(record_id, "ingest", "truncated data file",
                              f"{fname} has {size} bytes; the header implies {expected}")


def read_signal(base: str, header: wfdb.Record, record_id: str, settings: IngestSettings) -> RawSignal:
    check_header_leads(header, record_id)
    check_data_files(base, header, record_id)
    fs = float(header.fs)
    need = int(round(settings.window_s * fs))
    n = int(header.sig_len or 0)
    if n < need:
        raise RecordError(record_id, "ingest", "record shorter than the window",
                          f"{n / fs:.2f} s of signal; the canonical window needs {settings.window_s:.1f} s")
    start = 0 if settings.window == "first" else (n - need) // 2
    try:
        rec = wfdb.rdrecord(base, sampfrom=start, sampto=start + need)
    except Exception as exc:  # corrupt content that passed the size check
        raise RecordError(record_id, "ingest", "unreadable data file", f"{type(exc).__name__}: {exc}") from exc
    signal = np.asarray(rec.p_signal, dtype=np.float64).T
    return RawSignal(signal=signal, fs=fs, lead_names=list(rec.sig_name), units=list(rec.units or []),
                     offset_s=start / fs, total_duration_s=n / fs)
