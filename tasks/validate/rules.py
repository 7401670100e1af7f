"""Grounding validators: small pure rules, each naming the failed rule and the offending span."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from schemas.config import ValidationSettings
from schemas.records import LEADS_12
from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
import traceback

from tasks.validate.claims import Claim, covered_leads, named_leads, numeric_claims
from tasks.validate.diagnoses import acute_with_territory
from tasks.validate.findings import finding_problems
from tasks.validate.layout import prose_blocks
from tasks.validate.sections import mask_section_labels
from tasks.validate.verify import check_claim

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
    n_claims: int = 0  # numbers that assert something about the record
    n_matched: int = 0  # of those, checked and found true
    grounding_score: float = 0.0
    n_numbers: int = 0  # every written number
    n_nonclaims: int = 0  # normal ranges, criteria, paper settings


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
    if s.single_paragraph and s.paragraphs == "reject" and prose_blocks(text) > 1:
        out.append(Violation("paragraph", "more than one paragraph"))
    return out


def check_leakage(text: str) -> list[Violation]:
    m = _LEAK_RE.search(text)
    if m:
        return [Violation("leakage", "the answer refers to the provided report or measurements", m.group(0))]
    return []


_UNUSABLE_WORDS = re.compile(r"\b(?:unusable|noisy|noise|artifact|artefact|artifactual|uninterpretable|"
                             r"not\s+interpretable|cannot\s+be\s+(?:assessed|evaluated|interpreted)|could\s+not\s+be|"
                             r"not\s+(?:assessable|evaluable|usable|reliable)|unreliable|poor(?:\s+signal)?\s+quality|"
                             r"excluded|disconnected|missing|flat|no\s+(?:usable\s+|reliable\s+)?signal|no\s+usable|cannot\s+be\s+read|unreadable|not\s+readable|"
                             r"lead[- ]off|degraded|obscured)\b", re.I)


_EUROPEAN = {"I": ("DI", "D1"), "II": ("DII", "D2"), "III": ("DIII", "D3")}


def _unusable_named_as_such(text: str, lead: str) -> bool:
    """An unusable lead may be named to say that it is unusable ("V3 is too noisy to assess")."""
    names = "|".join(re.escape(x) for x in (lead, *_EUROPEAN.get(lead, ())))
    for sent in re.split(r"(?<=[.;!?])\s+", text):
        if re.search(rf"(?<![\w])(?:{names})(?![\w])", sent) and _UNUSABLE_WORDS.search(sent):
            return True
    return False


def check_leads(text: str, ctx: RecordContext, s: ValidationSettings) -> tuple[list[Violation], float]:
    """Every lead named exists and is usable; returns coverage (share of the 12 leads discussed)."""
    out = []
    for lead in sorted(named_leads(text)):
        facts = ctx.leads.get(lead)
        if lead not in LEADS_12:
            out.append(Violation("leads", f"lead {lead} is not one of the 12 recorded leads", lead))
        elif facts is not None and not facts.usable and not _unusable_named_as_such(text, lead):
            out.append(Violation("leads", f"lead {lead} is not usable in this record", lead))
    coverage = len(covered_leads(text)) / 12
    if coverage < s.min_lead_coverage:
        out.append(Violation("lead_coverage", f"{coverage:.0%} of leads discussed; at least"
                             f" {s.min_lead_coverage:.0%} required"))
    return out, coverage


def _violation(claim: Claim, status: str, measured: str) -> Violation:
    what = {"lead_sum": "sum", "stated": "threshold on the stated values", "rs_ratio": "R/S ratio"}.get(
        claim.measure or "", claim.measure or "a number")
    terms = [x.split(":") for x in claim.leads if ":" in x]  # a wave-lead sum: "S V1 + R V5"
    where = (" of " + " + ".join(f"{w.upper()} {lead.replace('|', '/')}" for w, lead in terms)) if terms else (
        f" in {', '.join(claim.leads)}" if claim.leads else "")
    beat = f" at beat {claim.beat}" if claim.beat else ""
    if status == "mismatch":
        return Violation("numeric_claim", f"{what}{where}{beat}: '{claim.text}' does not match the measured"
                         f" value ({measured})", claim.text)
    if status == "unmeasured":
        return Violation("unverified_number", f"{what}{where}: '{claim.text}' cannot be checked: {measured}",
                         claim.text)
    return Violation("unverified_number", f"'{claim.text}' is not attributed to any measurement", claim.text)


_CORRECTION = re.compile(r"\b(?:wait|actually|correction|rather|I\s+mean|scratch\s+that|on\s+(?:closer|second)\s+"
                         r"(?:look|inspection|thought)|re-?check\w*|recalculat\w*|re-?measur\w*)\b|\bno,", re.I)


def _retracted(claim: Claim, status: str, later: list[tuple[Claim, str]], text: str) -> bool:
    """'The QRS looked 120 ms at first — wait, it is 88 ms': a wrong value the answer corrects right after,
    with a value of the same measure that checks out, asserts nothing (the correction is checked)."""
    if status != "mismatch" or claim.measure is None:
        return False
    for other, got in later:
        gap = text[claim.span[1]:other.span[0]]
        if other.measure == claim.measure and got == "ok" and len(gap) <= 160 and _CORRECTION.search(gap):
            return True
    return False


def _cites_beat(c: Claim) -> bool:
    """A claim about a numbered beat's place in the rhythm (its time, its RR, that it exists)."""
    return c.measure in ("time", "rr", "beat_ref") and (c.beat is not None or bool(c.beats) or c.measure == "beat_ref")


