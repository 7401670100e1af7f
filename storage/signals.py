"""The canonical signal store: one WFDB record per record id (12 leads, 500 Hz, mV), GEM's `ecg` path format."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import wfdb

from schemas.records import CANONICAL_FS, LEADS_12
from storage.layout import DataRoot

ADC_GAIN = 1000.0  # 1 µV per count: lossless for ECG, and fits int16 up to ±32.7 mV


def bucket(record_id: str) -> str:
    """Two hex characters that spread 800k files over 256 folders."""
    return hashlib.sha1(record_id.encode()).hexdigest()[:2]


def signal_rel_path(record_id: str, source: str) -> str:
    """Where a record's canonical WFDB lives, relative to the root and without extension."""
    return f"signals/{source}/{bucket(record_id)}/{record_id}"


def wfdb_header(record_id: str, digital: np.ndarray, comments: list[str]) -> str:
    """A WFDB header for interleaved format-16 samples (n_samples, 12), with per-lead checksums."""
    n = digital.shape[0]
    lines = [f"{record_id} {len(LEADS_12)} {CANONICAL_FS} {n}"]
    for i, lead in enumerate(LEADS_12):
        col = digital[:, i]
        checksum = int(col.astype(np.int64).sum())
        checksum = (checksum + 32768) % 65536 - 32768
        init = int(col[0]) if n else 0
        lines.append(f"{record_id}.dat 16 {ADC_GAIN:g}(0)/mV 16 0 {init} {checksum} 0 {lead}")
    lines += [f"# {c}" for c in comments]
    return "\n".join(lines) + "\n"


def write_signal(root: DataRoot, record_id: str, source: str, signal: np.ndarray,
                 comments: list[str] | None = None) -> str:
    """Write the canonical signal as WFDB format 16 (1 µV resolution); returns its relative path.

    The header and data are written directly (wfdb.wrsamp spends ~70 ms per record validating
    fields); `tests/test_ingest.py` reads them back with wfdb.rdrecord.
    """
    rel = signal_rel_path(record_id, source)
    clipped = np.clip(np.nan_to_num(signal.astype(np.float64)), -32.0, 32.0)
    digital = np.round(clipped * ADC_GAIN).astype("<i2").T.copy()
    for suffix, data in ((".dat", digital.tobytes()),  # the header last: a record is readable once it is there
                         (".hea", wfdb_header(record_id, digital, comments or []).encode())):
        root.write_bytes(rel + suffix, data)
    return rel


def read_signal(root: DataRoot | Path, rel: str) -> np.ndarray:
    """The canonical (12, 5000) float32 mV array of a stored record."""
    if isinstance(root, DataRoot) and root.is_remote:
        return _read_remote(root, rel)
    base = root.abs(rel) if isinstance(root, DataRoot) else Path(root) / rel
    rec = wfdb.rdrecord(str(base), physical=True)
    return np.asarray(rec.p_signal, dtype=np.float32).T


def _read_remote(root: DataRoot, rel: str) -> np.ndarray:
    """A record on object storage: its two objects fetched into a private temp folder, read by wfdb there."""
    name = rel.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="gemflow-signal-") as tmp:
        for suffix in (".hea", ".dat"):
            (Path(tmp) / (name + suffix)).write_bytes(root.read_bytes(rel + suffix))
        rec = wfdb.rdrecord(str(Path(tmp) / name), physical=True)
    return np.asarray(rec.p_signal, dtype=np.float32).T
