"""Exact and near-duplicate answers across records: MinHash signatures with banded LSH, verified by Jaccard."""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

N_HASHES = 64
BANDS = 16  # 16 bands x 4 rows: pairs with Jaccard >= ~0.6 almost always share a band
_MASK = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20251129)
_A = _rng.integers(1, (1 << 61) - 1, N_HASHES, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, N_HASHES, dtype=np.uint64)


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def shingles(text: str, k: int = 3) -> set[int]:
    words = re.findall(r"[a-z0-9.+\-°]+", normalize(text))
    grams = [" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))]
    return {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams}


def signature(text: str) -> np.ndarray:
    sh = np.fromiter(shingles(text), dtype=np.uint64)
    if sh.size == 0:
        return np.zeros(N_HASHES, dtype=np.uint64)
    with np.errstate(over="ignore"):
        hashed = (sh[None, :] * _A[:, None] + _B[:, None]) & _MASK
    return hashed.min(axis=1)


@dataclass
class Duplicate:
    kind: str  # "exact" or "near"
    other_record: str
    similarity: float


class DuplicateIndex:
    """Answers already accepted; `check` finds an exact or near copy from another record, then `add`."""

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold
        self._exact: dict[str, str] = {}
        self._sigs: list[tuple[str, np.ndarray]] = []
        self._bands: dict[tuple[int, bytes], list[int]] = defaultdict(list)

    def check(self, record_id: str, text: str) -> Duplicate | None:
        key = hashlib.sha256(normalize(text).encode()).hexdigest()
        other = self._exact.get(key)
        if other is not None and other != record_id:
            return Duplicate("exact", other, 1.0)
        sig = signature(text)
        rows = N_HASHES // BANDS
        candidates = {i for b in range(BANDS) for i in self._bands.get((b, sig[b * rows:(b + 1) * rows].tobytes()), [])}
        best = None
        for i in candidates:
            rid, other_sig = self._sigs[i]
            if rid == record_id:
                continue
            sim = float(np.mean(other_sig == sig))
            if sim >= self.threshold and (best is None or sim > best.similarity):
                best = Duplicate("near", rid, round(sim, 3))
        return best

    def add(self, record_id: str, text: str) -> None:
        self._exact.setdefault(hashlib.sha256(normalize(text).encode()).hexdigest(), record_id)
        sig = signature(text)
        idx = len(self._sigs)
        self._sigs.append((record_id, sig))
        rows = N_HASHES // BANDS
        for b in range(BANDS):
            self._bands[(b, sig[b * rows:(b + 1) * rows].tobytes())].append(idx)
