"""Check each claim against the record's typed measurements: values, ranges and thresholds, per lead and beat."""
from __future__ import annotations

from dataclasses import dataclass, replace

from schemas.config import ValidationSettings
from schemas.teacher import RecordContext
from tasks.validate.claim import Claim

_WAVE_FIELD = {"p": "p_amp_mv", "q": "q_amp_mv", "r": "r_amp_mv", "s": "s_amp_mv", "t": "t_amp_mv", "st": "st_mv"}
_SCALAR = {"pr": "pr_ms", "qrs": "qrs_ms", "qt": "qt_ms"}
_SLACK = {"bpm": 2.0, "ms": 5.0, "deg": 5.0, "mV": 0.02, "years": 1.0, "pct": 0.5}


@dataclass(frozen=True)
class Outcome:
    status: str  # ok, mismatch, unmeasured, unattributed, nonclaim
    measured: str = ""  # what the record shows, for the feedback


def _to_base(c: Claim, v: float) -> tuple[float, str]:
    """A value in the measurement's base unit (ms, mV, bpm, deg)."""
    u = c.unit
    amplitude = (c.measure or "").startswith("amp_") or c.measure in ("st", "sokolow", "cornell")
    if u == "s":
        return v * 1000.0, "ms"
    if u == "mm":
        return v / 10.0, "mV"
    if u == "uV":
        return v / 1000.0, "mV"
    if u in ("smallbox", "largebox"):
        step = (0.1 if u == "smallbox" else 0.5) if amplitude else (40.0 if u == "smallbox" else 200.0)
        return v * step, "mV" if amplitude else "ms"
    return v, u or ""


def _tol(unit: str, measured: float, s: ValidationSettings, approx: bool) -> float:
    k = 1.5 if approx else 1.0
    if unit == "bpm":
        return k * s.tol_hr_bpm
    if unit == "deg":
        return k * s.tol_axis_deg
    if unit == "mV":
        return k * max(s.tol_amplitude_mv, s.tol_amplitude_rel * abs(measured))
    if unit == "years":
        return 1.5
    if unit == "pct":
        return k * max(1.0, 0.3 * abs(measured))
    if unit == "ms_sd":  # a spread (SD of RR) is small: the interval tolerance would accept anything
        return k * max(3.0, 0.3 * abs(measured))
    # "about" widens the floor, not the relative part, and the relative part is capped: a QTc written as
    # "~552 ms" against 492 ms is a wrong number, not an approximation (sixth author's set)
    return max(k * s.tol_interval_ms, min(s.tol_interval_rel * abs(measured), s.tol_interval_max_ms))


def _holds(comp: str, m: float, v: float, slack: float) -> bool:
    if comp == "lt":
        return m < v + slack
    if comp == "le":
        return m <= v + slack
    if comp == "gt":
        return m > v - slack
    if comp == "ge":
        return m >= v - slack
    if comp == "within":
        return abs(m) <= abs(v) + slack
    return abs(m) > abs(v) - slack and (m < 0) == (v < 0)  # beyond: further out, same side


def _usable(ctx: RecordContext, leads: tuple[str, ...]) -> list[str]:
    pool = leads or tuple(x for x, lf in ctx.leads.items() if lf.usable)
    return [x for x in pool if x in ctx.leads and ctx.leads[x].usable]


def _beat_values(ctx: RecordContext, field: str, leads: list[str] | None, beat: int | None) -> list[float]:
    out = []
    for b in ctx.beats:
        if (leads is None or b.lead in leads) and (beat is None or b.beat == beat - 1):
            v = getattr(b, field)
            if v is not None:
                out.append(v)
    return out


def _amp_values(ctx: RecordContext, wave: str, lead: str, beat: int | None) -> list[float]:
    """Candidate measured amplitudes of a wave in one lead (QRS amplitude: R, |S|, peak-to-peak, net)."""
    lf = ctx.leads[lead]
    if wave == "qrs":
        r, s_ = lf.r_amp_mv or 0.0, abs(lf.s_amp_mv or 0.0)
        q = abs(lf.q_amp_mv or 0.0)
        vals = [r, s_, r + s_, r + q, abs(lf.qrs_net_mv or 0.0)]
        return [v for v in vals if v]
    field = _WAVE_FIELD[wave]
    if beat is not None:
        got = _beat_values(ctx, field, [lead], beat)
        if got:
            return got
    v = getattr(lf, field)
    return [] if v is None else [v]


