"""Qualitative statements about a measurement ("the QT is prolonged", "a wide QRS", "the rate is fast"): each
must agree with the measured value (or a labelled diagnosis that implies it), hedged or not; a negated one
("the PR is not prolonged") says nothing to check here."""
from __future__ import annotations

import re

from schemas.teacher import RecordContext
from tasks.validate.diagnoses import span_negated

_J = r"[\s\-\u2013]*"
_MEASURE = {
    "qt": rf"\b(?:QTc[BF]?|QT{_J}c|corrected{_J}QT|QT)(?:{_J}(?:intervals?|duration))?",
    "pr": rf"\b(?:PR|PQ|P{_J}R)(?:{_J}(?:intervals?|duration))?",
    "qrs": rf"\bQRS(?:{_J}(?:complex(?:es)?|duration|width|intervals?))?",
    "rate": r"\b(?:(?:heart|ventricular|sinus)\s+)?rate",
}
_QUALITY = {
    "long": r"prolonged|long|lengthened|lengthening|prolongation",
    "short": r"short|shortened|shortening",
    "wide": r"wide|widened|broad|broadened|prolonged|long|widening",
    "narrow": r"narrow",
    "fast": r"fast|rapid|elevated|high|increased|accelerated",
    "slow": r"slow|low|reduced|decreased|depressed",
}
_FOR = {"qt": ("long", "short"), "pr": ("long", "short"), "qrs": ("wide", "narrow"), "rate": ("fast", "slow")}
_MILD = r"(?:mildly|slightly|minimally|marginally|borderline|somewhat|a\s+little|moderately|markedly|very|quite|" \
        r"significantly|clearly|possibly|probably|likely|perhaps)"
_COPULA = r"(?:is|are|was|appears|appear|seems|seem|looks|look|remains|remain|being|becomes|appearing)"
_NEG = r"(?:not|n't|never|no\s+longer|neither)"


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Per measure: the quality written after it ('the QT is prolonged') and before it ('a wide QRS')."""
    out = []
    for measure, m_rx in _MEASURE.items():
        q_rx = "|".join(_QUALITY[quality] for quality in _FOR[measure])
        after = rf"(?P<m>{m_rx})\s+(?:{_COPULA}\s+)?(?P<neg>{_NEG}\s+)?(?:(?:{_MILD})\s+)?(?P<q>{q_rx})\b" \
                rf"(?![\s\-]+(?:normal|axis|voltage|amplitude|in\s+amplitude|complex|sided))"
        before = rf"\b(?:{_MILD}\s+)?(?P<q>{q_rx})(?:\s+(?:but|yet)\s+\w+)?\s+(?P<m>{m_rx})\b" \
                 rf"(?![\s\-\u2013]*(?:T\b|axis|angle|voltage|amplitude|segment|variab))"  # "a wide QRS-T angle"
        for rx in (after, before):
            out.append((measure, re.compile(rx, re.I)))
    return out


def _quality_of(measure: str, word: str) -> str:
    first = _FOR[measure][0]
    return first if re.fullmatch(_QUALITY[first], word, re.I) else _FOR[measure][1]


_PATTERNS = _patterns()
_ANY_QUALITY = re.compile(r"\b(?:" + "|".join(_QUALITY.values()) + r")\b", re.I)
_LABELLED = {
    ("qt", "long"): {"LQT", "LQRSV"}, ("qt", "short"): {"SQT"},
    ("pr", "long"): {"1AVB", "LPR", "2AVB", "MOBITZ1"}, ("pr", "short"): {"SPRI", "WPW", "VPEX", "PREEX"},
    ("qrs", "wide"): {"RBBB", "LBBB", "CRBBB", "CLBBB", "BBB", "IVCD", "WPW", "VPACE", "PACE", "NSIVCB", "IRBBB",
                      "ILBBB", "LAFB", "DIB", "PVC", "VT"},
    ("qrs", "narrow"): set(),
    ("rate", "fast"): {"STACH", "SVT", "AT", "AFL", "VT", "PSVT", "TACHY"},
    ("rate", "slow"): {"SB", "BRADY", "3AVB"},
}


def _measured(measure: str, quality: str, ctx: RecordContext, mild: bool) -> bool | None:
    """Does the measurement show this quality (None: not measured)? Mild wording lowers the bar a little."""
    f = ctx.features
    if measure == "qt":
        qtc = [v for v in (f.qtc_ms, f.qtc_fridericia_ms) if v is not None]
        if not qtc:
            return None
        if quality == "long":  # the uncorrected QT may be called long too ("QT 480 ms is long, QTc normal")
            return max(qtc + ([f.qt_ms] if f.qt_ms is not None else [])) >= (430 if mild else 440)
        return min(qtc) <= (370 if mild else 360)
    if measure == "pr":
        if f.pr_ms is None:
            return None
        return f.pr_ms >= (190 if mild else 196) if quality == "long" else f.pr_ms <= (125 if mild else 121)
    if measure == "qrs":
        if f.qrs_ms is None:
            return None
        return f.qrs_ms >= (105 if mild else 110) if quality == "wide" else f.qrs_ms < 120
    rate = f.dominant_hr_bpm if f.dominant_hr_bpm is not None else f.hr_bpm
    if rate is None:
        return None
    return rate > (92 if mild else 97) if quality == "fast" else rate < (65 if mild else 62)


def quality_problems(text: str, ctx: RecordContext) -> list[tuple[str, str, str]]:
    """(rule, detail, span) for every affirmed quality the measurements contradict (or cannot show)."""
    labelled = {lab.code for lab in ctx.labels}
    out, seen = [], set()
    windows = [_window(text, h.start(), h.end()) for h in _ANY_QUALITY.finditer(text)]
    for measure, rx in _PATTERNS:  # searched only around a quality word: most answers have few
        for m in (m for lo, hi in windows for m in rx.finditer(text, lo, hi)):
            if (m.groupdict().get("neg") or span_negated(text, m.start(), m.end())
                    or m.span() in seen or _is_criterion(text, m.end())):
                continue
            seen.add(m.span())
            quality = _quality_of(measure, m.group("q"))
            if labelled & _LABELLED[(measure, quality)]:
                continue
            mild = bool(re.search(_MILD, m.group(0), re.I))
            held = _measured(measure, quality, ctx, mild)
            if held is not True:
                rule = "diagnosis_contradicts_measurements" if held is False else "unsupported_finding"
                out.append((rule, f"'{m.group(0)}' is stated but the measured {measure.upper()} does not show it",
                            m.group(0)))
    return out


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    """Some 48 characters either side of a quality word, widened to whole words."""
    lo, hi = max(0, start - 48), min(len(text), end + 48)
    lo = text.rfind(" ", 0, lo) + 1 if lo else 0
    nxt = text.find(" ", hi)
    return lo, len(text) if nxt < 0 else nxt


_CRITERION = re.compile(r"\s*(?:would|if|when|requires?|criteri|threshold|defin|is\s+defined|means)", re.I)


def _is_criterion(text: str, end: int) -> bool:
    """'a long QT would need a QTc above 460 ms': a definition, not a statement about this record."""
    return bool(_CRITERION.match(text, end))
