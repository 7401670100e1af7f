"""Read a 12-lead WFDB record as the ECG tower's input: standard lead order, 500 Hz, 10 s, mV."""
from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
TARGET_FS = 500
TARGET_SAMPLES = 5000


class SignalError(ValueError):
    """A record cannot be turned into a 12 x 5000 input; the message says why."""


def load_ecg(record_path: str | Path, fs: int = TARGET_FS, n_samples: int = TARGET_SAMPLES) -> np.ndarray:
    """[12, n_samples] float32 in mV: leads reordered, resampled to `fs`, first window kept.

    A shorter record is zero-padded at the end; NaNs (gaps) become 0."""
    import wfdb

    record = wfdb.rdrecord(str(record_path))
    signal = record.p_signal if record.p_signal is not None else record.dac()
    return to_model_input(np.asarray(signal, dtype=np.float64), record.sig_name, float(record.fs),
                          fs, n_samples, str(record_path))


def to_model_input(signal: np.ndarray, lead_names: list[str], source_fs: float,
                   fs: int = TARGET_FS, n_samples: int = TARGET_SAMPLES, where: str = "record") -> np.ndarray:
    """[samples, leads] at `source_fs` -> [12, n_samples] at `fs` (see `load_ecg`)."""
    index = {name.strip().upper(): i for i, name in enumerate(lead_names)}
    missing = [lead for lead in LEADS if lead.upper() not in index]
    if missing:
        raise SignalError(f"{where}: not a 12-lead record, missing {', '.join(missing)} (has {lead_names})")
    leads = np.stack([signal[:, index[lead.upper()]] for lead in LEADS])
    leads = np.nan_to_num(leads, nan=0.0)
    leads = resample(leads, source_fs, fs)
    out = np.zeros((len(LEADS), n_samples), dtype=np.float32)
    take = min(n_samples, leads.shape[1])
    out[:, :take] = leads[:, :take]
    return out


def resample(leads: np.ndarray, source_fs: float, fs: int) -> np.ndarray:
    """Polyphase resampling along the last axis (exact for integer rates such as 100/500/1000)."""
    from scipy.signal import resample_poly

    if abs(source_fs - fs) < 1e-6:
        return leads
    up, down = int(round(fs * 1000)), int(round(source_fs * 1000))
    common = gcd(up, down)
    return resample_poly(leads, up // common, down // common, axis=-1)
