"""Diagnosis consistency: what the text states, and what contradicts the labels or the measurements."""
from __future__ import annotations

from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
from tasks.validate.criteria import RECORD_LEVEL, criterion_holds
from tasks.validate.diagnoses import find_mentions

# Rhythms that cannot be the record's rhythm at once (stated vs labelled).
_SINUS_FAMILY = {"SR", "SB", "STACH", "SA", "SARRH"}
_EXCLUSIVE = [({"AF", "AFIB", "AFL", "AFLT"}, _SINUS_FAMILY), ({"LAD", "LAXD"}, {"RAD", "RAXD"}),
              ({"RBBB", "CRBBB"}, {"LBBB", "CLBBB"})]


def stated_codes(text: str) -> set[str]:
    """Canonical codes the text asserts (negated mentions excluded)."""
    return {m.label.code for m in find_mentions(text) if not m.negated}


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
        if m.label.measure in RECORD_LEVEL and criterion_holds(m.label.measure, ctx) is False:
            out.append(("diagnosis_contradicts_measurements",
                        f"{m.label.name} is stated but the measurements do not meet its criterion", span))
            continue
        abbr = _abbr(m.label.code, vocab)
        for a, b in _EXCLUSIVE:
            if (abbr in a and labelled_abbr & b) or (abbr in b and labelled_abbr & a):
                out.append(("diagnosis_contradicts_labels", f"{m.label.name} contradicts the labelled diagnosis", span))
                break
    return out
