"""A list of values written beside a list of measurement names ("PR, QRS and QT of 260, 140 and 500 ms",
"a Q of −0.84 mV and 0.11 mV ST elevation"): which name each value belongs to."""
from __future__ import annotations

from dataclasses import replace

from tasks.validate.keywords import Keyword, resolve
from tasks.validate.quantities import Quantity
from tasks.validate.text import Token

_PAIR_GLUE = {",", "and", "/", "&", "or", "interval", "intervals", "duration", "durations", "the", "wave", "waves",
              "segment", "amplitude", "amplitudes", "-", "–"}


_LIST_MARKS = {",", "and", "/", "&", "or"}
_PAIR_NEAR = {"of", "is", "are", "was", "were", ":", "=", "at", "measure", "measures", "measured", "measuring",
              "respectively", "all", "both", "intervals", "interval", "durations", "duration", "(", ")", "values", "for",
              "the", ",", "about", "approximately", "around", "roughly", "~", "≈", "then", "being", "in", "ms", "s",
              "*", "_", "|", "-", "–", "—", "ratio", "value", "given", "as", '"', "'"}


def pair(q: Quantity, comp: list[Keyword], prev_end: int, sent: list[Token]) -> list[Keyword] | None:
    """A list of n values written after (or before) a list of n measurement names: pair them in order."""
    n = len(q.values)
    before = [k for k in comp if prev_end <= k.start and k.end <= q.start]
    after = [k for k in comp if k.start >= q.end]
    for run, gap in ((before[-n:], range(before[-1].end, q.start) if before else ()),
                     (after[:n], range(q.end, after[0].start) if after else ())):
        listed = all(sent[i].low in _PAIR_GLUE for a, b in zip(run, run[1:]) for i in range(a.end, b.start)) and all(
            _apart(a, b, sent) for a, b in zip(run, run[1:]))
        near = all(sent[i].low in _PAIR_NEAR for i in gap)  # "PR, QRS and QT of 260, 140 and 500 ms"
        if len(run) == n and listed and near and len({resolve(k.kind, k.wave, q.unit) for k in run}) == n:
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
