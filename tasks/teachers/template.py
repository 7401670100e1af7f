"""The offline `template` teacher: a deterministic, grounded, GEM-style paragraph from measurements and labels."""
from __future__ import annotations

import time

from schemas.config import TeacherConfig
from schemas.teacher import LeadFacts, RecordContext, TeacherRequest, TeacherResponse


def _amp(v: float | None) -> str:
    return f"{abs(v):.2f} mV"


def _usable(ctx: RecordContext, lead: str) -> LeadFacts | None:
    lf = ctx.leads.get(lead)
    return lf if lf is not None and lf.usable else None


def rhythm_sentence(ctx: RecordContext) -> str:
    f = ctx.features
    hr = f.hr_bpm
    rate = f"{hr:.0f} bpm" if hr is not None else "an unmeasurable rate"
    if f.rhythm_regular is False and f.p_waves_present is False:
        return (f"The rhythm is irregularly irregular with a mean ventricular rate of {rate},"
                " and no consistent P waves precede the QRS complexes")
    regular = "regular" if f.rhythm_regular is not False else "irregular"
    p_part = (", with a P wave before each QRS complex in lead II" if f.p_waves_present
              else ", without consistent P waves")
    return f"The rhythm is {regular} at a heart rate of {rate}{p_part}"


def interval_sentence(ctx: RecordContext) -> str | None:
    f = ctx.features
    parts = []
    if f.pr_ms is not None:
        parts.append(f"the PR interval measures {f.pr_ms:.0f} ms")
    if f.qrs_ms is not None:
        parts.append(f"the QRS duration is {f.qrs_ms:.0f} ms")
    if f.qt_ms is not None:
        qt = f"the QT interval is {f.qt_ms:.0f} ms"
        if f.qtc_ms is not None:
            qt += f" with a QTc of {f.qtc_ms:.0f} ms"
        parts.append(qt)
    if not parts:
        return None
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return text[0].upper() + text[1:]


def axis_sentence(ctx: RecordContext) -> str | None:
    axis = ctx.features.axis_deg
    if axis is None:
        return None
    if axis < -30:
        where = "which lies leftward of the normal range"
    elif axis > 90:
        where = "which lies rightward of the normal range"
    else:
        where = "within the normal range"
    return f"The frontal QRS axis is {axis:+.0f}°, {where}"


def lead_walk(ctx: RecordContext) -> list[str]:
    """GEM's checklist order: I; II; III/aVF; aVL; aVR; V1; V2-V4; V5-V6, citing usable leads only."""
    out = []
    for lead, wave in (("I", "r_amp_mv"), ("II", "r_amp_mv"), ("aVL", "r_amp_mv")):
        lf = _usable(ctx, lead)
        if lf is not None and getattr(lf, wave) is not None:
            out.append(f"lead {lead} shows an R wave of {_amp(lf.r_amp_mv)}")
    inferior = [(x, _usable(ctx, x)) for x in ("III", "aVF")]
    inferior = [(x, lf) for x, lf in inferior if lf is not None and lf.r_amp_mv is not None]
    if inferior:
        out.append("the inferior leads show R waves of " + " and ".join(f"{_amp(lf.r_amp_mv)} in {_lead_ref(x)}" for x, lf in inferior))
    avr = _usable(ctx, "aVR")
    if avr is not None and avr.s_amp_mv is not None:
        out.append(f"lead aVR is predominantly negative with an S wave of {_amp(avr.s_amp_mv)}")
    v1 = _usable(ctx, "V1")
    if v1 is not None and v1.s_amp_mv is not None:
        out.append(f"V1 shows an S wave of {_amp(v1.s_amp_mv)}")
    prog = [(x, _usable(ctx, x)) for x in ("V2", "V3", "V4")]
    prog = [(x, lf) for x, lf in prog if lf is not None and lf.r_amp_mv is not None]
    if len(prog) >= 2:
        first, last = prog[0], prog[-1]
        trend = "grows" if (last[1].r_amp_mv or 0) > (first[1].r_amp_mv or 0) else "does not grow"
        out.append(f"across the anterior leads the R wave {trend}, measuring {_amp(first[1].r_amp_mv)} in {first[0]}"
                   f" and {_amp(last[1].r_amp_mv)} in {last[0]}")
    lat = [(x, _usable(ctx, x)) for x in ("V5", "V6")]
    lat = [(x, lf) for x, lf in lat if lf is not None and lf.r_amp_mv is not None]
    if lat:
        out.append("the lateral leads show R waves of " + " and ".join(f"{_amp(lf.r_amp_mv)} in {x}" for x, lf in lat))
    return out


def st_sentence(ctx: RecordContext, threshold: float = 0.1) -> str:
    usable = [lf for lf in ctx.leads.values() if lf.usable and lf.st_mv is not None]
    if not usable:
        return "The ST segments cannot be assessed reliably"
    worst = max(usable, key=lambda lf: abs(lf.st_mv))
    if abs(worst.st_mv) < threshold:
        return "ST segments stay close to the baseline in every assessable lead"
    where = "above" if worst.st_mv > 0 else "below"
    return (f"The ST segment deviates most in {_lead_ref(worst.lead)}, where it sits {abs(worst.st_mv):.2f} mV"
            f" {where} the baseline")


def _lead_ref(lead: str) -> str:
    return f"lead {lead}" if lead in ("I", "II", "III") else lead


def conclusion(ctx: RecordContext) -> str:
    names = [lab.name for lab in ctx.labels]
    if names:
        listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
        return f"Taken together, these findings support the interpretation of {listed}"
    return "Taken together, the measured rate, intervals and axis describe the tracing without a labelled diagnosis to confirm"


def compose(ctx: RecordContext) -> str:
    """One paragraph: rhythm, intervals, axis, the lead walk, ST segments, then the diagnosis."""
    sentences = [rhythm_sentence(ctx), interval_sentence(ctx), axis_sentence(ctx)]
    walk = lead_walk(ctx)
    if walk:
        first = walk[0][0].upper() + walk[0][1:]
        sentences.append("; ".join([first, *walk[1:]]))
    sentences += [st_sentence(ctx), conclusion(ctx)]
    return " ".join(s.rstrip(".") + "." for s in sentences if s)


class TemplateTeacher:
    """Offline and deterministic; the embedded default and the baseline for every other teacher."""

    def __init__(self, name: str, config: TeacherConfig):
        self.name = name
        self.config = config

    def complete(self, request: TeacherRequest, context: RecordContext) -> TeacherResponse:
        start = time.perf_counter()
        text = compose(context)
        return TeacherResponse(
            request_id=request.request_id, status="ok", text=text, finish_reason="stop",
            input_tokens=sum(len(m["content"]) for m in request.messages) // 4,
            output_tokens=len(text) // 4, cost_usd=0.0, latency_s=time.perf_counter() - start,
        )
