"""Measurement keywords: the words that say what a number measures, with the units each accepts."""
from __future__ import annotations

from dataclasses import dataclass

from tasks.validate.layterms import LAY_KEYWORDS
from tasks.validate.telegraphic import TELEGRAPHIC_KEYWORDS
from tasks.validate.text import Token

# (token sequence, kind, wave). Kinds: rate, atrial_rate, pr, qrs, qt, qtc, rr, axis, angle, amp, st,
# sokolow, cornell, beat, duration, age, wavedur.  A wave-only keyword ("R wave", "QRS") becomes an
# amplitude, a duration or an axis depending on the unit of the number it owns.
_RAW: list[tuple[str, str, str | None]] = [
    ("heart rate", "rate", None), ("rate", "rate", None), ("hr", "rate", None), ("pulse", "rate", None),
    ("ventricular rate", "rate", None), ("ventricular response", "rate", None), ("frequency", "rate", None),
    ("tachycardia", "rate", None), ("bradycardia", "rate", None), ("tachycardic", "rate", None),
    ("bradycardic", "rate", None), ("rates", "rate", None), ("vr", "rate", None),
    ("atrial rate", "atrial_rate", None), ("atrial rates", "atrial_rate", None), ("flutter rate", "atrial_rate", None),
    ("p - p rate", "atrial_rate", None), ("atrial activity", "atrial_rate", None), ("flutter waves", "atrial_rate", None),
    ("pr", "pr", None), ("pq", "pr", None), ("p - r", "pr", None), ("p r", "pr", None), ("av conduction", "pr", None),
    ("atrioventricular conduction", "pr", None), ("av delay", "pr", None), ("pri", "pr", None),
    ("qrs", "wave", "qrs"), ("qrsd", "qrs", None), ("qrs duration", "qrs", None), ("qrs width", "qrs", None),
    ("complexes", "wave", "qrs"), ("narrow", "qrs", None), ("wide", "qrs", None), ("broad", "qrs", None),
    ("widened", "qrs", None), ("ventricular depolarization", "qrs", None), ("ventricular depolarisation", "qrs", None),
    ("complex", "wave", "qrs"), ("conduction", "qrs", None), ("deflection", "wave", "qrs"),
    ("deflections", "wave", "qrs"),
    ("qt", "qt", None), ("q - t", "qt", None), ("uncorrected", "qt", None),
    ("qtc", "qtc", None), ("qtcb", "qtc", None), ("qtcf", "qtc", None), ("qt c", "qtc", None),
    ("corrected qt", "qtc", None), ("qt corrected", "qtc", None), ("corrected", "qtc", None), ("bazett", "qtc", None),
    ("fridericia", "qtc", None), ("qtc interval", "qtc", None), ("rate - corrected", "qtc", None),
    ("rate - corrected qt", "qtc", None), ("rate corrected qt", "qtc", None), ("heart - rate - corrected qt", "qtc", None),
    ("corrected qt interval", "qtc", None), ("qt corrected for rate", "qtc", None), ("qt ( corrected )", "qtc", None),
    # "540 ms after Bazett correction": the correction names the QTc, not an RR ("after" alone is a cycle word)
    ("after bazett", "qtc", None), ("after bazett correction", "qtc", None), ("after correction", "qtc", None),
    ("after fridericia", "qtc", None), ("after fridericia correction", "qtc", None), ("after correcting", "qtc", None),
    ("after rate correction", "qtc", None), ("after rate - correction", "qtc", None),
    ("hodges", "qtc_other", None), ("framingham", "qtc_other", None), ("qtch", "qtc_other", None),
    ("qtcfr", "qtc_other", None), ("qtcfram", "qtc_other", None), ("qtchod", "qtc_other", None),
    ("rr", "rr", None), ("r - r", "rr", None), ("cycle length", "rr", None), ("cycle lengths", "rr", None),
    ("interbeat", "rr", None), ("inter - beat", "rr", None), ("beat - to - beat", "rr", None),
    ("coupling interval", "rr", None), ("pause", "rr", None), ("pauses", "rr", None),
    ("coupling intervals", "rr", None), ("pp", "rr", None), ("p - p", "rr", None),
    ("interval between", "rr", None), ("intervals between", "rr", None), ("r - to - r", "rr", None),
    ("axis", "axis", None), ("axes", "axis", None), ("vector", "axis", None),
    ("qrs - t angle", "angle", None), ("qrs-t angle", "angle", None),
    ("p wave", "wave", "p"), ("p waves", "wave", "p"), ("p - wave", "wave", "p"), ("p - waves", "wave", "p"),
    ("r wave", "wave", "r"), ("r waves", "wave", "r"), ("r - wave", "wave", "r"), ("r - waves", "wave", "r"),
    ("s wave", "wave", "s"), ("s waves", "wave", "s"), ("s - wave", "wave", "s"), ("s - waves", "wave", "s"),
    ("q wave", "wave", "q"), ("q waves", "wave", "q"), ("q - wave", "wave", "q"), ("q - waves", "wave", "q"),
    ("t wave", "wave", "t"), ("t waves", "wave", "t"), ("t - wave", "wave", "t"), ("t - waves", "wave", "t"),
    ("qs", "wave", "q"), ("qs complex", "wave", "q"), ("qs complexes", "wave", "q"), ("qs wave", "wave", "q"),
    ("r'", "wave", "r"), ("r peak", "wave", "r"), ("r amplitude", "wave", "r"),
    ("st", "st", None), ("st segment", "st", None), ("st segments", "st", None), ("st - segment", "st", None),
    ("st - segments", "st", None), ("j point", "st", None), ("j - point", "st", None), ("st level", "st", None),
    ("st elevation", "st", None), ("st depression", "st", None), ("st deviation", "st", None),
    ("ste", "st", None), ("std", "st", None), ("twi", "wave", "t"), ("stes", "st", None),
    # "mild depression in II (−0.15 mV)": the level of a segment, named without "ST"
    ("depression", "st", None), ("depressions", "st", None), ("elevation", "st", None), ("elevations", "st", None),
    ("depressed", "st", None), ("elevated", "st", None), ("mirror image", "st", None), ("reciprocal", "st", None),
    ("qrs amplitude", "wave", "qrs"), ("qrs voltage", "wave", "qrs"), ("voltage", "wave", "qrs"),
    ("voltages", "wave", "qrs"), ("qrs amplitudes", "wave", "qrs"), ("peak - to - peak", "wave", "qrs"),
    ("r / s ratio", "rs_ratio", None), ("r : s ratio", "rs_ratio", None), ("r / s - ratio", "rs_ratio", None),
    ("r - to - s ratio", "rs_ratio", None), ("r / s ratios", "rs_ratio", None),
    ("sokolow", "sokolow", None), ("sokolow - lyon", "sokolow", None), ("cornell", "cornell", None),
    # "Sokolow-Lyon voltage is 1.97 mV": the index, not a QRS voltage
    ("sokolow - lyon voltage", "sokolow", None), ("sokolow voltage", "sokolow", None),
    ("cornell voltage", "cornell", None), ("sokolow - lyon index", "sokolow", None), ("cornell index", "cornell", None),
    ("beat", "beat", None), ("beats", "beat", None), ("pvc", "beat", None), ("pac", "beat", None),
    ("premature", "beat", None), ("ectopic", "beat", None),
    ("early", "rr", None), ("after", "rr", None), ("cycle", "rr", None), ("cycles", "rr", None), ("prematurely", "rr", None), ("after only", "rr", None),
    ("recording", "duration", None), ("tracing", "duration", None), ("strip", "duration", None),
    ("record", "duration", None), ("ecg", "duration", None), ("electrocardiogram", "duration", None),
    ("old", "age", None), ("aged", "age", None), ("age", "age", None), ("patient", "age", None),
    ("duration", "wavedur", None), ("width", "wavedur", None), ("durations", "wavedur", None),
    ("amplitude", "ampword", None), ("amplitudes", "ampword", None), ("height", "ampword", None),
    ("depth", "ampword", None),
]
_SINGLE_WAVES = {"P": "p", "R": "r", "S": "s", "Q": "q", "T": "t", "r": "r", "s": "s", "q": "q"}
# a complex named by its waves ("rS (0.21/−0.89 mV)", "qR"): a pair of values is one per wave, in order
_PAIR_WAVES = {"rS": "rs", "RS": "rs", "Rs": "rs", "qR": "qr", "QR": "qr", "qr": "qr"}
_RAW += LAY_KEYWORDS + TELEGRAPHIC_KEYWORDS  # "from the upper to the lower chambers", "the main beat"
_TABLE: dict[tuple[str, ...], tuple[str, str | None]] = {tuple(p.split()): (k, w) for p, k, w in _RAW}
_MAXLEN = max(len(k) for k in _TABLE)
# the longest keyword starting with each word: most words start none, and are passed over at once
_LONGEST_FROM: dict[str, int] = {}
for _key in _TABLE:
    _LONGEST_FROM[_key[0]] = max(_LONGEST_FROM.get(_key[0], 0), len(_key))

# which kinds may own a number in each unit
UNIT_KINDS = {
    "bpm": {"rate", "atrial_rate"},
    "ms": {"pr", "qrs", "qt", "qtc", "qtc_other", "rr", "wave", "wavedur"},
    "s": {"pr", "qrs", "qt", "qtc", "qtc_other", "rr", "wave", "wavedur", "beat", "duration"},
    "mV": {"wave", "st", "sokolow", "cornell"},
    "deg": {"axis", "angle", "wave"},
    "years": {"age"},
}
UNIT_KINDS["pct"] = {"rr"}  # "RR varies by less than 5%": the coefficient of variation
UNIT_KINDS["mm"] = UNIT_KINDS["mV"]
UNIT_KINDS["uV"] = UNIT_KINDS["mV"]
UNIT_KINDS["smallbox"] = UNIT_KINDS["ms"] | UNIT_KINDS["mV"]
UNIT_KINDS["largebox"] = UNIT_KINDS["smallbox"]
UNIT_KINDS[None] = {"rate", "atrial_rate", "pr", "qrs", "qt", "qtc", "rr", "axis", "angle", "wave", "st", "rs_ratio",
                    "sokolow", "cornell", "age"}


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
