"""Metadata CSVs of corpus layouts: required columns checked by name, only the wanted columns read."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import pandas as pd


def read_columns(path: Path, required: Iterable[str], wanted: Iterable[str], dtype: dict | None = None) -> pd.DataFrame:
    """The CSV's `wanted` columns that exist (800k-row tables stay small); a missing required one is named."""
    present = set(pd.read_csv(path, nrows=0).columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{path} lacks the columns {', '.join(missing)}")
    cols = list(dict.fromkeys(c for c in [*required, *wanted] if c in present))
    return pd.read_csv(path, usecols=cols, dtype={k: v for k, v in (dtype or {}).items() if k in cols})


def cell_number(value: object) -> float | None:
    """A CSV cell as a float; None for empty, NaN or text that is not a number."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x
