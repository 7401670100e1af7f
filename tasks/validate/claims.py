"""Claims in an interpretation: each written number attributed to the measurement, lead and beat it talks
about, or recognised as a non-claim (normal range, criterion, paper setting, ratio)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from schemas.records import LEADS_12
from tasks.validate.anaphora import lead_values_only, pronoun_subject, resolve as resolve_references
from tasks.validate.bounds import list_over_chain, sentence_bounds
from tasks.validate.claim import Claim
from tasks.validate.keywords import UNIT_KINDS, Keyword, keywords, landmark, resolve
from tasks.validate.leads import (LeadRef, excepted_leads, lead_refs, names_other_leads, other_leads,
                                  sentence_refs)
from tasks.validate.quantities import Quantity, infer_unit, quantities
from tasks.validate.pairing import (bracketed_beat, chained, cycle_before_beat, following_beat, formula_of,
                                   named_after_its_number, pair as _pair, sign_of, sized_wave, subject_beat)
from tasks.validate.nonclaims import (_BEAT_OR_AFTER, _BEAT_OR_ONE, _BEAT_WORDS, _DEFINITIONAL, age_at, beat_positions,
                                      beat_ref, count_of, enumeration, is_reference, is_setting, tied)
from tasks.validate.tables import lead_table_cells, reference_cells
from tasks.validate.composite import _AFTER_SUM, equations, formulas, rate_results, spreads, sums, unknown_formula
from tasks.validate.text import Token, boundaries_between, paren_depth, sentences_of

_EXTREME = {"reaching", "reaches", "reach", "maximal", "maximum", "max", "peak", "peaking", "deepest", "tallest",
            "largest", "most", "greatest", "highest", "lowest", "nadir", "much", "deep", "up"}
_TRAIL_PREP = {"in", "at", "on", "across", "over", "throughout", "within", "from", "of", "for", "through"}
_TRAIL_SKIP = {"is", "are", "was", "were", "seen", "noted", "present", "observed", "recorded", "measured", "found",
               "visible", "evident", "the", "both", "lead", "leads", ")", "each", "every",
               # "S waves 0.39 mV deep in I and 1.13 mV deep in V6": the size word before the lead
               "deep", "tall", "high", "wide", "broad", "negative", "positive", "upright", "inverted", "elevated",
               "depressed", "raised", "downward", "upward", "deeper", "taller", "respectively"}


_INSIDE_LEADS: frozenset[int] = frozenset()
_BEAT_IDX: frozenset[int] = frozenset()  # token positions of the current sentence's beat citations
_Q_STARTS: frozenset[int] = frozenset()  # token positions where the current sentence's quantities start
_Q_ENDS: dict[int, int] = {}  # quantity start -> end, in the current sentence


def _score(kw: Keyword, q: Quantity, pos: int, sent: list[Token]) -> float:
    """Distance from a keyword to a number, in tokens (a lead list counts as one), plus clause crossings."""
    skip = _INSIDE_LEADS
    if kw.end <= q.start:
        dist = sum(1 for k in range(kw.end, q.start) if k not in skip)
        if all(sent[k].text in _LABEL_DASH for k in range(kw.end, q.start)):
            return float(dist)  # "PR interval — 130 ms": a dash after a label is its colon
        claimed = 20 if named_after_its_number(kw, sent, set(_Q_ENDS.values())) else 0
        return dist + claimed + 6 * boundaries_between(sent, kw.end - 1, q.start, skip)
    dist = sum(1 for k in range(q.end, kw.start) if k not in skip)
    if kw.start < q.end or kw.text.lower() in _NAMES_THE_NEXT or kw.text.lower().startswith(_CORRECTING):
        return 99.0  # "372 ms corrected to 501 ms", "QT of 410 ms corrects to": these own the number after them
    if _owns_next(kw, sent):
        return 99.0  # "2.07 mV against an S of 0.43 mV": the S owns the number written right after it
    return 0.5 + 2 * dist + 6 * boundaries_between(sent, q.end - 1, kw.start, skip) + (0 if dist == 0 else 3)


_LABEL_DASH = {"—", "–", "-", ":", "*", "_"}
_NAMES_THE_NEXT = {"corrected", "early", "after only"}
_CORRECTING = ("corrects", "correcting")
_OWN_GLUE = {"of", "is", "are", "was", ":", "=", "at", "measuring", "measures", "about", "approximately", "~",
             "around", "roughly", "only", "just", "nearly", "≈"}


def _owns_next(kw: Keyword, sent: list[Token]) -> bool:
    """Is a number written right after this keyword (only 'of', 'is', ':' ... or its lead in brackets between)?"""
    start = kw.end
    if start < len(sent) and sent[start].text == "(":  # "R(V4) 2.67 mV": the wave's lead in brackets
        k = start + 1
        while k < len(sent) and (sent[k].kind == "lead" or sent[k].text in (",", "-", "–")) and k - start < 8:
            k += 1
        if k > start + 1 and k < len(sent) and sent[k].text == ")":
            start = k + 1
    for k in range(start, min(len(sent), start + 4)):
        if k in _Q_STARTS:
            return True
        if sent[k].low not in _OWN_GLUE:
            return False
    return False


def _compatible(kws: list[Keyword], unit: str | None) -> list[Keyword]:
    kinds = UNIT_KINDS.get(unit, set())
    return [k for k in kws if k.kind in kinds]


def _best(kws: list[Keyword], q: Quantity, sent: list[Token]) -> Keyword | None:
    # a beat word owns a time written after it ("the PVC at 4.2 s"), not one before it ("0.35 s at four PACs")
    scored = [(_score(k, q, q.value_pos[0], sent), k) for k in kws if not (k.kind == "beat" and k.start >= q.end)]
    scored = [s for s in scored if s[0] < 40]
    return min(scored, key=lambda s: s[0])[1] if scored else None


def _time_like(sent: list[Token], q: Quantity, kw: Keyword | None) -> bool:
    """'at 4.0 s', 'at t = 4.03 s': a position in time, unless an interval keyword owns the number right there."""
    if q.unit != "s":
        return False
    before = [t.low for t in sent[max(0, q.start - 3):q.start]]
    near_interval = kw is not None and kw.kind in ("pr", "qrs", "qt", "qtc", "rr") and q.start - kw.end <= 4 \
        and kw.end <= q.start and kw.text.lower() not in ("early", "after", "after only", "cycle", "cycles")
    if near_interval:
        return False
    if "t" in before or "time" in before or "into" in [t.low for t in sent[q.end:q.end + 2]]:
        return True
    if before and before[-1] == "at":  # "early beats at 2.83 s and 3.17 s"
        return True
    beat_near = any(t.low in _BEAT_WORDS or k in _BEAT_IDX for k, t in enumerate(sent[:q.start]) if k >= q.start - 6)
    return beat_near and (not kw or kw.kind in ("beat", "wave") or "at" in before or "(" in before)


def _leads_for(q: Quantity, sent: list[Token], refs: list[LeadRef], kw: Keyword | None) -> LeadRef | None:
    """The lead(s) a value belongs to: named right after it, else named shortly before it in its clause."""
    j, skipped = (kw.end if kw is not None and kw.start == q.end else q.end), 0
    while j < len(sent) and skipped < 5:
        ref = next((r for r in refs if r.start == j), None)
        if ref is not None:
            return ref
        if sent[j].low in _TRAIL_PREP | _TRAIL_SKIP or sent[j].text == "(":
            j, skipped = j + 1, skipped + 1
            continue
        partner = next((k for k in (j + 1, j + 2) if k in _Q_ENDS), None)
        if sent[j].text == "/" and partner is not None:  # "R 2.25 / S −1.50 mV in V3": the pair shares the lead
            j, skipped = _Q_ENDS[partner], skipped + 1
            continue
        break
    excepted = excepted_leads(q.end, sent, refs)
    if excepted is not None:
        return excepted  # "within 0.06 mV of baseline apart from aVR"
    before = [r for r in refs if r.end <= q.start]
    others = other_leads(q.start, sent, before)
    if others is not None:
        return others
    if before:
        r = before[-1]
        if q.start - r.end <= 12 and boundaries_between(sent, r.end - 1, q.start) <= 2:
            return r
        head = before[0]  # "V3–V6: low R waves (0.13–0.25 mV), ST isoelectric (within 0.03 mV)": a line's label
        label = [t.text for t in sent[head.end:head.end + 3]]
        colon = ":" in label and all(x in "*_:" for x in label[:label.index(":")])
        if len(before) == 1 and colon and all(t.text in "*#_-•" for t in sent[:head.start]):
            return head
    return None


_AMPLITUDE_WORDS = {"amplitude", "amplitudes", "voltage", "voltages", "tall", "high", "deep", "height"}


def _measure(q: Quantity, kw: Keyword | None, sent: list[Token]) -> str | None:
    if q.unit in ("ms", "s") and q.end < len(sent) and sent[q.end].low == "apart":
        return "rr"  # "beats spaced 1.24 s apart"
    if _time_like(sent, q, kw):
        return "time"
    if kw is None:
        if q.unit == "s" and max(q.values) > 3.0:
            return "time"  # no interval lasts that long: a position in the recording
        after_time = q.start >= 2 and sent[q.start - 1].text == "(" and sent[q.start - 2].low in ("s", "sec")
        if q.unit == "ms" and after_time:
            return "rr"  # "at 4.82 s (358 ms)": the cycle ending at that time
        if q.unit in ("ms", "s") and any(t.low in _BEAT_OR_AFTER for t in sent):
            return "rr"  # "the second beat comes only 298 ms after the first"
        return {"bpm": "rate", "deg": "axis_qrs", "years": "age"}.get(q.unit or "")
    if kw.kind == "beat":
        return "time" if q.unit == "s" else None
    measure = resolve(kw.kind, kw.wave, q.unit)
    if measure == "rate" and cycle_before_beat(q, sent, _BEAT_IDX):
        return "rr"  # "Rate 82, regular (744 before beat 5)": no rate is 744; a cycle cited before its beat
    near = {w.lower() for w in kw.text.split()} | {t.low for t in sent[q.end:q.end + 3]}
    if measure == "amp_qrs" and q.unit in ("smallbox", "largebox") and not _AMPLITUDE_WORDS & near:
        return "qrs"  # "the QRS spans 2.5 small squares": a width, unless a height is said
    if q.unit == "s" and max(q.values) > 3.0 and measure in ("rr", "pr", "qrs", "qt", "qtc"):
        return "time"  # no interval lasts 4.42 s: "from 1.85 s to 4.42 s the RR is steady" gives times
    return measure


def _nearest_beat(beats: list[tuple[int, int]], q: Quantity, sent: list[Token]) -> int | None:
    general = any(t.low in _OTHER_BEATS for t in sent[max(0, q.start - 5):q.start])  # "the regular cycles are 620 ms"
    near = [(abs(i - q.start) + 6 * boundaries_between(sent, i, q.start), i, b) for i, b in beats
            if abs(i - q.start) <= 10 and boundaries_between(sent, i, q.start) <= 2 and i not in q.value_pos
            and not (general and i > q.start)]
    if not near:
        return None  # "730 ms ending complex #2, 882 ms ending complex #9": 882 ms is #9's
    own = bracketed_beat(beats, q, sent) or following_beat(beats, q, sent)
    if own is not None:
        return own
    _, i, b = min(near)
    return subject_beat(beats, i, q, sent) or b


def _chain_kw(q: Quantity, sent: list[Token], ctx: "_Sentence", prev_end: int) -> Keyword | None:
    """The previous value's keyword when this value continues its chain ('V5 −0.08 mV; I −0.06; aVL −0.05')."""
    kw, unit = ctx.prev
    follows = q.comparator is not None and 0 < q.start - prev_end <= 4 and all(
        t.low in _AFTER_SUM for t in sent[prev_end:q.start])  # "4.06 mV, which exceeds 3.5 mV"
    if kw is None or not (follows or chained(sent, prev_end, q, ctx.refs)):
        return None
    same = q.unit == unit or q.unit is None or (unit is None and kw.kind in UNIT_KINDS.get(q.unit, set()))
    return kw if same and kw.kind in UNIT_KINDS.get(q.unit, set()) else None


