"""Measurement keywords: the words that say what a number measures, with the units each accepts."""
from __future__ import annotations

from dataclasses import dataclass

from tasks.validate.text import Token
from tasks.validate.vocabulary import keyword_phrases

# Kinds: rate, atrial_rate, pr, qrs, qt, qtc, rr, axis, angle, amp, st, sokolow, cornell, beat, duration, age,
# wavedur.  A wave-only keyword ("R wave", "QRS") becomes an amplitude, a duration or an axis depending on the
# unit of the number it owns. The phrases themselves are in tasks/validate/vocabulary.py.
_SINGLE_WAVES = {"P": "p", "R": "r", "S": "s", "Q": "q", "T": "t", "r": "r", "s": "s", "q": "q"}
# a complex named by its waves ("rS (0.21/−0.89 mV)", "qR"): a pair of values is one per wave, in order
_PAIR_WAVES = {"rS": "rs", "RS": "rs", "Rs": "rs", "qR": "qr", "QR": "qr", "qr": "qr"}
_TABLE: dict[tuple[str, ...], tuple[str, str | None]] = {tuple(p.split()): (k, w) for p, k, w in keyword_phrases()}
# the longest keyword starting with each word: most words start none, and are passed over at once
_LONGEST_FROM: dict[str, int] = {}
for _key in _TABLE:
    _LONGEST_FROM[_key[0]] = max(_LONGEST_FROM.get(_key[0], 0), len(_key))

# which kinds may own a number in each unit
UNIT_KINDS = {
    "bpm": {"rate", "atrial_rate"},
    "ms": {"pr", "qrs", "qt", "qtc", "qtc_other", "rr", "wave", "wavedur"},
    "s": {"pr", "qrs", "qt", "qtc", "qtc_other", "rr", "wave", "wavedur", "beat", "duration"},
    "mV": {"wave", "st", "sokolow", "cornell", "cornell_product"},
    "deg": {"axis", "angle", "wave"},
    "years": {"age"},
}
UNIT_KINDS["pct"] = {"rr"}  # "RR varies by less than 5%": the coefficient of variation
UNIT_KINDS["mm"] = UNIT_KINDS["mV"]
UNIT_KINDS["uV"] = UNIT_KINDS["mV"]
UNIT_KINDS["smallbox"] = UNIT_KINDS["ms"] | UNIT_KINDS["mV"]
UNIT_KINDS["largebox"] = UNIT_KINDS["smallbox"]
UNIT_KINDS[None] = {"rate", "atrial_rate", "pr", "qrs", "qt", "qtc", "rr", "axis", "angle", "wave", "st", "rs_ratio",
                    "sokolow", "cornell", "cornell_product", "age"}


@dataclass(frozen=True)
class Keyword:
    kind: str
    wave: str | None
    start: int  # token index in the sentence
    end: int
    text: str

# dashes people (and their editors) type inside hyphenated names: en dash, non-breaking hyphen, minus, em dash
_HYPHENS = {"\u2013": "-", "\u2011": "-", "\u2010": "-", "\u2212": "-", "\u2014": "-"}


def keywords(sent: list[Token]) -> list[Keyword]:
    """Every measurement keyword in a sentence, longest match first, in order."""
    out, i = [], 0
    low = [_HYPHENS.get(t.low, t.low) for t in sent]  # "R–R", "R‑R", "P—P" are "R-R"
    while i < len(sent):
        hit = None
        for n in range(min(_LONGEST_FROM.get(low[i], 0), len(sent) - i), 0, -1):
            key = tuple(low[i:i + n])
            if key in _TABLE:
                hit = (n, *_TABLE[key])
                break
        if hit is None and sent[i].kind == "word" and sent[i].text in _SINGLE_WAVES:
            hit = (1, "wave", _SINGLE_WAVES[sent[i].text])
        elif hit is None and sent[i].kind == "word" and sent[i].text in _PAIR_WAVES:
            hit = (1, "wave", _PAIR_WAVES[sent[i].text])
        if hit is not None and hit[1:] == ("wave", "qrs") and low[i] in ("voltage", "voltages") and i and \
                low[i - 1] in ("high", "low", "ventricular"):
            hit = None  # "left ventricular high voltage", "low voltage": the name of a finding
        if hit is not None:
            n, kind, wave = hit
            out.append(Keyword(kind, wave, i, i + n, " ".join(t.text for t in sent[i:i + n])))
            i += n
        else:
            i += 1
    return _qualify_axes(out, sent)


def _qualify_axes(found: list[Keyword], sent: list[Token]) -> list[Keyword]:
    """'T axis', 'P-wave axis', 'axis of the T wave': the wave next to an axis keyword says which axis."""
    out: list[Keyword] = []
    for k, kw in enumerate(found):
        if kw.kind in ("wavedur", "ampword"):
            prev = out[-1] if out else None
            if prev is not None and prev.kind == "wave" and kw.start - prev.end <= 1:
                out[-1] = Keyword("wave" if kw.kind == "ampword" else "wavedur", prev.wave, prev.start, kw.end,
                                  prev.text + " " + kw.text)
            continue  # alone, "the duration" or "an amplitude" says nothing about which measurement
        if kw.kind == "axis":
            wave = "qrs"
            prev = found[k - 1] if k else None
            nxt = found[k + 1] if k + 1 < len(found) else None
            if prev is not None and prev.kind == "wave" and kw.start - prev.end <= 1:
                wave = prev.wave if prev.wave in ("p", "t", "qrs") else "qrs"
            elif nxt is not None and nxt.kind == "wave" and nxt.start - kw.end <= 2 and nxt.wave in ("p", "t"):
                wave = nxt.wave
            kw = Keyword("axis", wave, kw.start, kw.end, kw.text)
        out.append(kw)
    return out


def resolve(kind: str, wave: str | None, unit: str | None) -> str:
    """The measure a keyword names for a number in this unit (e.g. 'wave' R + mV = amp_r)."""
    if kind == "wave":
        if unit is None and wave == "qrs":
            return "qrs"  # "QRS 76": a bare number after QRS is its duration
        if unit in ("ms", "s"):
            return "qrs" if wave == "qrs" else f"dur_{wave}"
        if unit == "deg":
            return f"axis_{wave}" if wave in ("p", "t", "qrs") else "axis_qrs"
        return f"amp_{wave}"
    if kind == "axis":
        return f"axis_{wave or 'qrs'}"
    if kind == "wavedur":
        return "qrs" if wave == "qrs" else f"dur_{wave}"
    return kind


_LANDMARK_BEFORE = {"precede", "precedes", "preceding", "before", "each", "every", "follow", "follows", "after"}


def landmark(kw: Keyword, sent: list[Token]) -> bool:
    """'P waves precede each QRS in II (0.11 mV)': the QRS named as a landmark in time owns no amplitude."""
    return kw.kind == "wave" and kw.wave == "qrs" and any(
        t.low in _LANDMARK_BEFORE for t in sent[max(0, kw.start - 2):kw.start]) and any(
        k.kind == "wave" and k.wave == "p" for k in keywords(sent[max(0, kw.start - 8):kw.start]))
