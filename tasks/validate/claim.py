"""A claim: one written number with the measurement, lead and beat it is attributed to (or why it is none)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    values: tuple[float, ...]  # one value, or (low, high) for a range
    unit: str | None
    measure: str | None  # hr, atrial_rate, pr, qrs, qt, qtc, rr, time, duration, axis_qrs, amp_r, st, ...
    leads: tuple[str, ...] = ()
    group: bool = False  # the leads come from a group or list the value covers
    beat: int | None = None  # 1-based beat position named with the value
    sign: int | None = None  # +1 elevation/upright, -1 depression/inverted, from the words
    comparator: str | None = None
    shape: str = "single"  # single or range
    approx: bool = False
    nonclaim: str | None = None  # reference, setting, ratio: a number that asserts nothing about the record
    definitional: bool = False  # its sentence reads as a criterion: a failing threshold there is not a claim
    extreme: bool = False  # "reaching", "up to", "maximal": the value is an extreme over beats, not a median
    beats: tuple[int, ...] = ()  # every beat its sentence names (lists: "beats 5 and 6 follow RRs of 372 and 348 ms")
    formula: str | None = None  # a QTc named with its formula ("QTc (Bazett) 416 ms"): checked on that one only
    operands: tuple[float, ...] = ()  # a computed sum ("x plus y gives z"): the values added, each claimed itself
    span: tuple[int, int] = (0, 0)
    text: str = ""