def _claims_of(q: Quantity, sent: list[Token], ctx: "_Sentence", prev_end: int) -> list[Claim]:
    base = Claim(q.values, q.unit, None, comparator=q.comparator, approx=q.approx, span=q.span, text=q.text,
                 shape="range" if q.shape == "range" else "single")
    if q.shape == "ratio":
        return [replace(base, nonclaim="ratio")]
    if q.shape == "list" and len(q.values) == 2 and q.values[0] in (60000.0, 60.0, 1500.0, 300.0) and "/" in q.text:
        rr = q.values[1]  # "60000/523 gives 115 bpm": a rate worked out from an RR; the RR is the claim
        if q.values[0] == 60000.0 and rr < 250:  # "60000/65 = 923 ms": an RR worked out from a rate
            return [replace(base, values=(rr,), measure="rate", unit="bpm")]
        return [replace(base, values=(rr,), measure="rr", unit="ms" if q.values[0] == 60000.0 else None)
                if q.values[0] in (60000.0, 60.0) else replace(base, nonclaim="formula")]
    if is_setting(q, sent):
        return [replace(base, nonclaim="setting")]
    if beat_ref(sent, q):
        return [replace(base, measure="beat_ref", shape="single", values=(v,)) for v in q.values]
    if enumeration(sent, q):
        return [replace(base, nonclaim="enumeration")]
    count = count_of(sent, q)
    if count:
        return [replace(base, measure=count)]
    if age_at(sent, q):
        return [replace(base, measure="age", unit="years")]  # checked on the record's age (none known: rejected)
    reference = is_reference(q, sent, ctx.depth, prev_end)
    definitional = any(t.low in _DEFINITIONAL and tied(sent, k, q) for k, t in enumerate(sent))
    comp = _keywords_for(q, sent, ctx, prev_end)
    nearest = _best(comp, q, sent)
    ref = _leads_for(q, sent, ctx.refs, nearest)
    beat = _nearest_beat(ctx.beats, q, sent)
    common = replace(base, nonclaim="reference" if reference else None, definitional=definitional, beat=beat or None,
                     beats=tuple(b for _, b in ctx.beats if b))
    best = sized_wave(nearest or (comp[-1] if len(comp) == 1 else None), sent, prev_end, q.start)
    if best is not None:
        ctx.last_kw[q.unit] = best
    ctx.prev = (best, q.unit)
    if q.shape == "list":
        paired = _pair(q, comp, prev_end, sent)
        kws = paired or [best] * len(q.values)
        if best is not None and best.wave in ("rs", "qr") and len(q.values) == 2:
            kws = [replace(best, wave=best.wave[0]), replace(best, wave=best.wave[1])]  # "rS (0.21/−0.89 mV)"
        pair_leads = ref is not None and len(ref.leads) == len(q.values) and len(q.values) > 1
        if pair_leads and paired and best is not None and best.end == q.start:  # "V1–V2: Q waves, r 0.07 / 0.13"
            paired, kws = None, [best] * len(q.values)  # one wave named right before: a value per lead, not per name
        out = []
        for k, (v, kw) in enumerate(zip(q.values, kws)):
            leads = (ref.leads[k],) if pair_leads else (ref.leads if ref else ())
            claim = _one(common, (v,), kw, q, sent, leads, bool(ref) and not pair_leads and len(leads) > 1)
            named = formula_of(kw, sent) if paired and claim.measure == "qtc" else None
            out.append(replace(claim, formula=named) if named else claim)  # "QTcB and QTcF 367 and 329 ms"
        return out
    return [_one(common, q.values, best, q, sent, ref.leads if ref else (),
                 bool(ref and len(ref.leads) > 1))]


