"""Patient-level splits: deterministic from the patient id, so no patient is ever in two splits."""
from __future__ import annotations

import hashlib

from schemas.config import ExportSettings


def split_of(patient_id: str, settings: ExportSettings) -> str:
    """`train`, `val` or `test` for a patient; stable across runs, machines and corpus growth."""
    h = int(hashlib.sha256(f"{settings.split_seed}:{patient_id}".encode()).hexdigest()[:12], 16) / 16**12
    if h < settings.train_fraction:
        return "train"
    if h < settings.train_fraction + settings.val_fraction:
        return "val"
    return "test"
