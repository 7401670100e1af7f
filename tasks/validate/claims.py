"""Find the grounded claims in an interpretation: numbers with units and what they measure, and named leads."""
from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.records import LEADS_12

# A number with a unit. Degrees: "°", "deg", "degrees". Signs: +, -, unicode minus.
_NUM = r"(?P<num>[+\-−]?\d+(?:\.\d+)?)"
_UNIT = r"(?P<unit>ms|msec|milliseconds?|s|sec|seconds?|bpm|beats per minute|/min|mV|millivolts?|mm|°|deg(?:rees?)?)"
NUMBER_RE = re.compile(_NUM + r"\s*" + _UNIT + r"(?![A-Za-z])")

_UNIT_KIND = {"ms": "ms", "msec": "ms", "millisecond": "ms", "milliseconds": "ms", "s": "s", "sec": "s",
              "second": "s", "seconds": "s", "bpm": "bpm", "beats per minute": "bpm", "/min": "bpm",
              "mv": "mV", "millivolt": "mV", "millivolts": "mV", "mm": "mm", "°": "deg", "deg": "deg",
              "degree": "deg", "degrees": "deg"}

# keyword -> measurement; the last keyword before a number (in its clause) says what it measures
_KEYWORDS = [
    (r"\bqtc\b|\bcorrected qt\b", "qtc"),
    (r"\bqt\b", "qt"),
    (r"\bpr\b|\bpq\b|\bav conduction\b", "pr"),
    (r"\bqrs (?:duration|width|complex(?:es)? (?:of|measuring|lasting))|\bqrs\b(?! axis)", "qrs"),
    (r"\brr\b|\bcycle length\b|\br-r\b", "rr"),
    (r"\baxis\b", "axis"),
    (r"\bheart rate\b|\brate\b|\bbpm\b|\bpulse\b", "hr"),
    (r"\bst(?:[- ]segment)?\s+(?:elevation|depression|deviation|level)|\bst\b", "st"),
    (r"\bp[- ]waves?\b", "p_amp"),
    (r"\bq[- ]waves?\b", "q_amp"),
    (r"\br[- ]waves?\b|\bvoltage\b", "r_amp"),
    (r"\bs[- ]waves?\b", "s_amp"),
    (r"\bt[- ]waves?\b", "t_amp"),
]
_KEYWORD_RES = [(re.compile(p, re.I), k) for p, k in _KEYWORDS]
_COMPARATORS = [
    (re.compile(r"(below|under|less than|lower than|slower than|shorter than|<|more negative than)\s*$", re.I), "lt"),
    (re.compile(r"(above|over|greater than|more than|exceeds?|exceeding|faster than|longer than|"
                r"at least|>|≥|more positive than)\s*$", re.I), "gt"),
    (re.compile(r"(beyond|past|outside)\s*$", re.I), "beyond"),  # further from zero than the threshold
]
_CLAUSE_BREAK = re.compile(r"\.(?!\d)|[;:!?]|,\s+(?:and|while|whereas|but)\b|\band\b(?=\s+(?:the|a|an|lead)\b)", re.I)

_LEAD_TOKEN = r"(?:aVR|aVL|aVF|AVR|AVL|AVF|V[1-6]|III|II|I)"
_LEAD_LIST_RE = re.compile(
    r"\b(?i:leads?)\s+(?P<list>" + _LEAD_TOKEN + r"(?:\s*(?:,|and|or|/|to|through|-|–|—)\s*" + _LEAD_TOKEN + r")*)\b")
_PRECORDIAL_RE = re.compile(r"(?<![A-Za-z0-9])(aVR|aVL|aVF|V[1-9]R?)(?![A-Za-z0-9])")
_RANGE_RE = re.compile(r"V([1-6])\s*(?:-|–|—|to|through)\s*V([1-6])")
_SENTENCE_BREAK = re.compile(r"\.(?!\d)|[;:!?]")
_LEAD_CANON = {x.lower(): x for x in LEADS_12}
_SIGN_WORDS = {"elevation": "elevation", "elevated": "elevation", "above": "elevation",
               "depression": "depression", "depressed": "depression", "below": "depression"}
# "0.12 mV in V5", "1.1 mV in lead II": a lead right after the number owns it
_TRAILING_LEAD_RE = re.compile(r"\s*(?:\)\s*)?(?:in|at|on)\s+(?:leads?\s+)?(" + _LEAD_TOKEN + r")(?![A-Za-z0-9])")


