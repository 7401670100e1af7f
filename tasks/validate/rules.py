"""Grounding validators: small pure rules, each naming the failed rule and the offending span."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.config import ValidationSettings
from schemas.records import LEADS_12
from schemas.teacher import RecordContext
from tasks.validate.claims import NumericClaim, named_leads, numeric_claims

_LEAK_RE = re.compile(
    r"\b(the|a|this|provided|given|attached|accompanying)\s+(report|measurements?|measurement table|"
    r"reference diagnosis|machine (?:read|report|interpretation)|data provided)\b(?:\s+(?:says|states|"
    r"shows|indicates|lists|provided|given))?|\baccording to the (?:provided |given )?(?:report|measurements?|data)\b|"
    r"\bas (?:stated|noted|reported) in the (?:report|measurements?)\b", re.I)


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str
    span: str = ""


@dataclass
class Verdict:
    ok: bool
    violations: list[Violation] = field(default_factory=list)
    lead_coverage: float = 0.0
    n_claims: int = 0
    n_matched: int = 0
    grounding_score: float = 0.0


def check_text(text: str, finish_reason: str | None, s: ValidationSettings) -> list[Violation]:
    """Non-empty, not cut off, within the word bounds, one paragraph."""
    if not text.strip():
        return [Violation("empty", "the answer is empty")]
    out = []
    if finish_reason == "length":
        out.append(Violation("truncated", "the teacher stopped at max_tokens (finish_reason=length)", text[-60:]))
    words = len(text.split())
    if words > s.max_words:
        out.append(Violation("length", f"{words} words; at most {s.max_words} allowed"))
    if words < s.min_words:
        out.append(Violation("length", f"{words} words; at least {s.min_words} required"))
    if s.single_paragraph and re.search(r"\n\s*\n", text.strip()):
        out.append(Violation("paragraph", "more than one paragraph"))
    return out


def check_leakage(text: str) -> list[Violation]:
    m = _LEAK_RE.search(text)
    if m:
        return [Violation("leakage", "the answer refers to the provided report or measurements", m.group(0))]
    return []


def check_leads(text: str, ctx: RecordContext, s: ValidationSettings) -> tuple[list[Violation], float]:
    """Every lead named exists and is usable; returns coverage (share of the 12 leads discussed)."""
    leads = named_leads(text)
    out = []
    for lead in sorted(leads):
        facts = ctx.leads.get(lead)
        if lead not in LEADS_12:
            out.append(Violation("leads", f"lead {lead} is not one of the 12 recorded leads", lead))
        elif facts is not None and not facts.usable:
            out.append(Violation("leads", f"lead {lead} is not usable in this record", lead))
    coverage = len(leads & set(LEADS_12)) / 12
    if coverage < s.min_lead_coverage:
        out.append(Violation("lead_coverage", f"{coverage:.0%} of leads discussed; at least {s.min_lead_coverage:.0%} required"))
    return out, coverage


def _close(claimed: float, measured: float | None, abs_tol: float, rel_tol: float = 0.0) -> bool:
    return measured is not None and abs(claimed - measured) <= max(abs_tol, rel_tol * abs(measured))


def _holds(claim: NumericClaim, measured: float | None) -> bool:
    if measured is None:
        return False
    if claim.comparator == "beyond":  # "beyond -30°": further from zero, on the same side
        return abs(measured) > abs(claim.value) and (measured < 0) == (claim.value < 0)
    return measured < claim.value if claim.comparator == "lt" else measured > claim.value


def _amplitude(claim: NumericClaim, ctx: RecordContext, s: ValidationSettings) -> bool:
    value = claim.value / 10.0 if claim.unit == "mm" else claim.value
    col = "st_mv" if claim.measure == "st" else f"{claim.measure}_mv" if claim.measure else None
    leads = [claim.lead] if claim.lead else [x for x, lf in ctx.leads.items() if lf.usable]
    for lead in leads:
        lf = ctx.leads.get(lead)
        if lf is None or not lf.usable:
            continue
        candidates = [getattr(lf, col)] if col else [lf.r_amp_mv, lf.s_amp_mv, lf.q_amp_mv, lf.t_amp_mv, lf.p_amp_mv]
        for measured in candidates:
            if measured is None:
                continue
            if claim.measure == "st":
                signed = -abs(value) if claim.sign_word == "depression" else abs(value) if claim.sign_word else value
                if _close(signed, measured, s.tol_amplitude_mv / 2, s.tol_amplitude_rel):
                    return True
            elif claim.comparator and _holds(claim, abs(measured)):
                return True
            elif _close(abs(value), abs(measured), s.tol_amplitude_mv, s.tol_amplitude_rel):
                return True
    return False


def claim_matches(claim: NumericClaim, ctx: RecordContext, s: ValidationSettings) -> bool:
    """Does the measurement the claim talks about agree with it (or satisfy its threshold)?"""
    f = ctx.features
    measure = claim.measure
    if claim.unit == "bpm":
        measure = "hr"
    if claim.unit == "deg":
        measure = "axis"
    if claim.unit in ("mV", "mm"):
        return _amplitude(claim, ctx, s)
    value = claim.value * 1000.0 if claim.unit == "s" else claim.value
    if measure == "hr":
        return _holds(claim, f.get("hr_bpm")) if claim.comparator else _close(value, f.get("hr_bpm"), s.tol_hr_bpm)
    if measure == "axis":
        key = "axis_deg"
        return _holds(claim, f.get(key)) if claim.comparator else _close(value, f.get(key), s.tol_axis_deg)
    key = {"pr": "pr_ms", "qrs": "qrs_ms", "qt": "qt_ms", "qtc": "qtc_ms", "rr": "rr_mean_ms"}.get(measure or "")
    if key is None:
        return claim.unit == "s" and abs(claim.value - 10.0) < 0.01  # "a 10 s recording"
    if claim.comparator:
        return _holds(claim, f.get(key))
    if measure == "qtc" and _close(value, f.get("qtc_fridericia_ms"), s.tol_interval_ms, s.tol_interval_rel):
        return True
    if measure == "rr" and any(_close(value, rr, s.tol_interval_ms, s.tol_interval_rel) for rr in ctx.rr_ms):
        return True
    return _close(value, f.get(key), s.tol_interval_ms, s.tol_interval_rel)


def check_numbers(text: str, ctx: RecordContext, s: ValidationSettings) -> tuple[list[Violation], int, int]:
    """Every number with a unit must match the measurement it talks about."""
    out, matched = [], 0
    claims = numeric_claims(text)
    for claim in claims:
        if claim_matches(claim, ctx, s):
            matched += 1
        else:
            what = claim.measure or "unattributed"
            where = f" in {claim.lead}" if claim.lead else ""
            out.append(Violation("numeric_claim", f"{what}{where}: {claim.text} does not match the measurements",
                                 claim.text))
    return out, len(claims), matched


def check_diagnoses(text: str, ctx: RecordContext, s: ValidationSettings) -> list[Violation]:
    """Each labelled diagnosis is stated (negation-aware); none stated contradicts the labels or measurements."""
    from tasks.validate.consistency import contradictions, stated_codes
    stated = stated_codes(text)
    out = []
    if s.require_labels_stated:
        for lab in ctx.labels:
            if lab.code not in stated:
                out.append(Violation("diagnosis_missing", f"labelled diagnosis not stated: {lab.name}", lab.name))
    for rule, detail, span in contradictions(text, ctx):
        out.append(Violation(rule, detail, span))
    return out


def validate(text: str, ctx: RecordContext, s: ValidationSettings, finish_reason: str | None = "stop") -> Verdict:
    """Run every rule; the pair is accepted only when none fails."""
    violations = check_text(text, finish_reason, s)
    if violations and violations[0].rule == "empty":
        return Verdict(False, violations)
    violations += check_leakage(text)
    lead_v, coverage = check_leads(text, ctx, s)
    num_v, n_claims, n_matched = check_numbers(text, ctx, s)
    violations += lead_v + num_v + check_diagnoses(text, ctx, s)
    score = (n_matched / n_claims if n_claims else 1.0) * (1.0 if not lead_v else 0.5)
    return Verdict(not violations, violations, coverage, n_claims, n_matched, round(score, 4))
