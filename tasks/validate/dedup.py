"""Exact and near-duplicate answers across records: MinHash signatures with banded LSH, verified by Jaccard."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

N_HASHES = 64
BANDS = 8  # 8 bands x 8 rows: a pair at Jaccard 0.9 shares a band with p = 0.989, one at 0.5 with 0.03
ROWS = N_HASHES // BANDS
_MASK = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20251129)
_A = _rng.integers(1, (1 << 61) - 1, N_HASHES, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, N_HASHES, dtype=np.uint64)
_MIX = _rng.integers(1, (1 << 63) - 1, ROWS, dtype=np.uint64) | np.uint64(1)  # odd multipliers for band keys


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


def band_keys(sig: np.ndarray) -> list[int]:
    """One 64-bit key per band (a multiply-add mix of its rows); a key collision only adds a candidate."""
    with np.errstate(over="ignore"):
        return [int(k) for k in (sig.reshape(BANDS, ROWS) * _MIX).sum(axis=1, dtype=np.uint64)]


class DuplicateIndex:
    """Answers already accepted; `check` finds an exact or near copy from another record, then `add`.

    The cost of a check does not grow with the index: banding makes unrelated answers rare candidates
    (answers sharing a skeleton, Jaccard ~0.3, almost never share a band of 8 rows), and candidates are
    scored in one vectorised comparison. Memory: 64 x 4 bytes per answer for the signatures, one dict
    entry per band and the exact-match key: under 2 KiB per answer (benchmarks/dedup_scale.py).
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold
        self._exact: dict[str, str] = {}
        self._ids: list[str] = []
        self._sigs = np.zeros((1024, N_HASHES), dtype=np.uint32)  # low 32 bits: enough to compare
        self._bands: list[dict[int, int | list[int]]] = [{} for _ in range(BANDS)]

    def __len__(self) -> int:
        return len(self._ids)

    def _candidates(self, keys: list[int]) -> np.ndarray:
        found: list[int] = []
        for band, key in zip(self._bands, keys):
            hit = band.get(key)
            if isinstance(hit, list):
                found.extend(hit)
            elif hit is not None:
                found.append(hit)
        return np.unique(np.asarray(found, dtype=np.int64))

    def check(self, record_id: str, text: str) -> Duplicate | None:
        key = hashlib.sha256(normalize(text).encode()).hexdigest()
        other = self._exact.get(key)
        if other is not None and other != record_id:
            return Duplicate("exact", other, 1.0)
        sig = signature(text)
        cands = self._candidates(band_keys(sig))
        if cands.size == 0:
            return None
        sims = (self._sigs[cands] == sig.astype(np.uint32)).mean(axis=1)
        best = None
        for i in np.argsort(-sims, kind="stable"):
            if sims[i] < self.threshold:
                break
            rid = self._ids[cands[i]]
            if rid != record_id:
                best = Duplicate("near", rid, round(float(sims[i]), 3))
                break
        return best

    def add(self, record_id: str, text: str) -> None:
        self._exact.setdefault(hashlib.sha256(normalize(text).encode()).hexdigest(), record_id)
        sig = signature(text)
        idx = len(self._ids)
        if idx == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
        self._sigs[idx] = sig.astype(np.uint32)
        self._ids.append(record_id)
        for band, key in zip(self._bands, band_keys(sig)):
            hit = band.get(key)
            if hit is None:
                band[key] = idx  # most keys hold one answer: an int, not a list
            elif isinstance(hit, list):
                hit.append(idx)
            else:
                band[key] = [hit, idx]