def _counted_from_zero(c: Claim) -> Claim:
    """The claim with its beats read as numbered from 0 (beat k of the text is the (k+1)-th beat)."""
    return replace(c, beat=None if c.beat is None else c.beat + 1, beats=tuple(b + 1 for b in c.beats),
                   values=tuple(v + 1 for v in c.values) if c.measure == "beat_ref" else c.values)


def beat_base(checked: list, ctx: RecordContext, s: ValidationSettings) -> tuple[list, int]:
    """Beats numbered from 1 (the prompt's table) or from 0 (the raw beat index): the one base that makes every
    beat citation of the answer agree, never a mix; when neither does, the 1-based reading stands (and fails)."""
    citing = [i for i, (c, o) in enumerate(checked) if _cites_beat(c) and o.status != "nonclaim"]
    if not citing or all(checked[i][1].status == "ok" for i in citing):
        return checked, 1
    alt = {i: (c, check_claim(c, ctx, s)) for i in citing for c in [_counted_from_zero(checked[i][0])]}
    if all(o.status == "ok" for _, o in alt.values()):
        return [alt.get(i, pair) for i, pair in enumerate(checked)], 0
    return checked, 1


def check_numbers(text: str, ctx: RecordContext, s: ValidationSettings) -> tuple[list[Violation], int, int, int]:
    """Every number is checked against the measurement it talks about, or is a recognised non-claim."""
    out, matched, claims, nonclaims = [], 0, 0, 0
    checked, _ = beat_base([(c, check_claim(c, ctx, s)) for c in numeric_claims(text)], ctx, s)
    for k, (claim, outcome) in enumerate(checked):
        later = [(c, o.status) for c, o in checked[k + 1:] if c.span[0] >= claim.span[1]]
        if outcome.status == "nonclaim" or _retracted(claim, outcome.status, later, text):
            nonclaims += 1
            continue
        claims += 1
        if outcome.status == "ok":
            matched += 1
        else:
            out.append(_violation(claim, outcome.status, outcome.measured))
    return out, claims, matched, nonclaims


# a stated diagnosis implies these labelled ones are stated too ("sinus tachycardia" states sinus rhythm)
_IMPLIES = {"STACH": {"SR"}, "SB": {"SR"}, "SA": {"SR"}, "TINV": {"TAB"}, "NT": {"TAB"}, "LVH": {"LVHV"},
            "LVHV": {"LVH"}, "NSSTTA": {"STC"}, "STD": {"STC"}, "STE": {"STC"}, "STIAB": {"STC"}, "ISTD": {"STC"},
            "LPR": {"1AVB"}, "1AVB": {"LPR"}, "BRADY": {"SB"}, "NORM": {"SR"}, "PRC": {"PAC"}}


def _ancestors(codes: set[str]) -> set[str]:
    """The more general labels a stated one names too ("acute myocardial infarction" states an infarction)."""
    vocab = Vocabulary.load()
    out: set[str] = set()
    for code in codes:
        cur = vocab.get(code, default=None)
        while cur is not None and cur.parent and cur.parent not in out:
            out.add(cur.parent)
            cur = vocab.get(cur.parent, default=None)
    return out


def check_diagnoses(text: str, ctx: RecordContext, s: ValidationSettings) -> list[Violation]:
    """Each labelled diagnosis is stated (negation-aware); every stated finding is supported and consistent."""
    text = mask_section_labels(text)  # "Ischaemia: no ST deviation": a heading, not a stated ischaemia
    problems, stated = finding_problems(text, ctx)
    implied = stated | {c for code in stated for c in _IMPLIES.get(code, ())} | _ancestors(stated)
    vocab = Vocabulary.load()
    implied |= acute_with_territory(text, stated, {c: getattr(vocab.get(c, default=None), "parent", None)
                                                    for c in stated})  # "acute inferior MI"
    out = []
    if s.require_labels_stated:
        for lab in ctx.labels:
            if lab.code not in implied:
                out.append(Violation("diagnosis_missing", f"labelled diagnosis not stated: {lab.name}", lab.name))
    return out + [Violation(p.rule, p.detail, p.span) for p in problems]


def _checks(text: str, ctx: RecordContext, s: ValidationSettings, finish_reason: str | None) -> Verdict:
    violations = check_text(text, finish_reason, s)
    if violations and violations[0].rule == "empty":
        return Verdict(False, violations)
    violations += check_leakage(text)
    lead_v, coverage = check_leads(text, ctx, s)
    num_v, n_claims, n_matched, n_nonclaims = check_numbers(text, ctx, s)
    violations += lead_v + num_v + check_diagnoses(text, ctx, s)
    score = (n_matched / n_claims if n_claims else 0.0) * (1.0 if not lead_v else 0.5)
    return Verdict(not violations, violations, coverage, n_claims, n_matched, round(score, 4),
                   n_claims + n_nonclaims, n_nonclaims)


def validate(text: str, ctx: RecordContext, s: ValidationSettings, finish_reason: str | None = "stop") -> Verdict:
    """Run every rule; the pair is accepted only when none fails. Never raises: an internal error rejects."""
    try:
        return _checks(text or "", ctx, s, finish_reason)
    except Exception as exc:  # fail closed: one bad answer must not stop the stage
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        return Verdict(False, [Violation("validator_error", f"{type(exc).__name__}: {exc} (at {where})",
                                         (text or "")[:120])])
