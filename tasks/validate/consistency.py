"""Diagnosis consistency: what the text states, and what contradicts the labels or the measurements."""
from __future__ import annotations

from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
from tasks.validate.diagnoses import find_mentions

# Rhythms that cannot be the record's rhythm at once (stated vs labelled).
_SINUS_FAMILY = {"SR", "SB", "STACH", "SA", "SARRH"}
_EXCLUSIVE = [({"AF", "AFIB", "AFL", "AFLT"}, _SINUS_FAMILY), ({"LAD", "LAXD"}, {"RAD", "RAXD"}),
              ({"RBBB", "CRBBB"}, {"LBBB", "CLBBB"})]


def stated_codes(text: str) -> set[str]:
    """Canonical codes the text asserts (negated mentions excluded)."""
    return {m.label.code for m in find_mentions(text) if not m.negated}


def _measure_ok(rule: str | None, f: dict) -> bool | None:
    """Does a label's machine-checkable rule hold? None when it cannot be checked."""
    if not rule:
        return None
    hr, pr, qrs, axis = f.get("hr_bpm"), f.get("pr_ms"), f.get("qrs_ms"), f.get("axis_deg")
    checks = {
        "hr_lt_60": (hr, lambda: hr < 60), "hr_gt_100": (hr, lambda: hr > 100),
        "pr_gt_200": (pr, lambda: pr > 200), "qrs_ge_120": (qrs, lambda: qrs >= 120),
        "axis_lt_-30": (axis, lambda: axis < -30), "axis_gt_90": (axis, lambda: axis > 90),
        "rr_irregular_no_p": (f.get("rhythm_regular"),
                              lambda: f.get("rhythm_regular") is False and f.get("p_waves_present") is False),
    }
    if rule not in checks or checks[rule][0] is None:
        return None
    return bool(checks[rule][1]())


def _abbr(code: str, vocab: Vocabulary) -> str:
    try:
        return (vocab.get(code).abbrev or code).upper()
    except KeyError:
        return code.upper()


def contradictions(text: str, ctx: RecordContext) -> list[tuple[str, str, str]]:
    """(rule, detail, span) for each stated diagnosis that the labels or measurements contradict."""
    vocab = Vocabulary.load()
    labelled = {lab.code for lab in ctx.labels}
    labelled_abbr = {_abbr(c, vocab) for c in labelled}
    out = []
    for m in find_mentions(text):
        if m.negated or m.label.code in labelled:
            continue
        span = text[m.span[0]:m.span[1]]
        if _measure_ok(getattr(m.label, "measure", None), ctx.features) is False:
            out.append(("diagnosis_contradicts_measurements",
                        f"{m.label.name} is stated but the measurements do not meet its criterion", span))
            continue
        abbr = _abbr(m.label.code, vocab)
        for a, b in _EXCLUSIVE:
            if (abbr in a and labelled_abbr & b) or (abbr in b and labelled_abbr & a):
                out.append(("diagnosis_contradicts_labels", f"{m.label.name} contradicts the labelled diagnosis", span))
                break
    return out
