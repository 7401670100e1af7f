"""Machine-checkable label criteria (schemas.vocab.MEASURES) evaluated on a record's measurements."""
from __future__ import annotations

from typing import Callable

from schemas.teacher import RecordContext

Check = Callable[[RecordContext], "bool | None"]


def _f(ctx: RecordContext, key: str):
    return getattr(ctx.features, key)  # typed: a misspelled measurement name raises AttributeError


def _cmp(key: str, op: Callable[[float], bool]) -> Check:
    def check(ctx: RecordContext) -> bool | None:
        v = _f(ctx, key)
        return None if v is None else bool(op(v))
    return check


def _rate(op: Callable[[float], bool]) -> Check:
    """A rate class, judged on the dominant (sinus) rate so ectopic beats do not move it; the
    ventricular rate over all beats where no dominant rate was measured (features before features-3)."""
    def check(ctx: RecordContext) -> bool | None:
        v = _f(ctx, "dominant_hr_bpm")
        v = _f(ctx, "hr_bpm") if v is None else v
        return None if v is None else bool(op(v))
    return check


def _lead(ctx: RecordContext, lead: str, col: str) -> float | None:
    lf = ctx.leads.get(lead)
    if lf is None:
        return None
    return getattr(lf, col) if lf.usable else None


def _irregular(ctx: RecordContext, p_present: bool) -> bool | None:
    reg, p = _f(ctx, "rhythm_regular"), _f(ctx, "p_waves_present")
    if reg is None or p is None:
        return None
    return reg is False and p is p_present


_CONTIGUOUS = [("II", "III"), ("III", "aVF"), ("II", "aVF"), ("I", "aVL"), ("V1", "V2"), ("V2", "V3"),
               ("V3", "V4"), ("V4", "V5"), ("V5", "V6")]


def _st_pair(ctx: RecordContext, op: Callable[[float], bool]) -> bool | None:
    seen = False
    for a, b in _CONTIGUOUS:
        va, vb = _lead(ctx, a, "st_mv"), _lead(ctx, b, "st_mv")
        if va is None or vb is None:
            continue
        seen = True
        if op(va) and op(vb):
            return True
    return False if seen else None


def _t_negative(ctx: RecordContext) -> bool | None:
    vals = [_lead(ctx, x, "t_amp_mv") for x in ("I", "II", "V3", "V4", "V5", "V6")]
    vals = [v for v in vals if v is not None]
    return any(v < 0 for v in vals) if vals else None


def _lvh(ctx: RecordContext) -> bool | None:
    v = _f(ctx, "sokolow_lyon_mv")
    return None if v is None else v >= 3.5


def _low_voltage(ctx: RecordContext) -> bool | None:
    limb, prec = _f(ctx, "low_voltage_limb"), _f(ctx, "low_voltage_precordial")
    if limb is None and prec is None:
        return None
    return bool(limb) or bool(prec)


def _p_amp(ctx: RecordContext) -> bool | None:
    vals = [_lead(ctx, x, "p_amp_mv") for x in ("II", "III", "aVF")]
    vals = [v for v in vals if v is not None]
    return any(v > 0.25 for v in vals) if vals else None


CRITERIA: dict[str, Check] = {
    "hr_lt_60": _rate(lambda v: v < 60),
    "hr_60_100": _rate(lambda v: 60 <= v <= 100),
    "hr_gt_100": _rate(lambda v: v > 100),
    "pr_gt_200": _cmp("pr_ms", lambda v: v > 200),
    "pr_lt_120": _cmp("pr_ms", lambda v: v < 120),
    "qrs_ge_120": _cmp("qrs_ms", lambda v: v >= 120),
    "qrs_110_119": _cmp("qrs_ms", lambda v: 110 <= v < 120),
    "qrs_gt_110": _cmp("qrs_ms", lambda v: v > 110),
    "qtc_gt_460": _cmp("qtc_ms", lambda v: v > 460),
    "qtc_lt_350": _cmp("qtc_ms", lambda v: v < 350),
    "axis_lt_-30": _cmp("axis_deg", lambda v: v < -30),
    "axis_lt_-45": _cmp("axis_deg", lambda v: v < -45),
    "axis_gt_90": _cmp("axis_deg", lambda v: v > 90),
    "rr_irregular_no_p": lambda ctx: _irregular(ctx, False),
    "rr_irregular_with_p": lambda ctx: _irregular(ctx, True),
    "p_amp_gt_0.25mv": _p_amp,
    "st_gt_0.1mv": lambda ctx: _st_pair(ctx, lambda v: v > 0.1),
    "st_lt_-0.05mv": lambda ctx: _st_pair(ctx, lambda v: v < -0.05),
    "t_negative": _t_negative,
    "lvh_voltage": _lvh,
    "low_qrs_voltage": _low_voltage,
}


# Criteria about the whole record (rate, intervals, axis, rhythm, voltage sums). A stated diagnosis that
# one of these contradicts is rejected; lead-local criteria (ST, T, P shape) are not decisive, since
# a text may rightly name a finding in a lead the record-level summary does not weigh.
RECORD_LEVEL = frozenset({
    "hr_lt_60", "hr_60_100", "hr_gt_100", "pr_gt_200", "pr_lt_120", "qrs_ge_120", "qrs_110_119",
    "qrs_gt_110", "qtc_gt_460", "qtc_lt_350", "axis_lt_-30", "axis_lt_-45", "axis_gt_90",
    "rr_irregular_no_p", "rr_irregular_with_p", "lvh_voltage", "low_qrs_voltage",
})


def criterion_holds(measure: str | None, ctx: RecordContext) -> bool | None:
    """True/False when the record's measurements decide the criterion; None when they cannot."""
    if not measure or measure not in CRITERIA:
        return None
    return CRITERIA[measure](ctx)


def _check_names() -> None:
    """Fail at import when a criterion reads a measurement the typed features do not have."""
    from schemas.features import RecordFeatures
    for key in ("hr_bpm", "dominant_hr_bpm", "pr_ms", "qrs_ms", "qtc_ms", "axis_deg", "rhythm_regular", "p_waves_present",
                "sokolow_lyon_mv", "low_voltage_limb", "low_voltage_precordial"):
        if key not in RecordFeatures.model_fields:
            raise AttributeError(f"criteria read {key!r}, which RecordFeatures does not define")


_check_names()
