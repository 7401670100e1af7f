"""A list of values written beside a list of measurement names ("PR, QRS and QT of 260, 140 and 500 ms",
"a Q of −0.84 mV and 0.11 mV ST elevation"): which name each value belongs to; also which beat a value is
cited at, which way it points (raised or depressed) and whether it continues a chain of values of one measure."""
from __future__ import annotations

from dataclasses import replace

from tasks.validate.keywords import Keyword, resolve
from tasks.validate.quantities import Quantity
from tasks.validate.text import Token

_PAIR_GLUE = {",", "and", "/", "&", "or", "interval", "intervals", "duration", "durations", "the", "wave", "waves",
              "segment", "amplitude", "amplitudes", "-", "–", "by"}


_LIST_MARKS = {",", "and", "/", "&", "or"}
_PAIR_NEAR = {"of", "is", "are", "was", "were", ":", "=", "at", "measure", "measures", "measured", "measuring",
              "respectively", "all", "both", "intervals", "interval", "durations", "duration", "(", ")", "values", "for",
              "the", ",", "about", "approximately", "around", "roughly", "~", "≈", "then", "being", "in", "ms", "s",
              "*", "_", "|", "-", "–", "—", "ratio", "value", "given", "as", '"', "'", "by", "using"}


_FORMULA_WORDS = {"bazett": "bazett", "qtcb": "bazett", "fridericia": "fridericia", "qtcf": "fridericia"}


def formula_of(kw: Keyword, sent: list[Token]) -> str | None:
    """The QTc formula a (merged) name spells ('QTcF', 'Fridericia QTc', 'QTc (Bazett)'), or None."""
    names = {_FORMULA_WORDS[t.low] for t in sent[kw.start:kw.end] if t.low in _FORMULA_WORDS}
    return names.pop() if len(names) == 1 else None


def _one_name(comp: list[Keyword], sent: list[Token], unit: str | None) -> list[Keyword]:
    """Names written side by side that name one measure are one name: 'Fridericia QTc', 'QTc (Bazett)',
    'QRS complex duration' (so a list of two such names is two names, not four)."""
    out: list[Keyword] = []
    for k in comp:
        prev = out[-1] if out else None
        gap = [t.text for t in sent[prev.end:k.start]] if prev is not None else None
        if prev is not None and gap in ([], ["("]) and resolve(prev.kind, prev.wave, unit) == \
                resolve(k.kind, k.wave, unit):
            end = k.end + (1 if gap and k.end < len(sent) and sent[k.end].text == ")" else 0)
            out[-1] = Keyword(prev.kind if prev.kind != "wave" else k.kind, prev.wave or k.wave, prev.start, end,
                              " ".join(t.text for t in sent[prev.start:end]))
        else:
            out.append(k)
    return out


def _key(k: Keyword, unit: str | None, sent: list[Token]) -> tuple[str, str | None]:
    """What a name of a list measures: the QTc by Bazett and by Fridericia are two measures."""
    return resolve(k.kind, k.wave, unit), formula_of(k, sent)


def pair(q: Quantity, comp: list[Keyword], prev_end: int, sent: list[Token]) -> list[Keyword] | None:
    """A list of n values written after (or before) a list of n measurement names: pair them in order."""
    n = len(q.values)
    comp = _one_name(comp, sent, q.unit)
    before = [k for k in comp if prev_end <= k.start and k.end <= q.start]
    after = [k for k in comp if k.start >= q.end]
    for run, gap in ((before[-n:], range(before[-1].end, q.start) if before else ()),
                     (after[:n], range(q.end, after[0].start) if after else ())):
        listed = all(sent[i].low in _PAIR_GLUE for a, b in zip(run, run[1:]) for i in range(a.end, b.start)) and all(
            _apart(a, b, sent) for a, b in zip(run, run[1:]))
        near = all(sent[i].low in _PAIR_NEAR for i in gap)  # "PR, QRS and QT of 260, 140 and 500 ms"
        if len(run) == n and listed and near and len({_key(k, q.unit, sent) for k in run}) == n:
            return run
    if n == 2 and before and after and after[0].start == q.end and all(
            sent[i].low in _PAIR_NEAR for i in range(before[-1].end, q.start)):
        return [before[-1], after[0]]  # "a Q of −0.84 mV and 0.11 mV ST elevation": one name each side
    return None


def _apart(a: Keyword, b: Keyword, sent: list[Token]) -> bool:
    """Two names of a list: wave names side by side with no list mark between ('rS complexes') are one name."""
    return "wave" not in (a.kind, b.kind) or any(sent[i].low in _LIST_MARKS for i in range(a.end, b.start))


_AFTER_NUMBER = {"for", "the", "between", "from", "to", "through", "across", "in", "of", "move", "moves", "travel",
                 "travels", "pass", "passes", "spread", "spreads", "go", "goes", "get", "gets", "cross", "crosses"}


_OWNS_NEXT = {"corrected", "corrects", "corrects to", "correcting to", "corrected to", "early", "after only",
              "after", "corrected for rate", "corrected for the rate", "corrected for heart rate",
              "corrected for the heart rate"}


def named_after_its_number(kw: Keyword, sent: list[Token], ends: set[int]) -> bool:
    """'130 ms between the upper and lower chambers and 104 ms for the main beat': a name written right after a
    number (only 'for', 'the', 'from' ... between) belongs to that number, not to the next one."""
    if kw.text.lower() in _OWNS_NEXT:
        return False  # "a QT of 363 ms corrected to 450 ms": the verb names the number after it
    p = kw.start
    for _ in range(6):
        if p in ends:
            return True
        if p == 0 or sent[p - 1].low not in _AFTER_NUMBER:
            return False
        p -= 1
    return False