def _magnitude(c: Claim, wave: str, m: float) -> float:
    """What a threshold on this wave compares: |amplitude|, or the ST level in the direction its words give."""
    if wave == "st" and c.sign is not None and c.comparator != "within":
        return c.sign * m
    return abs(m)


def _amp_threshold(c: Claim, wave: str, per_lead: dict[str, list[float]], value: float) -> bool:
    pool = [_magnitude(c, wave, v[0]) for v in per_lead.values()]
    results = [_holds(c.comparator or "", m, abs(value), _SLACK["mV"]) for m in pool]
    need_all = c.comparator in ("lt", "le", "within") or bool(c.leads)
    return all(results) if need_all else any(results)


def _amp_close(c: Claim, wave: str, v: float, cands: list[float], s: ValidationSettings) -> bool:
    if wave == "st":
        target = c.sign * abs(v) if c.sign is not None else v
        return any(abs(target - m) <= _tol("mV", m, s, c.approx) / 2 for m in cands)
    return any(abs(abs(v) - abs(m)) <= _tol("mV", m, s, c.approx) for m in cands)


def check_amplitude(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """An amplitude or ST level, in the lead(s) it names, else in the same wave of some usable lead."""
    wave = "st" if c.measure == "st" else (c.measure or "")[4:]
    if wave not in _WAVE_FIELD and wave != "qrs":
        return Outcome("unmeasured", f"{wave} amplitude is not measured")
    leads = _usable(ctx, c.leads)
    if c.leads and not leads:
        return Outcome("unmeasured", f"no usable lead among {', '.join(c.leads)}")
    per_lead = {x: _amp_values(ctx, wave, x, c.beat) for x in leads}
    per_lead = {x: v for x, v in per_lead.items() if v}
    if not per_lead:
        return Outcome("unmeasured", f"no {wave.upper()} amplitude measured")
    values = [_to_base(c, v)[0] for v in c.values]
    shown = "; ".join(f"{x} {v[0]:+.2f}" for x, v in list(per_lead.items())[:6]) + " mV"
    if c.comparator:
        return Outcome("ok" if _amp_threshold(c, wave, per_lead, values[0]) else "mismatch", shown)
    cands = [m for v in per_lead.values() for m in v]
    if c.extreme and wave in _WAVE_FIELD:  # "reaching 0.22 mV", "deepest at": the beat-level extreme counts
        cands += _beat_values(ctx, _WAVE_FIELD[wave], list(per_lead), None)
    if c.shape == "range" and wave in _WAVE_FIELD:
        cands += _beat_values(ctx, _WAVE_FIELD[wave], list(per_lead), None)
        return Outcome("ok" if all(_amp_close(c, wave, v, cands, s) for v in values) else "mismatch", shown)
    if c.group and len(per_lead) > 1 and wave != "st":
        mags = [abs(m) for m in cands]
        v, tol = abs(values[0]), _tol("mV", abs(values[0]), s, c.approx)
        return Outcome("ok" if min(mags) - tol <= v <= max(mags) + tol else "mismatch", shown)
    return Outcome("ok" if _amp_close(c, wave, values[0], cands, s) else "mismatch", shown)


def _arc(values: list[float]) -> list[float]:
    """An axis range ending at 180°: the end on the other end's side ("−90° to 180°" is the quadrant to −180°)."""
    if len(values) == 2 and 180.0 in map(abs, values) and min(values) < 0 < max(values):
        return [v if abs(v) != 180.0 else -180.0 for v in values]
    return values


def _circular(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def _scalar_pool(c: Claim, ctx: RecordContext) -> tuple[list[float], list[float], str]:
    """(record-level values, per-beat values, unit) of a scalar measure; empty when not measured."""
    f = ctx.features
    m = c.measure
    if m == "rate":
        beat_rr = [b.rr_ms for b in ctx.beats if b.rr_ms] or list(ctx.rr_ms)
        return [v for v in [f.hr_bpm] if v is not None], [60000.0 / r for r in beat_rr if r > 0], "bpm"
    if m == "atrial_rate":
        sinus_like = f.p_waves_present is True
        return ([f.hr_bpm] if sinus_like and f.hr_bpm is not None else []), [], "bpm"
    if m in _SCALAR:
        rec = [getattr(f, _SCALAR[m])]
        rec += [getattr(ctx.leads[x], _SCALAR[m]) for x in c.leads if x in ctx.leads and ctx.leads[x].usable]
        return [v for v in rec if v is not None], _beat_values(ctx, _SCALAR[m], list(c.leads) or None, c.beat), "ms"
    if m == "qtc":
        named = {"bazett": (f.qtc_ms,), "fridericia": (f.qtc_fridericia_ms,)}.get(c.formula or "")
        return [v for v in (named or (f.qtc_ms, f.qtc_fridericia_ms)) if v is not None], [], "ms"
    if m == "rr" and c.unit == "pct":
        return ([] if f.rr_cv is None else [100.0 * f.rr_cv]), [], "pct"
    if m == "sd_rr":
        return ([] if f.rr_std_ms is None else [f.rr_std_ms]), [], "ms_sd"
    if m == "rr":
        after = 3 if "," in c.text or " and " in c.text else 0  # "beat 9 (RR 406 ms), then 522 and 710 ms"
        named = {k for b in (c.beats or ((c.beat,) if c.beat else ())) for k in range(b - 1, b + 1 + after)}
        beats = [b.rr_ms for b in ctx.beats if b.rr_ms is not None and (c.beat is None or b.beat in named)]
        beats = beats or ([] if c.beat else list(ctx.rr_ms))
        return ([f.rr_mean_ms] if f.rr_mean_ms is not None and c.beat is None else []), beats, "ms"
    if m in ("axis_qrs", "axis_p", "axis_t"):
        v = {"axis_qrs": f.axis_deg, "axis_p": f.p_axis_deg, "axis_t": f.t_axis_deg}[m]
        return ([] if v is None else [v]), [], "deg"
    if m == "angle":
        ok = f.axis_deg is not None and f.t_axis_deg is not None
        return ([_circular(f.axis_deg, f.t_axis_deg)] if ok else []), [], "deg"
    if m in ("sokolow", "cornell"):
        v = f.sokolow_lyon_mv if m == "sokolow" else f.cornell_mv
        return ([] if v is None else [v]), [], "mV"
    if m == "age":
        return ([] if ctx.age is None else [ctx.age]), [], "years"
    return [], [], ""


def _close(unit: str, v: float, m: float, s: ValidationSettings, approx: bool) -> bool:
    d = _circular(v, m) if unit == "deg" else abs(v - m)
    return d <= _tol(unit, m, s, approx)


def check_scalar(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """Rate, intervals, QTc (Bazett or Fridericia), RR, axes, voltage indices and age.

    A range of RR intervals (or rates) is checked end by end against the beats; a range of a record-level
    interval must contain the measurement.
    """
    rec, beats, unit = _scalar_pool(c, ctx)
    if c.beat is not None and beats and c.measure != "rate":
        rec = []  # a value cited at a named beat is checked at that beat
    pool = rec + beats
    if not pool:
        return Outcome("unmeasured", f"{c.measure} is not measured in this record")
    values = [_to_base(c, v)[0] for v in c.values]
    shown = ", ".join(f"{v:.0f}" if unit != "mV" else f"{v:.2f}" for v in (rec or beats)[:4]) + f" {unit}"
    if c.comparator and c.shape == "range":  # "within -30° to +90°", "outside 120-200 ms"
        lo, hi, slack = min(values), max(values), _SLACK.get(unit, 0.0)
        inside = all(lo - slack <= m <= hi + slack for m in (rec or beats))
        return Outcome("ok" if inside == (c.comparator != "beyond") else "mismatch", shown)
    if c.comparator:
        ok = all(_holds(c.comparator, m, values[0], _SLACK.get(unit, 0.0)) for m in (rec or beats))
        return Outcome("ok" if ok else "mismatch", shown)
    if c.shape == "range":
        ends = _arc(values) if unit == "deg" else values
        lo, hi = min(ends), max(ends)
        inside = bool(rec) and c.measure not in ("rr", "rate") and all(
            lo - _tol(unit, m, s, True) <= m <= hi + _tol(unit, m, s, True) for m in rec[:1])
        tight = lambda v, m: abs(v - m) <= max(20.0 if unit == "ms" else 3.0, 0.04 * abs(m))  # noqa: E731
        ends = bool(beats) and all(any(tight(v, m) for m in beats) for v in (lo, hi))
        return Outcome("ok" if inside or ends else "mismatch", shown)
    if c.measure == "rr" or c.beat is not None:
        return Outcome("ok" if any(_close(unit, values[0], m, s, c.approx) for m in pool) else "mismatch", shown)
    return Outcome("ok" if any(_close(unit, values[0], m, s, c.approx) for m in rec) else "mismatch", shown)


def _beat_count(ctx: RecordContext) -> int:
    if ctx.beats:
        return max(b.beat for b in ctx.beats) + 1
    return ctx.features.n_beats or (len(ctx.rr_ms) + 1 if ctx.rr_ms else 0)


def check_time(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """A position in time: some beat (or the named beat) has its R peak there; or the recording's length."""
    if c.shape == "range" and len(c.values) == 2 and c.measure == "time":  # "from 1.85 s to 4.42 s": both ends
        ends = [check_time(replace(c, values=(v,), shape="single"), ctx, s) for v in c.values]
        return next((o for o in ends if o.status != "ok"), ends[0])
    v = _to_base(c, c.values[0])[0] / 1000.0
    if c.measure == "duration":
        if ctx.duration_s is None:
            return Outcome("unmeasured", "the recording's length is not known")
        ok = abs(v - ctx.duration_s) <= 0.5 or (c.comparator in ("le", "lt", "within") and ctx.duration_s <= v + 0.5)
        return Outcome("ok" if ok else "mismatch", f"{ctx.duration_s:.1f} s")
    listed = "," in c.text or " and " in c.text
    # a list of times goes with the beats its sentence names; one time with its own beat, else with any beat
    named = {b - 1 for b in (c.beats if listed and c.beats else ((c.beat,) if c.beat else ()))}
    times = sorted({round(b.r_peak_s, 3) for b in ctx.beats if b.r_peak_s is not None
                    and (not named or b.beat in named)})
    if not times:
        return Outcome("unmeasured", "no beat times in this record")
    if ctx.duration_s and abs(v - ctx.duration_s) <= 0.5 and c.beat is None:
        return Outcome("ok", f"{ctx.duration_s:.1f} s")
    tol = 0.2 if c.approx or c.beat is not None else 0.15
    ok = any(abs(v - t) <= tol for t in times) if not c.comparator else True
    if not ok and named and listed:  # a list of times beside a list of beats: any beat's time, tighter
        ok = any(abs(v - b.r_peak_s) <= 0.1 for b in ctx.beats if b.r_peak_s is not None)
    return Outcome("ok" if ok else "mismatch", ", ".join(f"{t:.2f}" for t in times[:8]) + " s")


def check_sum(c: Claim) -> Outcome:
    """A total the answer computed from values it states: the arithmetic must hold (a threshold on it too)."""
    total = sum(_to_base(c, v)[0] for v in c.operands)
    value, unit = _to_base(c, c.values[0])
    slack = max(0.03, 0.02 * abs(total)) if unit == "mV" else max(5.0, 0.02 * abs(total))
    ok = _holds(c.comparator, total, value, 0.0) if c.comparator else abs(value - total) <= slack
    return Outcome("ok" if ok else "mismatch", f"the sum of the stated values is {total:g} {unit}")


def check_lead_sum(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """'SV1 + RV5 = 1.3 mV': the total of those waves' measured amplitudes in those leads (each its size)."""
    total = 0.0
    for term in c.leads:
        wave, either = term.split(":")
        sizes = []
        for lead in either.split("|"):  # "RV5/V6": the larger of the two
            lf = ctx.leads.get(lead)
            v = getattr(lf, _WAVE_FIELD[wave]) if lf is not None and lf.usable else None
            if v is None:
                return Outcome("unmeasured", f"{wave.upper()} in {lead} is not measured")
            sizes.append(abs(v))
        total += max(sizes)
    value = _to_base(replace(c, measure="amp_r"), c.values[0])[0]
    if c.comparator:
        return Outcome("ok" if _holds(c.comparator, total, value, _SLACK["mV"]) else "mismatch", f"{total:.2f} mV")
    return Outcome("ok" if abs(value - total) <= _tol("mV", total, s, c.approx) else "mismatch", f"{total:.2f} mV")


def check_rs_ratio(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """'R/S ratio 0.67 in V1', 'R/S ratio above 1 in V5': R over |S| in each lead named (else some usable lead)."""
    ratios = {}
    for x in _usable(ctx, c.leads):
        r, s_ = ctx.leads[x].r_amp_mv, abs(ctx.leads[x].s_amp_mv or 0.0)
        if r is not None:
            ratios[x] = r / s_ if s_ > 0 else float("inf")
    if not ratios:
        return Outcome("unmeasured", "no R/S ratio can be formed in the leads named")
    shown = "; ".join(f"{x} {v:.2f}" for x, v in list(ratios.items())[:6])
    v = c.values[0]
    if c.comparator:
        ok = all(_holds(c.comparator, m, v, 0.05) for m in ratios.values()) if c.leads else any(
            _holds(c.comparator, m, v, 0.05) for m in ratios.values())
        return Outcome("ok" if ok else "mismatch", shown)
    ok = any(abs(v - m) <= max(0.15, 0.2 * m) for m in ratios.values() if m != float("inf"))
    return Outcome("ok" if ok else "mismatch", shown)


def check_stated(c: Claim) -> Outcome:
    """A threshold said of values the answer stated ('Both exceed 450 ms'): it must hold for each of them."""
    value = c.values[0]
    ok = all(_holds(c.comparator or "", v, value, 0.0) for v in c.operands)
    return Outcome("ok" if ok else "mismatch", "the stated values are " + ", ".join(f"{v:g}" for v in c.operands))


def check_cornell_product(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """'Cornell product 1425 mm·ms' (or mV·ms): the Cornell voltage times the QRS duration, in the unit written
    (a bare number in either); a value under 10 is the Cornell voltage itself, named loosely ('Cornell product 1.9')."""
    f = ctx.features
    if f.cornell_mv is None or f.qrs_ms is None:
        return Outcome("unmeasured", "the Cornell product needs the Cornell voltage and the QRS duration")
    v, product = abs(c.values[0]), f.cornell_mv * f.qrs_ms  # mV·ms
    if v < 10 and not c.comparator:
        return check_scalar(replace(c, measure="cornell", unit=c.unit or "mV"), ctx, s)
    pool = {"mm": [10 * product], "mV": [product]}.get(c.unit or "", [10 * product, product])
    shown = f"{10 * product:.0f} mm·ms ({product:.0f} mV·ms)"
    if c.comparator:
        return Outcome("ok" if any(_holds(c.comparator, m, v, 0.0) for m in pool) else "mismatch", shown)
    return Outcome("ok" if any(abs(v - m) <= s.tol_amplitude_rel * m for m in pool) else "mismatch", shown)


def check_claim(c: Claim, ctx: RecordContext, s: ValidationSettings) -> Outcome:
    """The outcome of one claim: checked (ok/mismatch), not measurable, unattributed, or a non-claim."""
    if c.nonclaim:
        return Outcome("nonclaim")
    m = c.measure
    if m is None:
        return Outcome("unattributed")
    if m == "beat_ref":
        n = _beat_count(ctx)
        return Outcome("ok" if 1 <= c.values[0] <= n else "mismatch", f"{n} beats")
    if m == "count_beats":
        n = _beat_count(ctx)
        return Outcome("ok" if abs(c.values[0] - n) <= 1 or c.comparator else "mismatch", f"{n} beats")
    if m == "count_leads":
        return Outcome("nonclaim" if c.values[0] <= 12 else "mismatch", "12 leads")
    if m == "sum":
        return check_sum(c)
    if m == "stated":
        return check_stated(c)
    if m == "lead_sum":
        return check_lead_sum(c, ctx, s)
    if m == "rs_ratio":
        return check_rs_ratio(c, ctx, s)
    if m == "cornell_product":
        return check_cornell_product(c, ctx, s)
    if m == "qtc_other":
        return Outcome("unmeasured", "only Bazett and Fridericia QTc are measured; another formula cannot be checked")
    if m in ("time", "duration"):
        out = check_time(c, ctx, s)
    elif m.startswith("amp_") or m == "st":
        out = check_amplitude(c, ctx, s)
    else:
        out = check_scalar(c, ctx, s)
    if out.status == "mismatch" and c.definitional and (c.comparator or c.shape == "range"):
        return Outcome("nonclaim", out.measured)  # a criterion stated in a definition, not about this record
    return out