def _keywords_for(q: Quantity, sent: list[Token], ctx: "_Sentence", prev_end: int) -> list[Keyword]:
    """The keywords that may own this value: those of its unit, narrowed by the sums, chains and measures before it."""
    comp = _compatible(ctx.kws, q.unit)
    index = [k for k in comp if k.kind in ("sokolow", "cornell")]
    if q.start > 0 and sent[q.start - 1].text == "=" and index:  # "SV1 1.97 mV + RV5 2.09 mV = 4.06 mV"
        return index
    chain = _chain_kw(q, sent, ctx, prev_end)
    if chain is not None:
        return [chain]  # "0.05 mV in V3, 0.07 mV in V4 and 0.10 mV in V5": one measure
    if q.unit in ctx.last_kw and _of_other_leads(q, sent, ctx, comp):
        return [ctx.last_kw[q.unit]]  # "ST raised 0.15 mV in V3 with upright T waves; other leads within 0.08 mV"
    if _best(comp, q, sent) is None:
        return [ctx.last_kw[q.unit]] if q.unit in ctx.last_kw else [k for k in comp if k.end <= q.start][-1:]
    return comp


def _of_other_leads(q: Quantity, sent: list[Token], ctx: "_Sentence", comp: list[Keyword]) -> bool:
    """A value said of 'the other leads' with no measure named since: the measure of the values before it."""
    ref = other_leads(q.start, sent, [r for r in ctx.refs if r.end <= q.start])
    return ref is not None and not any(ref.start <= k.start < q.start for k in comp)


