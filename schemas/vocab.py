"""The project's one ECG label vocabulary: canonical labels with their SNOMED-CT and SCP-ECG codes.

The table lives in `schemas/data/labels.csv` (one row per canonical label; see docs/labels.md).
Every source code, whichever system it comes from, lands on one canonical `Label`, so records
from CinC-2021 (SNOMED-CT) and PTB-XL (SCP-ECG) share one label space.
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, field_validator

LABELS_CSV = Path(__file__).resolve().parent / "data" / "labels.csv"

System = Literal["snomed", "scp"]
Category = Literal["rhythm", "conduction", "axis", "hypertrophy", "ischemia-infarction",
                   "st-t", "morphology", "other", "normal"]
DiagClass = Literal["NORM", "MI", "STTC", "CD", "HYP"]

#: Measurement rules a validator can check against `record_features` / `beats`.
#: A label names at most one; the name reads as "<measurement>_<comparison>_<threshold>".
MEASURES: dict[str, str] = {
    "hr_lt_60": "heart rate below 60 bpm",
    "hr_60_100": "heart rate from 60 to 100 bpm",
    "hr_gt_100": "heart rate above 100 bpm",
    "pr_gt_200": "PR interval longer than 200 ms",
    "pr_lt_120": "PR interval shorter than 120 ms",
    "qrs_ge_120": "QRS duration of 120 ms or more",
    "qrs_110_119": "QRS duration from 110 to 119 ms",
    "qrs_gt_110": "QRS duration above 110 ms",
    "qtc_gt_460": "QTc longer than 460 ms",
    "qtc_lt_350": "QTc shorter than 350 ms",
    "axis_lt_-30": "QRS axis more negative than -30 degrees",
    "axis_lt_-45": "QRS axis more negative than -45 degrees",
    "axis_gt_90": "QRS axis greater than +90 degrees",
    "rr_irregular_no_p": "irregular RR intervals (high rr_cv) with no detectable P waves",
    "rr_irregular_with_p": "irregular RR intervals (high rr_cv) with a P wave before each QRS",
    "p_dur_gt_120": "P wave duration above 120 ms",
    "p_amp_gt_0.25mv": "P amplitude above 0.25 mV in II, III or aVF",
    "st_gt_0.1mv": "ST elevation above 0.1 mV in two contiguous leads",
    "st_lt_-0.05mv": "ST depression below -0.05 mV in two contiguous leads",
    "t_negative": "negative T amplitude in leads normally upright (I, II, V3-V6)",
    "lvh_voltage": "S(V1) + R(V5 or V6) of 3.5 mV or more",
    "low_qrs_voltage": "QRS amplitude below 0.5 mV in every limb lead or below 1.0 mV in every precordial lead",
}

_CODE_RE = re.compile(r"^[0-9A-Z]{1,8}$")


class UnknownLabelError(KeyError):
    """A canonical label id that the vocabulary does not hold."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


