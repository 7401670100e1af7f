"""The canonical signal store: one WFDB record per record id (12 leads, 500 Hz, mV), GEM's `ecg` path format."""
from __future__ import annotations

import hashlib
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


def write_signal(root: DataRoot, record_id: str, source: str, signal: np.ndarray,
                 comments: list[str] | None = None) -> str:
    """Write the canonical signal as WFDB format 16 (1 µV resolution); returns its relative path."""
    rel = signal_rel_path(record_id, source)
    target = root.abs(rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    clipped = np.clip(np.nan_to_num(signal.astype(np.float64)), -32.0, 32.0)
    digital = np.round(clipped * ADC_GAIN).astype(np.int16).T
    wfdb.wrsamp(
        record_id, fs=CANONICAL_FS, units=["mV"] * len(LEADS_12), sig_name=list(LEADS_12),
        d_signal=digital, fmt=["16"] * len(LEADS_12), adc_gain=[ADC_GAIN] * len(LEADS_12),
        baseline=[0] * len(LEADS_12), comments=comments or [], write_dir=str(target.parent),
    )
    return rel


def read_signal(root: DataRoot | Path, rel: str) -> np.ndarray:
    """The canonical (12, 5000) float32 mV array of a stored record."""
    base = root.abs(rel) if isinstance(root, DataRoot) else Path(root) / rel
    rec = wfdb.rdrecord(str(base), physical=True)
    return np.asarray(rec.p_signal, dtype=np.float32).T