_OTHER_BEATS = {"other", "others", "remaining", "rest", "otherwise", "underlying", "baseline", "dominant", "regular",
                "later", "earlier", "next", "following", "previous", "preceding", "subsequent", "compensatory",
                "normal", "sinus", "mean", "average", "typical", "surrounding", "neighbouring", "neighboring"}


def _about_that_beat(sent: list[Token], q: Quantity) -> bool:
    """An RR written after the one beat its sentence names, with nothing saying it is about other beats."""
    before = [i for i in _BEAT_IDX if i < q.start]
    if not before:
        return False
    between = sent[min(before) + 2:q.start]  # past the beat's own noun: another "beat" is another beat
    return not any(t.low in _OTHER_BEATS for t in sent[min(before):q.end + 4]) and not any(
        t.low in _BEAT_OR_ONE for t in between)


def _one(common: Claim, values: tuple[float, ...], kw: Keyword | None, q: Quantity, sent: list[Token],
         leads: tuple[str, ...], group: bool) -> Claim:
    measure = _measure(q, kw, sent)
    if measure and measure.startswith("axis") and q.unit is None and "." in q.text and abs(values[0]) < 5 and leads:
        measure = "amp_qrs"  # "axis: lead I +0.77, aVF +0.20": the leads' QRS voltages, not degrees
    unit = infer_unit(measure, values[0], q.unit) if measure else q.unit
    if measure == "rr" and len(values) == 2 and q.shape == "range":
        common = replace(common, beat=None, beats=())  # a range of cycles spans beats: each end checked on all
    elif measure == "rr" and common.beat is None and len(set(common.beats)) == 1 and _about_that_beat(sent, q):
        common = replace(common, beat=common.beats[0])  # "the 7th beat, at 6.8 s, with a coupling interval of 534 ms"
    extreme = bool({t.low for t in sent[max(0, q.start - 4):q.end + 3]} & _EXTREME)
    return replace(common, values=values, unit=unit, measure=measure, leads=leads, group=group,
                   sign=sign_of(sent, q, kw), extreme=extreme)