@dataclass(frozen=True)
class NumericClaim:
    value: float
    unit: str  # ms, s, bpm, mV, mm, deg
    measure: str | None  # hr, pr, qrs, qt, qtc, rr, axis, st, p_amp, ... or None when unattributable
    lead: str | None
    comparator: str | None  # "lt" / "gt" for threshold statements, None for a measured value
    sign_word: str | None  # "elevation" / "depression" for ST claims
    span: tuple[int, int]
    text: str


def _clause_start(text: str, pos: int) -> int:
    start = 0
    for m in _CLAUSE_BREAK.finditer(text, 0, pos):
        start = m.end()
    return start


def _clause_end(text: str, pos: int) -> int:
    m = _CLAUSE_BREAK.search(text, pos)
    return m.start() if m else len(text)


def _leads_in(fragment: str) -> list[tuple[int, str]]:
    """Named leads in a fragment, with their positions (roman numerals only after 'lead(s)')."""
    found = [(m.start(), _LEAD_CANON.get(m.group(1).lower(), m.group(1).upper()))
             for m in _PRECORDIAL_RE.finditer(fragment)]
    for m in _LEAD_LIST_RE.finditer(fragment):
        for t in re.finditer(_LEAD_TOKEN, m.group("list")):
            found.append((m.start("list") + t.start(), _LEAD_CANON[t.group(0).lower()]))
    return sorted(set(found))


def named_leads(text: str) -> set[str]:
    """Every lead the text names, with V-ranges (V2-V4) expanded."""
    leads = {lead for _, lead in _leads_in(text)}
    for m in _RANGE_RE.finditer(text):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        leads |= {f"V{k}" for k in range(lo, hi + 1)}
    return leads


def _attribute(before: str) -> str | None:
    best, best_pos = None, -1
    for rx, kind in _KEYWORD_RES:
        for m in rx.finditer(before):
            if m.start() > best_pos:
                best, best_pos = kind, m.start()
    return best


def _respectively(text: str, claims: list[NumericClaim]) -> list[NumericClaim]:
    """'leads I and II show R waves of 0.9 and 1.2 mV respectively': pair the listed leads with the numbers in order."""
    out = list(claims)
    for m in re.finditer(r"respectively", text, re.I):
        start = max((b.end() for b in _SENTENCE_BREAK.finditer(text, 0, m.start())), default=0)
        idx = [i for i, c in enumerate(out) if start <= c.span[0] < m.start() and c.unit in ("mV", "mm")]
        leads = [lead for pos, lead in _leads_in(text[start:m.start()]) if start + pos < out[idx[0]].span[0]] if idx else []
        if idx and len(leads) == len(idx):
            for i, lead in zip(idx, leads):
                c = out[i]
                out[i] = NumericClaim(c.value, c.unit, c.measure, lead, c.comparator, c.sign_word, c.span, c.text)
    return out


def numeric_claims(text: str) -> list[NumericClaim]:
    """Every number with a unit, attributed to the measurement its clause talks about."""
    claims = []
    for m in NUMBER_RE.finditer(text):
        start = _clause_start(text, m.start())
        before = text[start:m.start()]
        after = text[m.end():_clause_end(text, m.end())]
        unit = _UNIT_KIND[m.group("unit").lower()] if m.group("unit").lower() in _UNIT_KIND else m.group("unit")
        measure = _attribute(before)
        comp = next((c for rx, c in _COMPARATORS if rx.search(before)), None)
        trailing = _TRAILING_LEAD_RE.match(after)
        leads_before = _leads_in(before)
        if trailing:
            lead = _LEAD_CANON[trailing.group(1).lower()]
        else:
            lead = leads_before[-1][1] if leads_before else None
        sign = re.search(r"(elevation|depression|elevated|depressed)", before + after, re.I) or \
            re.match(r"\s*(above|below) (?:the )?(?:baseline|isoelectric)", after, re.I)
        value = float(m.group("num").replace("−", "-"))
        sign_word = _SIGN_WORDS.get(sign.group(1).lower()) if sign else None
        claims.append(NumericClaim(value, unit, measure, lead, comp, sign_word,
                                   (m.start(), m.end()), m.group(0)))
    return _respectively(text, claims)
