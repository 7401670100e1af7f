"""Ischaemia or injury of one wall ("possible acute anterior ischaemia", "inferior injury"): what backs it is an
ST-T change in two contiguous leads of that wall, not an ST-T change anywhere, nor one lead alone.

A change in a lead is ST elevation at the J point beyond the Fourth Universal Definition's limits (0.1 mV; in V2-V3
0.15 mV for women, 0.2 mV for men from 40 and 0.25 mV for younger men), ST depression of 0.05 mV or more, or a
T wave inverted by 0.1 mV or more.
"""
from __future__ import annotations

import re

from schemas.teacher import RecordContext
from tasks.validate.criteria import _CONTIGUOUS
from tasks.validate.diagnoses import span_negated

_ANTERIOR = ("V1", "V2", "V3", "V4")
TERRITORY_LEADS: dict[str, tuple[str, ...]] = {
    "ISCAN": _ANTERIOR, "ISCAS": _ANTERIOR, "INJAS": _ANTERIOR,
    "ISCAL": ("I", "aVL", "V3", "V4", "V5", "V6"), "INJAL": ("I", "aVL", "V3", "V4", "V5", "V6"),
    "ISCLA": ("I", "aVL", "V5", "V6"), "INJLA": ("I", "aVL", "V5", "V6"),
    "ISCIN": ("II", "III", "aVF"), "INJIN": ("II", "III", "aVF"),
    "ISCIL": ("II", "III", "aVF", "I", "aVL", "V5", "V6"), "INJIL": ("II", "III", "aVF", "I", "aVL", "V5", "V6"),
}


def _elevation_limit(lead: str, ctx: RecordContext) -> float:
    if lead not in ("V2", "V3"):
        return 0.1
    if (ctx.sex or "").upper().startswith("F"):
        return 0.15
    return 0.2 if ctx.age is not None and ctx.age >= 40 else 0.25


def _changed(lead: str, ctx: RecordContext) -> bool:
    lf = ctx.leads.get(lead)
    if lf is None or not lf.usable:
        return False
    st, t = lf.st_mv, lf.t_amp_mv
    return (st is not None and (st >= _elevation_limit(lead, ctx) or st <= -0.05)) or (t is not None and t <= -0.1)


def territory_changes(code: str, ctx: RecordContext) -> bool:
    """Does some pair of contiguous leads of this wall both show an ST-T change?"""
    leads = set(TERRITORY_LEADS.get(code, ()))
    return any(a in leads and b in leads and _changed(a, ctx) and _changed(b, ctx) for a, b in _CONTIGUOUS)


# "an evolving anterior injury pattern", "inferior wall injury current": the vocabulary names injury only as
# "subendocardial injury in ... leads", so a wall's injury written plainly is read here
_WALL = {"anterior": "INJAS", "anteroseptal": "INJAS", "septal": "INJAS", "anterolateral": "INJAL",
         "lateral": "INJLA", "highlateral": "INJLA", "inferior": "INJIN", "inferolateral": "INJIL"}
_INJURY = re.compile(r"\b(anterior|antero-?septal|septal|antero-?lateral|high\s+lateral|lateral|inferior|"
                     r"infero-?lateral)(?:\s+wall)?\s+(?:(?:myocardial|ST[\s-]elevation|transmural|acute)\s+)?"
                     r"injury\b", re.I)


def _backed_by_labels(labelled: set[str]) -> bool:
    return bool(labelled & {"STE", "ACUTEMI", "STIAB"}) or any(
        c.endswith("MI") or c.startswith(("INJ", "ISC")) for c in labelled)


def wall_injury_problems(text: str, ctx: RecordContext) -> list[tuple[str, str, str]]:
    """(rule, detail, span) for each wall's injury the answer states (hedged too) that neither a label nor ST-T
    changes in two contiguous leads of that wall support."""
    labelled = {lab.code for lab in ctx.labels}
    out = []
    for m in _INJURY.finditer(text):
        code = _WALL[re.sub(r"[\s-]+", "", m.group(1).lower())]
        if span_negated(text, m.start(), m.end()) or _backed_by_labels(labelled) or territory_changes(code, ctx):
            continue
        out.append(("unsupported_finding", f"'{m.group(0)}' is stated but neither labelled nor shown by ST-T changes"
                    " in two contiguous leads of that wall", m.group(0)))
    return out