@dataclass
class _Sentence:
    kws: list[Keyword]
    refs: list[LeadRef]
    beats: list[tuple[int, int]]
    depth: list[int]
    last_kw: dict = field(default_factory=dict)
    prev: tuple = (None, None)  # (keyword, unit) the previous value of the sentence was attributed with


def sentence_claims(sent: list[Token], text: str, refs: list[LeadRef] | None = None) -> list[Claim]:
    """The claims of one sentence, in order (`refs`: its lead references, when already known)."""
    global _INSIDE_LEADS, _BEAT_IDX, _Q_STARTS, _Q_ENDS
    qs = quantities(sent, text)
    _Q_STARTS = frozenset(q.start for q in qs)
    _Q_ENDS = {q.start: q.end for q in qs}
    units = {k for q in qs for k in range(q.start, q.end)}
    beats = beat_positions(sent)
    _BEAT_IDX = frozenset(i for i, _ in beats)
    near_beats = {j for i, _ in beats for j in (i - 1, i, i + 1)}
    near_beats |= {i - 2 for i, _ in beats if i > 1 and sent[i - 1].low in ("#", "no", "number")}  # "complex #2"
    kws = [k for k in keywords(sent) if not any(i in units for i in range(k.start, k.end))
           and not (k.text.lower() in ("complex", "complexes") and k.start in near_beats) and not landmark(k, sent)]
    ctx = _Sentence(kws, lead_refs(sent) if refs is None else list(refs), beats, paren_depth(sent))
    _INSIDE_LEADS = frozenset(k for r in ctx.refs for k in range(r.start + 1, r.end))
    out, prev_end, per_q = [], 0, []
    for q in qs:
        per_q.append(unknown_formula(_claims_of(q, sent, ctx, prev_end), q, kws, sent))
        prev_end = q.end
    per_q = sums(qs, per_q, sent, kws)
    per_q = formulas(qs, equations(qs, spreads(qs, per_q, sent), sent, kws, ctx.refs), sent, kws)
    per_q = rate_results(qs, per_q, sent)
    out = [c for claims in per_q for c in claims]
    for i, b in ctx.beats:  # a beat named by an ordinal word is a claim that the beat exists
        if sent[i].kind != "num" and b:
            out.append(Claim((float(b),), None, "beat_ref", span=(sent[i].start, sent[i].end), text=sent[i].text))
    return out


