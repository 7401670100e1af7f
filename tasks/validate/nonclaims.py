"""Numbers that assert nothing about the record (normal ranges and criteria, paper settings, step numbers,
counts) and the beats an answer cites by position ("the 4th beat", "beat 4", "the third complex")."""
from __future__ import annotations

from tasks.validate.comparisons import compared_against
from tasks.validate.quantities import Quantity
from tasks.validate.telegraphic import age_sex_tag
from tasks.validate.text import Token

_REF_STRONG = {"reference", "ref", "uln", "limit", "limits", "cutoff", "cut", "threshold", "thresholds",
               "criterion", "criteria", "defined", "definition", "defines", "define", "nl", "norm",
               "normally", "typically", "usually", "expected", "upper", "lower"}
_REF_FILLER = {"of", "is", "are", ":", "(", "the", "a", "an", "for", "being", "normal", "values", "value", "=",
               "-", "off", "at", "as", "roughly", "about", "approximately", "adults", "in", "be"}
_DEFINITIONAL = _REF_STRONG | {"would", "requires", "required", "require", "qualify", "qualifies",
                               "considered", "generally", "meet", "meets", "meeting", "fulfil", "fulfill",
                               "fulfils", "fulfills", "satisfies", "satisfy", "diagnostic", "traditional", "classic"}
_SETTING_WORDS = {"speed", "gain", "calibration", "calibrated", "paper", "standard", "filter", "sweep", "box",
                  "square", "boxes", "squares", "grid", "represents", "equals", "per", "each"}
_BEAT_WORDS = {"beat", "beats", "complex", "complexes", "cycle", "cycles", "#", "pvc", "pac", "number", "no"}
_BEAT_OR_WAVE = _BEAT_WORDS | {"qrs", "p", "r"}  # built once: read for every token of every sentence
_BEAT_OR_LAST = _BEAT_WORDS | {"one", "qrs", "complex"}
_BEAT_OR_ONE = _BEAT_WORDS | {"one", "ones"}
_BEAT_OR_AFTER = _BEAT_WORDS | {"pause", "after", "follows", "following"}
_COUNT_NOUNS = {"beats": "count_beats", "complexes": "count_beats", "qrs": "count_beats", "cycles": "count_beats",
                "leads": "count_leads", "lead": "count_leads", "channels": "count_leads", "channel": "count_leads"}
_ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth"
    " fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}


def is_reference(q: Quantity, sent: list[Token], depth: list[int], prev_end: int) -> bool:
    """A normal range or criterion aside: '(normal 120-200 ms)', 'upper limit of normal, 440 ms'."""
    if compared_against(q, sent, prev_end):
        return True  # "Sokolow-Lyon 1.95 mV against 3.5 mV"
    if depth[q.start] > 0:
        k = q.start
        while k > 0 and depth[k - 1] >= depth[q.start] and sent[k - 1].text not in "([":
            k -= 1
        first = next((t.low for t in sent[k:q.start] if t.kind == "word"), "")
        if first in _REF_STRONG | {"normal", "nl", "ref", "reference", "uln"}:
            return True
    k = q.start - 1
    while k >= max(prev_end, q.start - 6) and sent[k].low in _REF_FILLER:
        k -= 1
    if k >= max(prev_end, 0) and sent[k].low in _REF_STRONG and k < q.start - 1 or (
            k >= 0 and sent[k].low in _REF_STRONG and k == q.start - 1):
        return True
    lo = max(prev_end, q.start - 5, 0)
    window = {t.low for k, t in enumerate(sent[lo:q.start], lo) if tied(sent, k, q)}
    return (q.shape == "range" or q.comparator is not None) and bool(window & (_REF_STRONG | {"normal"}))


def is_setting(q: Quantity, sent: list[Token]) -> bool:
    if q.unit in ("mm/s", "mm/mV", "hz"):
        return True
    window = sent[max(0, q.start - 6):q.end + 3]
    # "65 beats per minute, QRS 140 ms": the 'per' of a rate unit is no paper setting
    near = {t.low for k, t in enumerate(window) if not (t.low == "per" and k + 1 < len(window)
                                                         and window[k + 1].low in ("minute", "min"))}
    grid = _SETTING_WORDS - {"represents", "equals", "per", "each"}  # "P waves precede each QRS, PR 230 ms": no grid
    return q.unit in ("mm", "ms", "s", "mV", "smallbox", "largebox") and bool(near & grid) and (
        "=" in near or "per" in near or "each" in near or "represents" in near or "equals" in near
        or "speed" in near or "gain" in near or "calibration" in near)


_ENUM_WORDS = {"step", "point", "item", "part", "phase", "stage", "section", "figure", "fig", "table", "question",
               "finding", "observation", "#"}


