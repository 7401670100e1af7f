"""Findings an answer states: each must be labelled or met by its criterion on the measurements, and no two
statements (or a statement and a label) may exclude each other (rhythm, rate, axis, AV block, bundle side)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.teacher import RecordContext
from schemas.vocab import Vocabulary
from tasks.validate.criteria import criterion_holds
from tasks.validate.diagnoses import find_mentions, span_negated
from tasks.validate.leads import sentence_refs
from tasks.validate.qualities import quality_problems
from tasks.validate.territory import TERRITORY_LEADS, territory_changes, wall_injury_problems
from tasks.validate.text import sentences_of

_J = r"[\s\-\u2013]*"
_LEXICON = [
    ("st_elev", rf"\bST{_J}(?:segments?{_J})?elevations?\b|\belevated{_J}ST\b|\bST{_J}segments?\s+(?:is|are)\s+"
                rf"(?:\w+\s+)?elevated\b|\bJ{_J}point{_J}elevation\b|\bSTEMI\b"),
    ("st_dep", rf"\bST{_J}(?:segments?{_J})?depressions?\b|\bdepressed{_J}ST\b|\bST{_J}segments?\s+(?:is|are)\s+"
               rf"(?:\w+\s+)?depressed\b"),
    ("t_inv", rf"\bT{_J}waves?{_J}inversions?\b|\binverted{_J}T(?:{_J}waves?)?\b|\bT{_J}waves?\s+(?:is|are)\s+"
              rf"(?:\w+\s+)?(?:inverted|negative)\b|\bnegative{_J}T{_J}waves?\b|\bT{_J}inversions?\b|"
              rf"\bT{_J}waves?\s+(?:are|is)\s+[^.;\n]{{0,50}}?\binverted\b|"
              rf"\bT{_J}waves?{_J}abnormalit(?:y|ies)\s+with\s+(?:[\w\-]+\s+){{0,2}}inversions?\b"),
    ("q_wave", rf"\b(?:pathologic(?:al)?|significant|deep|prominent|abnormal|broad|wide|small|septal|tiny|"
               rf"physiologic(?:al)?|narrow)?\s*\b[qQ]{_J}waves?\b|\bQS{_J}(?:complex(?:es)?|patterns?|waves?)\b"),
]
_LEX_RE = [(k, re.compile(p, re.I if k != "q_wave" else 0)) for k, p in _LEXICON]
_LEX_CODES = {"STE", "STD", "ISTD", "TINV", "QAB"}  # judged by the lexicon above, with their leads
_MILD = re.compile(r"\b(?:minimal|slight|subtle|mild|minor|borderline|trace|small|up\s+to|less\s+than|"
                   r"non-?specific|minute|faint|marginal)\b", re.I)
_SMALL_Q = re.compile(r"\b(?:small|septal|tiny|physiologic(?:al)?|narrow)\b", re.I)
_ST_LABELS = {"STE", "ACUTEMI", "ERE", "BRU", "ANEUR", "STD", "ISTD", "STC", "NSSTTA", "STIAB", "LVS", "DIG"}
_T_LABELS = {"TINV", "TAB", "NT", "NDT", "NSSTTA", "STC", "LVS", "LOWT"}
# a stated general term is supported by a labelled specific one ("sinus rhythm" by sinus tachycardia)
_SUPPORTED_BY = {
    "SR": {"SB", "STACH", "SA"}, "BRADY": {"SB"}, "LVH": {"LVHV"}, "LVHV": {"LVH"}, "HVOLT": {"LVH", "LVHV"},
    "AF": {"CAF", "PAF", "RAF", "AFAFL"}, "AFL": {"AFAFL"}, "PRC": {"PAC", "PVC", "JPC", "BPAC"},
    "PAC": {"BPAC", "AB", "SVB"}, "IVCD": {"DIB"}, "DIB": {"IVCD"}, "1AVB": {"LPR"}, "LPR": {"1AVB"},
    "AH": {"LAE", "RAE"}, "TAB": {"TINV", "NT", "NDT", "LOWT", "HTV"}, "NT": {"TAB", "NDT"}, "NDT": {"TAB", "NT"},
    "STC": {"NSSTTA", "STIAB", "STE", "STD", "ISTD", "TAB", "TINV", "NT"}, "NSSTTA": {"STC"},
    "STIAB": {"STC", "STE", "STD"}, "SVARR": {"PAC", "SVT", "AT", "AF", "AFL"}, "ARRH": {"PAC", "PVC", "AF", "SA"},
}
_EXCLUSIVE = {
    "rhythm": [{"SR", "SB", "STACH", "SA"}, {"AF", "CAF", "PAF", "RAF"}, {"AFL"}, {"AVJR", "AJR", "JTACH"},
               {"VT", "PVT"}, {"PACE", "VPACE", "APACE"}, {"IVR", "AIVR", "VESR"}],
    "rate": [{"SB", "BRADY"}, {"STACH", "RAF", "AT", "SVT", "VT", "JTACH", "PSVT", "AVNRT", "AVRT"}, {"normal_rate"}],
    "axis": [{"LAD", "LAFB"}, {"RAD", "LPFB"}, {"ICA"}, {"normal_axis"}],
    "av_block": [{"1AVB", "LPR"}, {"2AVB", "MOBITZ1", "MOBITZ2"}, {"3AVB"}],
    "bundle_side": [{"RBBB", "IRBBB"}, {"LBBB", "ILBBB"}],
}
_NORMAL_AXIS = re.compile(r"\bnormal\s+(?:frontal\s+|QRS\s+|electrical\s+|cardiac\s+|mean\s+)*axis\b|"
                          r"\baxis\s+(?:is\s+|lies\s+|remains\s+)?(?:within\s+(?:the\s+)?normal|normal)\b", re.I)
_NORMAL_QT = re.compile(r"\bnormal\s+(?:corrected\s+)?QTc?\b|\bQTc?(?:\s+interval)?\s+(?:is\s+|remains\s+)?"
                        r"(?:within\s+(?:the\s+)?)?normal\b|\bQTc?(?:\s+interval)?\s+is\s+not\s+prolonged\b", re.I)
_NORMAL_PR = re.compile(r"\bnormal\s+PR\b|\bPR(?:\s+interval)?\s+(?:is\s+)?(?:within\s+(?:the\s+)?)?normal\b|"
                        r"\bnormal\s+AV\s+conduction\b", re.I)
_NORMAL_QRS = re.compile(r"\bnormal\s+QRS\s+(?:duration|width)\b|\bQRS\s+(?:duration\s+|width\s+)?(?:is\s+)?"
                         r"(?:within\s+(?:the\s+)?)?normal\b", re.I)
_NORMAL_RATE = re.compile(r"\bnormal\s+(?:heart\s+|ventricular\s+)?rate\b|\brate\s+(?:is\s+)?(?:within\s+"
                          r"(?:the\s+)?)?normal\b|\bnormocardi", re.I)


_NEW_CLAUSE = {"while", "whereas", "but", "although", "though", ";", "whilst", "however"}
_AXIS_DEVIATED = re.compile(r"\baxis\b[^.;\n]{0,30}?\b(?:deviat\w*|shift\w*|displaced)\s+(?:to\s+the\s+)?"
                            r"(right|left)(?:wards?)?\b|\b(right|left)(?:wards?)?[\s\-]+deviated\s+axis\b", re.I)
_OTHERWISE = re.compile(r"\b(?:otherwise|else)\s+(?:an?\s+|the\s+)?$", re.I)
_CRITERION_AFTER = re.compile(r"[\s-]*(?:thresholds?|criteri(?:on|a)|cut-?offs?|definition|limits?|would\s+(?:need|"
                              r"require|mean)|requires?|is\s+defined)\b", re.I)
_OTHER_BEFORE = re.compile(r"\b(?:other|further|additional|more)\s*\S*\s*$", re.I)


@dataclass(frozen=True)
class Problem:
    rule: str
    detail: str
    span: str


def _ancestor(general: str, specific: str, vocab: Vocabulary) -> bool:
    cur = vocab.get(specific, default=None)
    while cur is not None and cur.parent:
        if cur.parent == general:
            return True
        cur = vocab.get(cur.parent, default=None)
    return False


def _related(code: str, labelled: set[str], vocab: Vocabulary) -> bool:
    """Labelled itself, or a more general term for a labelled diagnosis (parent, or a listed general term)."""
    if code in labelled or labelled & _SUPPORTED_BY.get(code, set()):
        return True
    return any(_ancestor(code, lab, vocab) for lab in labelled)


def denied_labels(text: str, ctx: RecordContext, vocab: Vocabulary) -> list[Problem]:
    """A labelled diagnosis (or a general term for it) that the answer explicitly denies, and never affirms."""
    labelled = {lab.code for lab in ctx.labels}
    mentions = find_mentions(text, vocab)
    affirmed = {m.label.code for m in mentions if not m.negated}
    out = []
    for m in mentions:
        if m.negated and not m.hedged and _related(m.label.code, labelled, vocab):
            out.append(Problem("diagnosis_denied", f"the answer denies {m.label.name}, a labelled diagnosis", m.text))
    return out


def _finding_leads(text: str, start: int, end: int) -> list[str]:
    """Leads named with a finding: right after it in its clause ('in V2-V4'), else right before it."""
    return [x for r in _finding_refs(text, start, end) for x in r.leads]


def _required_leads(text: str, start: int, end: int) -> list[str]:
    """The leads that must each show the finding: those written by name. A lead group named alone ('the inferior
    leads') needs only some lead of it, as before; 'the anterolateral leads V3-V6' needs each of V3-V6."""
    refs = _finding_refs(text, start, end)
    return [x for r in refs for x in (r.explicit if r.group else r.leads)]


def _finding_refs(text: str, start: int, end: int) -> list:
    for sent, refs in zip(sentences_of(text), sentence_refs(text)):
        if not (sent[0].start <= start <= sent[-1].end):
            continue
        sent = list(sent)
        pos = next((i for i, t in enumerate(sent) if t.start >= end), len(sent))
        first = next((i for i, t in enumerate(sent) if t.end > start), 0)
        after = [r for r in refs if pos <= r.start <= pos + 8 and not _new_clause(sent[pos:r.start])
                 and not _subject_of_next_clause(sent, r)]
        before = [r for r in refs if r.end <= first and first - r.end <= 6]
        return after[:1] or before[-1:]
    return []


_SUBJECT_VERBS = {"is", "are", "has", "have", "shows", "show", "looks", "look", "appears", "appear", "remains"}


def _subject_of_next_clause(sent, r) -> bool:
    """'Lead III has a Q wave (-0.37 mV) and aVF is small': a lead after 'and' with its own verb is the next
    clause's subject, not where the finding is ('Q waves in II and aVF are deep' keeps its 'in')."""
    return r.start > 0 and sent[r.start - 1].low == "and" and r.end < len(sent) and \
        sent[r.end].low in _SUBJECT_VERBS


def _new_clause(between) -> bool:
    """'... an inverted T, while aVF is small', '... inverted T (−0.21 mV), and lead I ...': the next lead is
    another clause's subject, not where the finding is."""
    words = [t.low for t in between]
    depth = 0
    for w in words:  # "T −0.24 mV (normal juvenile T inversion), V3 R 2.51 mV": the aside closes before V3
        depth += (w in "([") - (w in ")]")
        if depth < 0:
            return True
    return any(w in _NEW_CLAUSE for w in words) or any(a == "," and b in ("and", "with", "whereas")
                                                       for a, b in zip(words, words[1:]))


def _lead_values(ctx: RecordContext, leads: list[str], field: str) -> list[tuple[str, float]]:
    pool = leads or [x for x, lf in ctx.leads.items() if lf.usable]
    out = []
    for x in pool:
        lf = ctx.leads.get(x)
        if lf is not None and lf.usable and getattr(lf, field) is not None:
            out.append((x, getattr(lf, field)))
    return out


def _lexical_supported(kind: str, phrase: str, context: str, leads: list[str], ctx: RecordContext,
                       labelled: set[str], required: list[str]) -> tuple[bool, list[str]]:
    """(supported, the named leads that do not show it). Named leads must each show the finding: 'Q waves in III
    and aVF' with a Q wave in III alone is not supported (a lead not usable or not measured cannot show it)."""
    mild = bool(_MILD.search(context))
    if kind in ("st_elev", "st_dep"):
        if labelled & (_ST_LABELS - {"STC", "NSSTTA", "STIAB"}) or any(c.endswith("MI") or c.startswith("INJ")
                                                                          or c.startswith("ISC") for c in labelled):
            return True, []
        mild = mild or bool(labelled & {"STC", "NSSTTA", "STIAB"})
    elif (kind == "t_inv" and labelled & _T_LABELS) or (
            kind == "q_wave" and (labelled & {"QAB"} or any(c.endswith("MI") for c in labelled))):
        return True, []
    small_q = kind == "q_wave" and bool(_SMALL_Q.search(phrase) or (leads and set(leads) <= {"aVR"}))
    if required:
        missing = [x for x in required if not _lead_shows(kind, mild, small_q, x, ctx)]
        return not missing, missing
    pool = leads or [x for x in ctx.leads if kind != "t_inv" or x != "aVR"]  # an inverted T in aVR is normal
    return any(_lead_shows(kind, mild, small_q, x, ctx) for x in pool), []


def _lead_shows(kind: str, mild: bool, small_q: bool, x: str, ctx: RecordContext) -> bool:
    """Does usable lead x show the finding? ST shift beyond its limit, a negative T, a measured q or a Q wave."""
    lf = ctx.leads.get(x)
    if lf is None or not lf.usable:
        return False
    if kind == "st_elev":
        return lf.st_mv is not None and lf.st_mv >= (0.04 if mild else 0.08)
    if kind == "st_dep":
        return lf.st_mv is not None and lf.st_mv <= -(0.025 if mild else 0.04)
    if kind == "t_inv":
        return lf.t_amp_mv is not None and lf.t_amp_mv < -0.02
    if small_q:  # small septal q waves need a measured q; pathological ones the significant-Q flag
        return lf.q_amp_mv is not None and lf.q_amp_mv < 0
    return bool(lf.q_wave or x in ctx.features.q_wave_leads)


_LEX_STATES = {"st_elev": "STE", "st_dep": "STD", "t_inv": "TINV", "q_wave": "QAB"}


def lexical_findings(text: str, ctx: RecordContext, labelled: set[str], stated: dict[str, str] | None = None
                     ) -> list[Problem]:
    """ST elevation/depression, T inversion and Q waves, checked in the leads they are stated for.

    An affirmed one also counts as stating its label ("T waves are abnormal: inverted in V5" names TINV)."""
    out = []
    stated = {} if stated is None else stated
    for kind, rx in _LEX_RE:
        for m in rx.finditer(text):
            if span_negated(text, m.start(), m.end()):
                if kind == "q_wave" and not _SMALL_Q.search(m.group(0)) and not _finding_leads(text, m.start(), m.end()) \
                        and not _OTHER_BEFORE.search(text[max(0, m.start() - 25):m.start()]) \
                        and [x for x in ctx.features.q_wave_leads if ctx.leads.get(x) and ctx.leads[x].usable]:
                    out.append(Problem("diagnosis_contradicts_measurements", "the answer denies Q waves, but"
                                       f" significant Q waves are measured in {', '.join(ctx.features.q_wave_leads)}",
                                       m.group(0).strip()))
                continue
            context = text[max(0, m.start() - 40):m.end() + 10]
            if kind != "q_wave" or not _SMALL_Q.search(m.group(0)):
                stated.setdefault(_LEX_STATES[kind], m.group(0).strip())
            leads = _finding_leads(text, m.start(), m.end())
            ok, missing = _lexical_supported(kind, m.group(0), context, leads, ctx, labelled,
                                             _required_leads(text, m.start(), m.end()))
            if not ok:
                where = f" in {', '.join(leads)}" if leads else ""
                lacking = f"; not shown in {', '.join(missing)}" if missing else ""
                out.append(Problem("unsupported_finding", f"{m.group(0).strip()}{where} is stated but neither"
                                   f" labelled nor shown by the measurements{lacking}", m.group(0).strip()))
    return out


def _st_t_measured(ctx: RecordContext) -> bool:
    """Some ST deviation (>= 0.05 mV) or a negative T wave outside aVR and V1 in a usable lead."""
    for x, lf in ctx.leads.items():
        if lf.usable and ((lf.st_mv is not None and abs(lf.st_mv) >= 0.05)
                          or (x not in ("aVR", "V1") and lf.t_amp_mv is not None and lf.t_amp_mv < -0.02)):
            return True
    return False


def _mention_supported(code: str, measure: str | None, hedged: bool, ctx: RecordContext, labelled: set[str],
                       vocab: Vocabulary) -> bool | None:
    """True: labelled or met by its criterion; False: its criterion fails; None: nothing supports it."""
    if _related(code, labelled, vocab):
        return True
    if code == "NORM":
        return labelled <= {"SR", "NORM"} or None
    if any(_ancestor(lab, code, vocab) for lab in labelled):  # "inferior MI" for a labelled MI
        return criterion_holds(measure, ctx) is not False
    if code == "ICA" and ctx.features.axis_deg is not None:
        return ctx.features.axis_deg <= -85 or ctx.features.axis_deg >= 175
    held = criterion_holds(measure, ctx)
    if held is not None:
        return held
    if code in ("STC", "NSSTTA", "STIAB", "TAB", "NT", "NDT"):
        return _st_t_measured(ctx) or None
    if code in ("LOWT", "HTV"):
        ts = [lf.t_amp_mv for x, lf in ctx.leads.items() if lf.usable and lf.t_amp_mv is not None and x != "aVR"]
        return (any(abs(t) < 0.1 for t in ts) if code == "LOWT" else any(t >= 0.5 for t in ts)) or None
    if hedged and code == "LVS" and labelled & {"LVH", "LVHV"} and _st_t_measured(ctx):
        return True  # "possible strain pattern" beside labelled LV voltage and measured ST-T changes
    if hedged and code in TERRITORY_LEADS:  # "possible acute anterior ischaemia": that wall's leads must show it
        return territory_changes(code, ctx) or None
    if hedged and (code.startswith("ISC") or code in ("ISCH", "CHD")) and (
            labelled & (_ST_LABELS | _T_LABELS) or _st_t_measured(ctx)):
        return True  # "ischaemia cannot be excluded" beside measured ST-T changes: a hedge, not a diagnosis
    return None


def _pseudo_statements(text: str, ctx: RecordContext) -> list[tuple[str, str, bool | None]]:
    """'normal axis' and 'normal rate' statements: (pseudo code, span, criterion holds)."""
    f = ctx.features
    out = []
    labelled = {lab.code for lab in ctx.labels}
    qtc = min((v for v in (f.qtc_ms, f.qtc_fridericia_ms) if v is not None), default=None)
    for rx, code, value, lo, hi, against in (
            (_NORMAL_AXIS, "normal_axis", f.axis_deg, -35.0, 95.0, {"LAD", "RAD", "ICA", "LAFB", "LPFB"}),
            (_NORMAL_RATE, "normal_rate", f.hr_bpm, 58.0, 102.0, {"SB", "STACH", "BRADY"}),
            (_NORMAL_QT, "normal_qt", qtc, 300.0, 470.0, {"LQT", "SQT"}),
            (_NORMAL_PR, "normal_pr", f.pr_ms, 110.0, 210.0, {"1AVB", "LPR", "SPRI", "WPW", "VPEX"}),
            (_NORMAL_QRS, "normal_qrs", f.qrs_ms, 0.0, 120.0, {"RBBB", "LBBB", "BBB", "IVCD"})):
        for m in rx.finditer(text):
            if not span_negated(text, m.start(), m.end()):
                held = None if value is None else lo <= value <= hi
                out.append((code, m.group(0), False if labelled & against else held))
    return out


_ECTOPY_ORIGIN = r"(?:atrial|ventricular|supraventricular|junctional)"
_ECTOPY_NOUN = (r"(?:premature\s+)?(?:contractions?|complex(?:es)?|beats?|ectopics?|ectopy|extrasystoles?|"
                r"depolari[sz]ations?)")
_ELLIPSIS = re.compile(rf"\b(?P<pre>(?:premature|early)\s+)?(?P<first>{_ECTOPY_ORIGIN})\s*(?:,|and|or|&|/|plus)\s*"
                       rf"(?P<pre2>(?:premature|early)\s+)?(?P<second>{_ECTOPY_ORIGIN})\s+(?P<noun>{_ECTOPY_NOUN})\b", re.I)


def elided_mentions(text: str, vocab: Vocabulary) -> list:
    """'premature atrial and ventricular complexes': the first conjunct names PACs with its noun elided."""
    out = []
    for m in _ELLIPSIS.finditer(text):
        pre, noun = m.group("pre") or "", m.group("noun")
        for phrase in (f"{pre}{m.group('first')} {noun}", f"{m.group('pre2') or pre}{m.group('second')} {noun}"):
            hits = find_mentions(phrase, vocab)
            if len(hits) == 1 and hits[0].span == (0, len(phrase)):
                negated = span_negated(text, m.start(), m.end())
                out.append(hits[0].model_copy(update={"span": m.span(), "text": m.group(0), "negated": negated}))
    return out


_INCOMPLETE_AFTER = re.compile(r"[\s,]*(?:is|was|must\s+be|would\s+be|should\s+be|has\s+to\s+be|can\s+only\s+be|"
                               r"remains|being)\s+(?:\w+\s+)?incomplete\b", re.I)


def _qualified(label, text: str, end: int, vocab: Vocabulary):
    """'the right bundle branch block is incomplete': a block qualified after its name is the incomplete one."""
    incomplete = vocab.get("I" + label.code, default=None)
    return incomplete if incomplete is not None and _INCOMPLETE_AFTER.match(text, end) else label


def vocabulary_findings(text: str, ctx: RecordContext, vocab: Vocabulary) -> tuple[list[Problem], dict[str, str]]:
    """Stated vocabulary diagnoses not labelled and not met by their criterion; and the stated codes (to spans)."""
    labelled = {lab.code for lab in ctx.labels}
    out, stated = [], {}
    for m in find_mentions(text, vocab) + elided_mentions(text, vocab):
        if m.negated:
            continue
        code = m.label.code
        if _CRITERION_AFTER.match(text, m.span[1]):
            continue  # "the 3.5 mV LVH threshold": the name of a criterion, not a finding
        if code == "NORM" and _OTHERWISE.search(text[max(0, m.span[0] - 20):m.span[0]]):
            continue  # "otherwise normal ECG": normal apart from what the answer lists, not a normal ECG
        label = _qualified(m.label, text, m.span[1], vocab)
        code = label.code
        stated.setdefault(code, m.text)
        if code in _LEX_CODES:
            continue
        held = _mention_supported(code, label.measure, m.hedged, ctx, labelled, vocab)
        if held is False:
            out.append(Problem("diagnosis_contradicts_measurements",
                               f"{m.label.name} is stated but the measurements do not meet its criterion", m.text))
        elif held is None:
            out.append(Problem("unsupported_finding", f"{m.label.name} is stated but neither labelled nor"
                               " supported by a criterion on the measurements", m.text))
    for m in _AXIS_DEVIATED.finditer(text):  # "the axis is deviated to the right": RAD in other words
        code = "RAD" if (m.group(1) or m.group(2)).lower() == "right" else "LAD"
        if span_negated(text, m.start(), m.end()):
            continue
        stated.setdefault(code, m.group(0))
        held = _mention_supported(code, vocab.get(code).measure, False, ctx, labelled, vocab)
        if held is not True:
            out.append(Problem("diagnosis_contradicts_measurements" if held is False else "unsupported_finding",
                               f"'{m.group(0)}' is stated but the measured axis does not support it", m.group(0)))
    for code, span, held in _pseudo_statements(text, ctx):
        stated.setdefault(code, span)
        if held is False:
            out.append(Problem("diagnosis_contradicts_measurements", f"'{span}' is stated but the measurement"
                               " is outside the normal range", span))
    return out, stated


def exclusive_findings(stated: dict[str, str], ctx: RecordContext) -> list[Problem]:
    """Statements that exclude each other, or exclude a labelled diagnosis of the same kind."""
    labelled = {lab.code for lab in ctx.labels}
    out = []
    for kind, sets in _EXCLUSIVE.items():
        said = [i for i, group in enumerate(sets) if group & set(stated)]
        if len(said) > 1:
            spans = [stated[c] for i in said for c in sets[i] if c in stated]
            out.append(Problem("contradictory_statements", f"the answer states mutually exclusive {kind} findings:"
                               f" {', '.join(spans)}", spans[-1]))
            continue
        labelled_sets = {i for i, group in enumerate(sets) if group & labelled}
        for i in said:
            if labelled_sets and i not in labelled_sets:
                code = next(c for c in sets[i] if c in stated)
                if code not in labelled:
                    out.append(Problem("diagnosis_contradicts_labels", f"{stated[code]} contradicts the labelled"
                                       f" {kind} diagnosis", stated[code]))
    return out


def finding_problems(text: str, ctx: RecordContext) -> tuple[list[Problem], set[str]]:
    """Every finding problem of an answer, and the codes it states (for the labelled-diagnosis check)."""
    vocab = Vocabulary.load()
    labelled = {lab.code for lab in ctx.labels}
    problems, stated = vocabulary_findings(text, ctx, vocab)
    problems += lexical_findings(text, ctx, labelled, stated)
    problems += exclusive_findings(stated, ctx)
    problems += denied_labels(text, ctx, vocab)
    problems += [Problem(rule, detail, span) for rule, detail, span in quality_problems(text, ctx)]
    problems += [Problem(rule, detail, span) for rule, detail, span in wall_injury_problems(text, ctx)]
    return problems, set(stated)