def subject_beat(beats: list[tuple[int, int]], i: int, q: Quantity, sent: list[Token]) -> int | None:
    """'the fourth beat comes 918 ms after the third (at 3.26 s)': a time written after 'after the Mth' is the
    time of the beat the sentence is about, named before it."""
    if q.unit != "s" or q.start < i or q.start == 0 or sent[q.start - 1].low not in ("at", "@"):
        return None
    if not any(sent[k].low in ("after", "following", "behind") for k in range(max(0, i - 2), i)):
        return None
    earlier = [b for j, b in beats if j < i - 2 and b]
    return earlier[-1] if earlier else None


def bracketed_beat(beats: list[tuple[int, int]], q: Quantity, sent: list[Token]) -> int | None:
    """'548 ms (before the eleventh beat) to 912 ms (before the thirteenth)': a beat cited in the brackets right
    after a value is that value's beat."""
    if q.end >= len(sent) or sent[q.end].text != "(":
        return None
    close = next((k for k in range(q.end + 1, min(len(sent), q.end + 8)) if sent[k].text in ")("), None)
    if close is None or sent[close].text != ")":
        return None
    inside = [b for i, b in beats if q.end < i < close and b]
    return inside[0] if len(inside) == 1 else None


_LEADS_INTO = {"before", "preceding", "ending", "into", "the", "leading", "to", "of", "at", "beat", "complex", "cycle", "#"}


def following_beat(beats: list[tuple[int, int]], q: Quantity, sent: list[Token]) -> int | None:
    """'from 730 ms before the second beat to 882 ms before the ninth': a beat cited right after a value
    ('before', 'ending', 'into' ... between) is that value's beat, not a nearer one cited before it."""
    k = q.end
    while k < len(sent) and k - q.end < 5 and sent[k].low in _LEADS_INTO:
        k += 1
    if k == q.end or sent[q.end].low not in ("before", "preceding", "ending", "into", "leading"):
        return None
    return next((b for i, b in beats if i == k and b), None)


def sized_wave(kw: Keyword | None, sent: list[Token], prev_end: int, start: int) -> Keyword | None:
    """'(R 0.18, S 0.20 mV) while aVF is tall (1.03 mV)': a value that takes a wave named before the value
    before it, with 'tall' between, is an R wave, not the S named last (and 'deep' after an R is an S)."""
    if kw is None or prev_end <= kw.end:
        return kw
    words = {t.low for t in sent[prev_end:start]}
    if kw.kind == "wave" and kw.wave == "s" and words & {"tall", "taller", "upright"}:
        return replace(kw, wave="r")
    if kw.kind == "wave" and kw.wave == "r" and words & {"deep", "deeper"}:
        return replace(kw, wave="s")
    return kw


_POSITIVE = {"elevation", "elevated", "elevations", "raised", "ste", "above", "upward", "up", "upright", "positive"}
_NEGATIVE = {"depression", "depressed", "depressions", "below", "std", "twi", "downward", "down", "inverted", "inversion",
             "inversions", "negative", "sagging", "downsloping"}


_WAVES = {"p", "q", "r", "s", "t", "u", "qrs", "st", "j"}


def sign_of(sent: list[Token], q: Quantity, kw: Keyword | None) -> int | None:
    """+1 for a value said to be raised or upright, -1 for one depressed or inverted, None when neither or both."""
    lo = min(q.start, kw.start if kw else q.start)
    hi = min(len(sent), q.end + 4)
    hi = next((k for k in range(q.end, hi - 1) if sent[k].text in ",;" and sent[k + 1].low in _WAVES), hi)
    words = [t.low for t in sent[max(0, lo - 2):hi]]  # "aVF: ST -0.05 mV, T positive": the T's word is its own
    if kw is not None:
        words += kw.text.lower().split()
    pos, neg = any(w in _POSITIVE for w in words), any(w in _NEGATIVE for w in words)
    return None if pos == neg else (1 if pos else -1)


_CHAIN = {",", "and", "in", "at", "on", "lead", "leads", "the", "with", "of", "respectively", "(", ")", "flat",
          "inverted", "upright", "negative", "positive", ";", ":", "=", "laterally", "inferiorly", "anteriorly",
          "septally", "also", "too", "likewise"}


def chained(sent: list[Token], prev_end: int, q: Quantity, refs: list) -> bool:
    """Is this value the next in a chain of values of one measure ('0.22 mV in V3, 0.38 mV in V4 and ...')?"""
    inside = {k for r in refs for k in range(r.start, r.end)}
    if prev_end <= 0 or sum(1 for k in range(prev_end, q.start) if k not in inside) > 8:
        return False
    return all(k in inside or sent[k].low in _CHAIN for k in range(prev_end, q.start)) and any(
        k in inside for k in range(prev_end, q.start))


def cycle_before_beat(q: Quantity, sent: list[Token], beat_idx: frozenset[int]) -> bool:
    """A bare number of 250 or more cited right before a beat ('744 before beat 5'): a cycle, not a rate."""
    return q.unit is None and min(q.values) >= 250 and q.end < len(sent) and \
        sent[q.end].low in ("before", "preceding", "ending") and any(k in beat_idx for k in range(q.end, q.end + 4))