class Label(BaseModel):
    """One canonical ECG statement, with every source code that means it."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    abbrev: str
    category: Category
    diag_class: DiagClass | None = None
    parent: str | None = None
    snomed: tuple[str, ...] = ()
    scp: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    criteria: str
    measure: str | None = None

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not _CODE_RE.match(value):
            raise ValueError(f"canonical id {value!r} must be 1-8 characters of A-Z and 0-9")
        return value

    @field_validator("measure")
    @classmethod
    def _known_measure(cls, value: str | None) -> str | None:
        if value is not None and value not in MEASURES:
            raise ValueError(f"measure {value!r} is not one of schemas.vocab.MEASURES")
        return value

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "Label":
        """Build a label from one row of labels.csv (multi-valued cells are '|'-separated)."""
        return cls(
            code=row["code"].strip(), name=row["name"].strip(), abbrev=row["abbrev"].strip(),
            category=row["category"].strip(), diag_class=row["diag_class"].strip() or None,
            parent=row["parent"].strip() or None, snomed=_split(row["snomed"]), scp=_split(row["scp"]),
            synonyms=_split(row["synonyms"]), criteria=row["criteria"].strip(),
            measure=row["measure"].strip() or None,
        )


_MISSING = object()


class Vocabulary:
    """Canonical labels indexed by canonical id, SNOMED-CT code and SCP-ECG code."""

    def __init__(self, labels: Iterable[Label]):
        self._labels: dict[str, Label] = {}
        self._by_system: dict[str, dict[str, Label]] = {"snomed": {}, "scp": {}}
        for label in labels:
            self._add(label)
        self._check_parents()

    def _add(self, label: Label) -> None:
        if label.code in self._labels:
            raise ValueError(f"duplicate canonical id {label.code!r}")
        self._labels[label.code] = label
        for system, codes in (("snomed", label.snomed), ("scp", label.scp)):
            index = self._by_system[system]
            for code in codes:
                if code in index:
                    raise ValueError(f"{system} code {code} maps to both {index[code].code} and {label.code}")
                index[code] = label

    def _check_parents(self) -> None:
        for label in self._labels.values():
            if label.parent is not None and label.parent not in self._labels:
                raise ValueError(f"label {label.code}: parent {label.parent!r} is not a canonical id")

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Vocabulary":
        """The vocabulary in labels.csv (the project's table unless `path` is given); cached per path."""
        return _load_cached(str(Path(path) if path else LABELS_CSV))

    def all(self) -> list[Label]:
        """Every label, in table order."""
        return list(self._labels.values())

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, code: object) -> bool:
        return code in self._labels

    def get(self, code: str, default: object = _MISSING) -> Label:
        """The label with this canonical id; raises UnknownLabelError unless a default is given."""
        label = self._labels.get(code)
        if label is None:
            if default is _MISSING:
                raise UnknownLabelError(code)
            return default  # type: ignore[return-value]
        return label

    def from_snomed(self, code: str | int) -> Label | None:
        """The label a SNOMED-CT concept id maps to, or None."""
        return self._by_system["snomed"].get(_clean_snomed(code))

    def from_scp(self, code: str) -> Label | None:
        """The label an SCP-ECG statement code maps to (case-insensitive), or None."""
        code = code.strip()
        index = self._by_system["scp"]
        return index.get(code) or index.get(code.upper())

    def lookup(self, code: str | int, system: System) -> Label | None:
        """The label a code of the given system maps to, or None."""
        if system == "snomed":
            return self.from_snomed(code)
        if system == "scp":
            return self.from_scp(str(code))
        raise ValueError(f"unknown code system {system!r}: expected 'snomed' or 'scp'")

    def normalize(self, codes: Iterable[str | int], system: System) -> tuple[list[Label], list[str]]:
        """Map source codes to unique canonical labels (first-seen order) and the codes that did not map."""
        labels: list[Label] = []
        unknown: list[str] = []
        for raw in codes:
            text = str(raw).strip()
            if not text:
                continue
            label = self.lookup(text, system)
            if label is None:
                if text not in unknown:
                    unknown.append(text)
            elif label not in labels:
                labels.append(label)
        return labels, unknown

    def ancestors(self, code: str) -> list[Label]:
        """The chain of more general labels above a label (nearest first), following `parent`."""
        chain: list[Label] = []
        parent = self.get(code).parent
        while parent is not None and all(p.code != parent for p in chain):
            label = self.get(parent)
            chain.append(label)
            parent = label.parent
        return chain

    def by_category(self, category: Category) -> list[Label]:
        """The labels of one category, in table order."""
        return [label for label in self._labels.values() if label.category == category]


def _clean_snomed(code: str | int) -> str:
    text = str(code).strip()
    return text[:-2] if text.endswith(".0") else text


def read_labels(path: Path) -> list[Label]:
    """Parse a labels.csv file; a bad row raises ValueError naming its line."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels = []
    for line, row in enumerate(rows, start=2):
        try:
            labels.append(Label.from_row(row))
        except (ValueError, KeyError) as err:
            raise ValueError(f"{path}:{line}: {err}") from err
    return labels


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Vocabulary:
    return Vocabulary(read_labels(Path(path)))
