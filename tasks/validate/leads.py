"""Lead mentions in an answer: single leads, lists, ranges (V1-V3) and anatomical groups, expanded to leads."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas.records import LEADS_12
from tasks.validate.text import Token, sentences_of

_CANON = {x.lower(): x for x in LEADS_12}
_CANON.update({"di": "I", "dii": "II", "diii": "III", "d1": "I", "d2": "II", "d3": "III"})  # European names
_ROMAN = {"i": "I", "ii": "II", "iii": "III"}
_PRECORDIAL = [f"V{k}" for k in range(1, 7)]
LIMB = ["I", "II", "III", "aVR", "aVL", "aVF"]
# Anatomical lead groups (word sequences, longest first), expanded to the leads they name.
GROUPS: list[tuple[tuple[str, ...], list[str]]] = sorted([
    (("inferior",), ["II", "III", "aVF"]),
    (("inferolateral",), ["II", "III", "aVF", "V5", "V6"]),
    (("lateral",), ["I", "aVL", "V5", "V6"]),
    (("high", "lateral"), ["I", "aVL"]),
    (("low", "lateral"), ["V5", "V6"]),
    (("lateral", "precordial"), ["V5", "V6"]),
    (("left", "precordial"), ["V4", "V5", "V6"]),
    (("left", "sided"), ["I", "aVL", "V5", "V6"]),
    (("anterior",), ["V3", "V4"]),
    (("anterolateral",), ["I", "aVL", "V3", "V4", "V5", "V6"]),
    (("septal",), ["V1", "V2"]),
    (("anteroseptal",), ["V1", "V2", "V3", "V4"]),
    (("right", "precordial"), ["V1", "V2", "V3"]),
    (("right", "sided"), ["aVR", "V1"]),
    (("precordial",), _PRECORDIAL),
    (("chest",), _PRECORDIAL),
    (("limb",), LIMB),
    (("frontal", "plane"), LIMB),
    (("augmented",), ["aVR", "aVL", "aVF"]),
    (("all",), list(LEADS_12)),
    (("every",), list(LEADS_12)),
    (("all", "12"), list(LEADS_12)),
], key=lambda g: -len(g[0]))
_LEAD_NOUNS = {"lead", "leads", "territory", "wall", "derivations"}
_JOINERS = {",", "and", "or", "/", "&", "plus"}
_RANGE = {"-", "–", "—", "to", "through", "thru", "till", "until"}


@dataclass(frozen=True)
class LeadRef:
    leads: tuple[str, ...]  # canonical names (a non-12 lead such as V4R kept as written)
    start: int  # token index in the sentence (first token)
    end: int  # token index after the last token
    group: bool  # named by an anatomical group rather than by lead names
    explicit: tuple[str, ...] = ()  # leads written out by name


def _single(tok: Token, after_lead_word: bool, in_list: bool) -> str | None:
    if tok.kind == "lead":
        return _CANON.get(tok.low, tok.text.upper())
    if tok.kind == "word" and tok.text in ("II", "III"):
        return _ROMAN[tok.low]  # capital II and III are leads wherever they stand
    if tok.kind == "word" and tok.text == "I" and (after_lead_word or in_list):
        return "I"
    if tok.kind == "word" and tok.low in ("ii", "iii") and after_lead_word:
        return _ROMAN[tok.low]
    return None


def _expand(a: str, b: str) -> list[str]:
    order = list(LEADS_12)
    if a in order and b in order and order.index(a) <= order.index(b):
        return order[order.index(a):order.index(b) + 1]
    return [a, b]


_I_BEFORE = {"lead", "leads", "in", "on", "of", "and", "from", "across", "(", "with"}
_I_AFTER = {"shows", "has", "demonstrates", "displays", "reveals", "is", "and", ",", ")", ".", ";", ":", "-", "–", "("}


def _lead_run(sent: list[Token], i: int) -> tuple[list[str], int] | None:
    """A run of lead names from position i (lists and ranges), or None when no lead starts there."""
    after_word = i > 0 and sent[i - 1].low in ("lead", "leads")
    if sent[i].text == "I" and not after_word:  # "in I", "I shows": the lead; "I think": the pronoun
        prev = sent[i - 1].low if i else ""
        nxt = sent[i + 1].low if i + 1 < len(sent) else "."
        after_word = prev in _I_BEFORE and nxt in _I_AFTER or (i == 0 and nxt in ("shows", "has", ":"))
        valued = i + 1 < len(sent) and (sent[i + 1].kind == "num" or (
            sent[i + 1].text in "+-−" and i + 2 < len(sent) and sent[i + 2].kind == "num"))
        after_word = after_word or (valued and (i == 0 or prev in _I_BEFORE | {";", ",", ":"}))  # "; I −0.06"
    first = _single(sent[i], after_word, _roman_in_list(sent, i))
    if first is None:
        return None
    leads, j = [first], i + 1
    while j < len(sent):
        sep = sent[j].low
        if j + 1 < len(sent) and (sep in _JOINERS or sep in _RANGE):
            nxt = sent[j + 1]
            if nxt.low in ("lead", "leads") and j + 2 < len(sent):
                nxt, j = sent[j + 2], j + 1
            name = _single(nxt, True, True)
            if name is not None:
                leads = leads[:-1] + _expand(leads[-1], name) if sep in _RANGE else leads + [name]
                j += 2
                continue
        break
    return leads, j


def _roman_in_list(sent: list[Token], i: int) -> bool:
    """A bare I/II/III counts as a lead when a lead name sits next to it in a list ("II, III and aVF")."""
    for k in (i - 2, i + 2):
        if 0 <= k < len(sent) and sent[k].kind == "lead" and sent[(i + k) // 2].low in _JOINERS | _RANGE:
            return True
    return False


_GROUP_FIRST = {key[0] for key, _ in GROUPS}


def _group_at(sent: list[Token], i: int) -> tuple[list[str], int] | None:
    if sent[i].low not in _GROUP_FIRST:
        return None
    words = [t.low for t in sent[i:i + 4]]
    for key, leads in GROUPS:
        if tuple(words[:len(key)]) == key:
            j = i + len(key)
            if j < len(sent) and sent[j].low in ("-", "–") and j + 1 < len(sent) and sent[j + 1].low in (
                    "sided", "lead", "leads"):
                j += 1 if sent[j + 1].low != "sided" else 2  # "right-sided", "limb-lead T waves"
            if j < len(sent) and sent[j].low in _LEAD_NOUNS | {"precordial", "chest", "limb"}:
                while j < len(sent) and sent[j].low in _LEAD_NOUNS | {"precordial", "chest", "limb"}:
                    j += 1
                return list(leads), j
            if key[0] in ("all", "every"):
                return None
            # "in the inferior leads" without the noun ("inferiorly", "the inferior wall") still names the group
            if j < len(sent) and sent[j].low in ("wall", "territory", "territories", "region"):
                return list(leads), j + 1
            if j < len(sent) and sent[j].text in _WAVE_NAMES and key[0] not in ("all", "every") and any(
                    t.kind == "num" for t in sent[j + 1:j + 5]):
                return list(leads), j  # "limb T low (≤0.08 mV)", "precordial R ≤0.52 mV": the group's waves' values
    return None


_LEAD_START = {"i", "ii", "iii"}
_WAVE_NAMES = {"P", "Q", "R", "S", "T"}  # not ST: "right precordial ST depression" is a finding of its own


def lead_refs(sent: list[Token]) -> list[LeadRef]:
    """Every lead mention in one sentence, lists and ranges as one reference, in order."""
    out, i = [], 0
    while i < len(sent):
        tok = sent[i]
        if tok.kind != "lead" and tok.low not in _LEAD_START and tok.low not in _GROUP_FIRST:
            i += 1
            continue
        run = _lead_run(sent, i)
        if run is not None:
            leads, j = run
            out.append(LeadRef(tuple(dict.fromkeys(leads)), i, j, False, tuple(dict.fromkeys(leads))))
            i = j
            continue
        grp = _group_at(sent, i)
        if grp is not None:
            leads, j = grp
            out.append(LeadRef(tuple(leads), i, j, True))
            i = j
            continue
        i += 1
    return out


_OTHER = {"other", "remaining", "rest"}


def other_leads(start: int, sent: list[Token], before: list[LeadRef]) -> LeadRef | None:
    """'V2 is raised by 0.12 mV; every other lead is within 0.05 mV': every lead but those named before it."""
    for k in range(start - 1, max(-1, start - 7), -1):
        if sent[k].low == "elsewhere":  # "elevation 0.19 mV in V2, elsewhere within ±0.06 mV"
            named = {x for r in before for x in r.leads}
            return LeadRef(tuple(x for x in LEADS_12 if x not in named), k, k + 1, True) if named else None
        if sent[k].low in ("lead", "leads") and k and sent[k - 1].low in _OTHER:
            named = {x for r in before if r.end <= k for x in r.leads}
            if not named:
                return None
            rest = tuple(x for x in LEADS_12 if x not in named)
            return LeadRef(rest, k - 1, k + 1, True)
    return None


_EXCEPT = {("apart", "from"), ("except",), ("except", "in"), ("except", "for"), ("other", "than"),
           ("aside", "from"), ("save", "for"), ("excluding",), ("outside",), ("outside", "of"), ("but", "not"),
           ("sparing",)}


def excepted_leads(end: int, sent: list[Token], refs: list[LeadRef]) -> LeadRef | None:
    """'ST within 0.06 mV of baseline apart from aVR': every lead but those named after 'apart from'."""
    for r in refs:
        if not end <= r.start <= end + 5:
            continue
        words = tuple(t.low for t in sent[max(end, r.start - 2):r.start])
        if any(words[-len(e):] == e for e in _EXCEPT if len(words) >= len(e)):
            rest = tuple(x for x in LEADS_12 if x not in r.leads)
            return LeadRef(rest, r.start, r.end, True)
    return None


def names_other_leads(sent) -> bool:
    """'...; the other leads are within 0.05 mV': which leads are "other" is said before the ';'."""
    return any(t.low in ("lead", "leads") and k and sent[k - 1].low in _OTHER for k, t in enumerate(sent))


@lru_cache(maxsize=64)
def sentence_refs(text: str) -> tuple[tuple[LeadRef, ...], ...]:
    """The lead references of each sentence of a text, in `sentences_of` order (cached: the lead coverage,
    the claim extractor and the finding checks all read them)."""
    return tuple(tuple(lead_refs(list(sent))) for sent in sentences_of(text))