def enumeration(sent: list[Token], q: Quantity) -> bool:
    """'Step 8:', '1.' or '2)' at the start of a line: numbering, not a measurement."""
    if q.unit is not None or len(q.values) != 1:
        return False
    if q.start > 0 and sent[q.start - 1].low in _ENUM_WORDS:
        return True
    nxt = sent[q.end].text if q.end < len(sent) else ""
    first = all(t.text in "*#_>" for t in sent[:q.start])  # "**1. Rhythm.**", "### 2) Intervals"
    if first and (nxt in (")", ".", ":") or q.end == len(sent)):
        return True
    return _bracketed_marker(sent, q)


def _bracketed_marker(sent: list[Token], q: Quantity) -> bool:
    """'(1) rate 114 bpm; (2) cycle lengths ...': a small whole number alone in brackets opening a clause."""
    v = q.values[0]
    if not (v == int(v) and 1 <= v <= 30 and "." not in q.text) or q.start == 0 or q.end + 1 >= len(sent):
        return False
    if sent[q.start - 1].text not in "([" or sent[q.end].text not in ")]":
        return False
    before = sent[q.start - 2] if q.start >= 2 else None
    opens = before is None or before.text in (":", ";", ",", ".", "-", "—") or before.low in ("and", "then", "step")
    return opens and sent[q.end + 1].kind in ("word", "lead")


_NUMBER_LIST = {"and", ",", "or", "-", "–", "to", "&", "#"}


def beat_ref(sent: list[Token], q: Quantity) -> bool:
    """A beat number: 'beat 4', 'beats 10 and 13', 'beats 5–6 and 9', 'beats #5, #6'."""
    if q.unit is not None or q.start == 0:
        return False
    if sent[q.start - 1].text == "#" and not any(t.low in _BEAT_WORDS - {"#", "no", "number"} for t in sent):
        return False  # "finding #3": a numbered item; "complex #3", "PVCs at #5 and #9": beats
    if sent[q.start - 1].low in _BEAT_WORDS or _arrow_pair(sent, q.start) or _arrow_pair(sent, q.start - 2):
        return True
    if not _beat_sized(sent[q.value_pos[0]]):
        return False  # "before beat 2, 650 before beat 3": 650 is no beat of a 10-s strip
    k, crossed = q.start - 1, 0
    while k >= 0 and crossed < 12:
        if sent[k].kind == "num" or sent[k].low in _NUMBER_LIST:
            k, crossed = k - 1, crossed + 1
        elif (opened := _aside_after_number(sent, k)) is not None:
            k, crossed = opened - 1, crossed + 1  # "beats 8, 16 (RR 426 ms) and 19": the list goes on past the aside
        else:
            break
    return k >= 0 and crossed > 1 and sent[k].low in _BEAT_WORDS and any(
        t.kind == "num" for t in sent[k + 1:q.start])


def _aside_after_number(sent: list[Token], k: int) -> int | None:
    """The index of the '(' of a bracketed aside closing at token k and written right after a number, else None."""
    if sent[k].text != ")":
        return None
    j = k - 1
    while j >= 0 and sent[j].text not in "()":
        j -= 1
    return j if j > 0 and sent[j].text == "(" and sent[j - 1].kind == "num" else None


def _beat_sized(tok: Token) -> bool:
    """Could this number be a beat's position? Plain digits below 100: a 10-s strip has fewer beats."""
    return tok.text.isdigit() and int(tok.text) < 100


def count_of(sent: list[Token], q: Quantity) -> str | None:
    if q.unit is not None or q.comparator is not None:
        return None
    nxt = sent[q.end].low if q.end < len(sent) else ""
    if nxt == "-" and q.end + 1 < len(sent):
        nxt = sent[q.end + 1].low
    return _COUNT_NOUNS.get(nxt)


def _beat_word_follows(sent: list[Token], i: int) -> bool:
    after = sent[i + 1:i + 3]
    if after and after[0].text == "," and not (len(after) > 1 and (after[1].low in _ORDINALS or after[1].kind == "ord")):
        return False  # "Third, QRS 0.092 s": a step of the reasoning, not the third beat
    for t in sent[i + 1:i + 5]:
        if t.low in _BEAT_OR_WAVE:
            return True
        if not (t.low in _ORDINALS or t.low in ("and", ",", "or", "-") or t.kind == "ord"):
            return False
    return False


def _arrow_pair(sent: list[Token], i: int) -> bool:
    """'9→10' starting at token i: the cycle from beat 9 to beat 10 (two plain beat numbers and an arrow)."""
    return 0 <= i and i + 2 < len(sent) and sent[i + 1].text == "→" and all(
        sent[j].kind == "num" and sent[j].text.isdigit() and int(sent[j].text) < 100 for j in (i, i + 2))
    # "RR 350 → 674": a 10-s strip has fewer than 100 beats, so these are values