def numeric_claims(text: str) -> list[Claim]:
    """Every written number of the answer as a claim (attributed or not) or a recognised non-claim."""
    text = text or ""
    cells, covered = lead_table_cells(text) if "|" in text else ([], [])
    out, prev, before, heading = [], None, [], None
    for sent, refs in zip(sentences_of(text), sentence_refs(text)):
        if not any(a <= sent[0].start < b for a, b in covered):
            got = sentence_claims(list(sent), text, list(refs))
            if prev is not None and (_continues(prev, sent, text) or pronoun_subject(sent) or lead_values_only(
                    sent, refs)) and (any(
                    c.measure is None and not c.nonclaim for c in got) or names_other_leads(sent)):
                # "**ST:** depressed in II (−0.22 mV); elevated in V2 (+0.12 mV)": read on from before the ';'
                got = [c for c in sentence_claims(list(prev) + list(sent), text) if c.span[0] >= sent[0].start]
            if heading is not None and sent[0].text in _BULLETS and any(c.measure is None and not c.nonclaim
                                                                         for c in got):
                got = _under_heading(heading, sent, text) or got
            got = list_over_chain(sentence_bounds(resolve_references(got, sent, before, out), list(refs)))
            out += got
            before = got
        if sent[0].text == "#":
            heading = sent if keywords(list(sent)) else None
        prev = sent
    for cell in cells:  # a lead table's cell, read as the sentence it stands for
        for c in numeric_claims_of_sentence(cell.sentence):
            out.append(replace(c, text=cell.text, span=(cell.start, cell.start + len(cell.text))))
    refs = reference_cells(text) if "|" in text else []
    if refs:  # "| QRS | 148 ms | < 120 ms |" under a "Normal range" header: the range asserts nothing
        out = [replace(c, nonclaim="reference") if any(a <= c.span[0] < b for a, b in refs) else c for c in out]
    return out


_BULLETS = {"-", "*", "+", "•"}


def _under_heading(heading: tuple, sent: tuple, text: str) -> list[Claim] | None:
    """'### T waves' then '- **III:** inverted, −0.20 mV': a bullet's value with no measure of its own takes the
    measure its section's heading names (read as one sentence); None when that leaves it unattributed still."""
    got = [c for c in sentence_claims(list(heading) + list(sent), text) if c.span[0] >= sent[0].start]
    return None if any(c.measure is None and not c.nonclaim for c in got) else got


def _continues(prev: tuple, sent: tuple, text: str) -> bool:
    """Does this sentence go on from the previous one after a ';' on the same line?"""
    return prev[-1].text == ";" and "\n" not in text[prev[-1].end:sent[0].start]


def numeric_claims_of_sentence(text: str) -> list[Claim]:
    return [c for sent, refs in zip(sentences_of(text), sentence_refs(text))
            for c in sentence_claims(list(sent), text, list(refs))]


def named_leads(text: str) -> set[str]:
    """Every lead the text names by name (lists and V-ranges expanded; groups not included)."""
    return {x for refs in sentence_refs(text or "") for ref in refs for x in ref.explicit}


def covered_leads(text: str) -> set[str]:
    """The 12-lead leads the text discusses, by name or through a named group (inferior, lateral...)."""
    return {x for refs in sentence_refs(text or "") for ref in refs for x in ref.leads} & set(LEADS_12)