def beat_positions(sent: list[Token]) -> list[tuple[int, int]]:
    """(token index, 1-based beat) for each beat named by position ('the 4th beat', 'beat 4', 'third complex')."""
    out = []
    arrows = any(t.text == "→" for t in sent)  # '9→10': without an arrow no token starts a cycle pair
    beat_talk = any(t.low in ("beat", "beats", "complex", "complexes", "cycle", "cycles") for t in sent)
    for i, t in enumerate(sent):
        nxt = sent[i + 1].low if i + 1 < len(sent) else ""
        if t.kind == "ord" and (nxt in _BEAT_OR_WAVE or _beat_word_follows(sent, i) or (
                beat_talk and nxt in ("(", ",", "at", "one"))):
            out.append((i, int("".join(c for c in t.text if c.isdigit()))))
        elif t.low in _ORDINALS and (_beat_word_follows(sent, i) or (
                beat_talk and i and sent[i - 1].low == "the" and nxt in ("(", ",", "at", ")", ".", ";", ""))):
            out.append((i, _ORDINALS[t.low]))  # "before the fourth (2.69 s)", "(before the ninth)": the noun elided
        elif t.low in ("last", "final", "penultimate") and (nxt in _BEAT_OR_LAST or (
                beat_talk and i and sent[i - 1].low == "the" and nxt in ("(", ",", "at"))):
            out.append((i, 0))  # "the last beat at 9.62 s": a beat, but its number is not written (0: unbound)
        elif t.kind == "num" and i and sent[i - 1].low in _BEAT_WORDS and t.text.isdigit():
            out.append((i, int(t.text)))  # a beat number is plain digits: "complex 1,236 ms" is a value
        elif t.kind == "num" and i > 1 and sent[i - 1].low in ("and", ",", "or") and out and out[-1][0] == i - 2 \
                and _beat_sized(t):
            out.append((i, int(t.text)))  # "beats 10 and 13"
        elif arrows and _arrow_pair(sent, i - 2):
            out.append((i, int(t.text)))  # "cycle 9→10 is 348 ms": the RR that ends at beat 10
    return [(i, b) for i, b in out if not (arrows and _arrow_pair(sent, i))]  # a cycle's first beat is not cited


_AGE_BEFORE = {"aged", "age", "ages"}
_AGE_WORDS = {"variant", "young", "man", "woman", "male", "female", "boy", "girl", "child", "patient", "adult",
              "athlete", "person", "subject", "infant", "adolescent", "teenager", "elderly"}


def age_at(sent: list[Token], q: Quantity) -> bool:
    """'aged 29', 'age 29', 'a normal variant at 29.': a bare whole number that gives the patient's age."""
    v = q.values[0]
    if age_sex_tag(sent, q):
        return True  # "78M."
    if q.unit is not None or len(q.values) != 1 or "." in q.text or not 1 <= v <= 110 or q.start == 0:
        return False
    prev = sent[q.start - 1].low
    if prev in _AGE_BEFORE:
        return True
    ends = q.end >= len(sent) or sent[q.end].kind == "punct" and sent[q.end].text not in ("-", "/", "%", "°")
    if prev != "at" or not ends or not any(t.low in _AGE_WORDS for t in sent):
        return False
    k = q.start - 1
    while k > 0 and sent[k - 1].text not in (",", ";", "(", "—", "–", ":"):
        k -= 1
    return not any(t.low in _MEASURE_WORDS for t in sent[k:q.start])  # "the patient's rate is steady at 65"


_MEASURE_WORDS = {"rate", "hr", "pulse", "pr", "qrs", "qt", "qtc", "axis", "interval", "intervals", "duration", "rr",
                  "voltage", "amplitude", "wave", "waves", "st", "segment", "elevation", "depression", "elevated",
                  "depressed", "lead", "leads", "beat", "beats", "complex", "peak", "time", "s", "r", "p", "q", "t"}



_CLAUSE_BREAKS = {",", ";", "and", "but", "while", "whereas"}
_SUBJECT_WORDS = _MEASURE_WORDS - {"s", "time", "peak"} | {"segment", "segments", "voltages", "progression"}


def tied(sent: list[Token], k: int, q: Quantity) -> bool:
    """Is the word at token k about this quantity? Not when a clause break and another subject lie between them:
    'R waves rise normally and the ST segments sit within 0.03 mV' ('normally' is said of the R waves)."""
    lo, hi = (k + 1, q.start) if k < q.start else (q.end, k)
    span = sent[lo:hi]
    for j, t in enumerate(span):
        if t.low in _CLAUSE_BREAKS and any(u.kind == "lead" or u.low in _SUBJECT_WORDS for u in span[j + 1:]):
            return False
    return True
