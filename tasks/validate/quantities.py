"""Numbers as teachers write them: values with units (any case, hyphenated, shared by a list), signs,
ranges, lists, slashes, approximations and comparators, as one Quantity per written group."""
from __future__ import annotations

from dataclasses import dataclass

from tasks.validate.text import Token, number_value
from tasks.validate.vocabulary import unit_spellings

# unit words (lower case token sequences) -> canonical unit, longest first (tasks/validate/vocabulary.py)
_UNITS: list[tuple[tuple[str, ...], str]] = sorted(unit_spellings(), key=lambda u: -len(u[0]))
_UNITS_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}  # same longest-first order, per first word
for _words, _unit in _UNITS:
    _UNITS_BY_FIRST.setdefault(_words[0], []).append((_words, _unit))
_BEAT_NOUNS = {"#", "beat", "beats", "complex", "complexes", "cycle", "cycles", "no", "number"}
_SIGNS = {"-": -1.0, "−": -1.0, "–": -1.0, "+": 1.0}
_RANGE_SEPS = {"to", "-", "–", "—", "through", "thru", "until", "till"}
_LIST_SEPS = {",", "and", "or", "/", "&", "versus", "vs", "then", "respectively"}
_COMPARATORS: list[tuple[tuple[str, ...], str]] = sorted([
    (("<",), "lt"), (("<", "="), "le"), (("≤",), "le"), (("=<",), "le"), ((">",), "gt"), ((">", "="), "ge"),
    (("≥",), "ge"), (("less", "than"), "lt"), (("lower", "than"), "lt"), (("shorter", "than"), "lt"),
    (("slower", "than"), "lt"), (("narrower", "than"), "lt"), (("smaller", "than"), "lt"), (("under",), "lt"),
    (("below",), "lt"), (("beneath",), "lt"), (("up", "to"), "le"), (("at", "most"), "le"),
    (("no", "more", "than"), "le"), (("not", "more", "than"), "le"), (("not", "exceeding"), "le"),
    (("no", "greater", "than"), "le"), (("not", "above"), "le"), (("not", "over"), "le"), (("never", "above"), "le"),
    (("above",), "gt"), (("over",), "gt"), (("greater", "than"), "gt"), (("more", "than"), "gt"),
    (("higher", "than"), "gt"), (("longer", "than"), "gt"), (("wider", "than"), "gt"), (("faster", "than"), "gt"),
    (("larger", "than"), "gt"), (("exceeding",), "gt"), (("exceeds",), "gt"), (("exceed",), "gt"),
    (("in", "excess", "of"), "gt"), (("at", "least"), "ge"), (("beyond",), "beyond"), (("past",), "beyond"),
    (("outside",), "beyond"), (("within",), "within"), (("inside",), "within"), (("less", "negative", "than"), "gt"),
    (("more", "negative", "than"), "lt"), (("under", "the"), "lt"), (("above", "the"), "gt"),
    (("fails", "to", "reach"), "lt"), (("fail", "to", "reach"), "lt"), (("failing", "to", "reach"), "lt"),
    (("falls", "short", "of"), "lt"), (("fall", "short", "of"), "lt"), (("falling", "short", "of"), "lt"),
    (("short", "of"), "lt"), (("does", "not", "reach"), "lt"), (("do", "not", "reach"), "lt"),
    (("doesn't", "reach"), "lt"), (("don't", "reach"), "lt"), (("not", "reaching"), "lt"), (("never", "reaches"), "lt"),
    (("does", "not", "exceed"), "le"), (("do", "not", "exceed"), "le"), (("doesn't", "exceed"), "le"),
    (("not", "exceed"), "le"), (("surpassing",), "gt"), (("surpasses",), "gt"), (("topping",), "gt"),
    (("reaching", "at", "least"), "ge"),
    (("beneath", "the"), "lt"), (("over", "the"), "gt"), (("exceeding", "the"), "gt"), (("exceeds", "the"), "gt"),
], key=lambda c: -len(c[0]))
_COMPARATORS_BY_LAST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _phrase, _comp in _COMPARATORS:  # longest first within each last word, as in _COMPARATORS
    _COMPARATORS_BY_LAST.setdefault(_phrase[-1], []).append((_phrase, _comp))
_POST_COMPARATORS = {("or", "more"): "ge", ("or", "greater"): "ge", ("or", "above"): "ge", ("or", "longer"): "ge",
                     ("or", "less"): "le", ("or", "below"): "le", ("or", "shorter"): "le", ("and", "above"): "ge",
                     ("and", "below"): "le", ("or", "higher"): "ge", ("or", "lower"): "le"}
_NEGATE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "within": "beyond", "beyond": "within"}
_APPROX = {"about", "approximately", "approx", "around", "roughly", "~", "≈", "circa", "ca", "nearly", "almost",
           "some", "close", "near", "approaching", "borderline", "estimated", "order"}
_SKIP_BEFORE = {"of", "is", "are", "was", "were", "at", "a", "an", "the", "just", "only", "measuring", "measures",
                "measured", "be", "being", "to", "by", "with", ":", "=", "still", "well", "slightly", "clearly",
                "barely", "remains", "remain", "stays", "stay", "sits", "lies"}


@dataclass(frozen=True)
class Quantity:
    values: tuple[float, ...]
    unit: str | None  # canonical unit, None when written without one
    shape: str  # single, range, list, ratio
    start: int  # token index of the first token (sign included) in its sentence
    end: int  # token index after the last token (unit included)
    value_pos: tuple[int, ...]  # token index of each number
    comparator: str | None = None  # lt, le, gt, ge, within, beyond
    approx: bool = False
    span: tuple[int, int] = (0, 0)  # characters in the answer
    text: str = ""


def _value(sent: list[Token], i: int) -> tuple[float, int] | None:
    """The signed value of the number at i (a sign attached before it), and the index of its first token."""
    tok = sent[i]
    if tok.kind != "num":
        return None
    v = number_value(tok.text)
    if i > 0 and sent[i - 1].text in _SIGNS and sent[i - 1].end == tok.start:
        before = sent[i - 2] if i > 1 else None
        joined = before is not None and before.end == sent[i - 1].start
        if before is None or before.kind not in ("num", "lead", "ord", "glued") or not joined:
            if not (sent[i - 1].text == "–" and before is not None and before.kind == "num"):
                return _SIGNS[sent[i - 1].text] * v, i - 1
    return v, i


def unit_at(sent: list[Token], j: int) -> tuple[str, int] | None:
    """The unit written at j (after an optional hyphen: "250-ms"), and the index after it."""
    if j < len(sent) and sent[j].text == "-" and j + 1 < len(sent) and sent[j - 1].end == sent[j].start:
        got = unit_at(sent, j + 1)
        return got
    if j + 1 < len(sent) and sent[j].text in ("*", "_") and sent[j + 1].text not in ("*", "_"):
        return unit_at(sent, j + 1) if sent[j].end == sent[j + 1].start else None  # "65 *bpm*"
    low = [t.low for t in sent[j:j + 5]]
    if not low:
        return None
    for words, unit in _UNITS_BY_FIRST.get(low[0], ()):
        if tuple(low[:len(words)]) == words:
            end = j + len(words)
            if unit == "s" and end < len(sent) and sent[end].text in ("'",):
                return None
            if unit in ("s",) and sent[j].text == "S" and sent[j].start != sent[j - 1].end:
                return None  # "1.2 S wave": a wave, not seconds
            return unit, end
    return None


def _comparator(sent: list[Token], start: int) -> tuple[str | None, bool, int]:
    """(comparator, approximate, first index) written before a quantity starting at `start`."""
    k, approx, skipped = start, False, 0
    while k > 0 and skipped < 4:
        word = sent[k - 1].low
        if word in _APPROX:
            approx, k, skipped = True, k - 1, skipped + 1
            continue
        words = tuple(t.low for t in sent[max(0, k - 4):k])
        hit = next(((p, c) for p, c in _COMPARATORS_BY_LAST.get(word, ()) if len(p) <= len(words)
                    and words[-len(p):] == p), None)
        if hit is not None:
            k -= len(hit[0])
            return (_NEGATE[hit[1]] if _negated_before(sent, k) else hit[1]), approx, k
        if word in _SKIP_BEFORE:
            k, skipped = k - 1, skipped + 1
            continue
        break
    return None, approx, start


def _negated_before(sent: list[Token], k: int) -> bool:
    """'no ST elevation or depression exceeding ...': a negation earlier in the clause turns the threshold."""
    for t in reversed(sent[max(0, k - 7):k]):
        if t.low in ("not", "no", "never", "nor", "without", "n't", "neither", "none") or t.low.endswith(("n't", "n’t")):
            return True
        if t.text in (",", ";", "(", ")") or t.low in ("but", "while", "whereas", "although"):
            return False
    return False


def _continuation(sent: list[Token], j: int, unit: str | None) -> tuple[str, int] | None:
    """(separator kind, index of the next number) when the group goes on at j."""
    k, seps = j, []
    up_to = k + 1 < len(sent) and sent[k].low == "up" and sent[k + 1].low == "to"  # "from 1060 up to 1800 ms"
    while k < len(sent) and (sent[k].low in _RANGE_SEPS or sent[k].low in _LIST_SEPS or up_to) and len(seps) < 2:
        up_to = False
        seps.append(sent[k].low)
        k += 1
    if not seps or k >= len(sent):
        return None
    if sent[k].text in _SIGNS and k + 1 < len(sent) and sent[k + 1].kind == "num" and sent[k].end == sent[k + 1].start:
        k += 1
    elif sent[k].text == "±" and k + 1 < len(sent) and sent[k + 1].kind == "num" and seps[-1] in ("and", "to"):
        k += 1  # "between −90° and ±180°": the far end of an axis quadrant
    if sent[k].kind != "num":
        return None
    if k + 2 < len(sent) and sent[k + 1].text == ":" and sent[k + 2].kind == "num":
        return None  # "2:1" is a ratio of its own
    nxt_unit = unit_at(sent, k + 1)
    if unit is not None and (nxt_unit is None or nxt_unit[0] != unit) and seps[-1] not in _RANGE_SEPS:
        return None  # "below 100 bpm, 2 ...": a number with its own unit ends a list
    if unit is not None and nxt_unit is not None and nxt_unit[0] != unit:
        return None
    return ("range" if seps[-1] in _RANGE_SEPS else "list"), k


def _group(sent: list[Token], i: int) -> Quantity | None:
    first = _value(sent, i)
    if first is None:
        return None
    values, pos, start = [first[0]], [i], first[1]
    u = unit_at(sent, i + 1)
    unit, end = (u[0], u[1]) if u else (None, i + 1)
    if end < len(sent) - 1 and sent[end].text == ":" and sent[end + 1].kind == "num" and sent[end].start == sent[i].end:
        return Quantity((values[0], number_value(sent[end + 1].text)), "ratio", "ratio", start, end + 2,
                        (i, end + 1))
    shape = "single"
    beat_number = unit is None and start > 0 and sent[start - 1].low in _BEAT_NOUNS and _beat_sized(sent[i])
    while True:
        cont = _continuation(sent, end, unit)
        if cont is None:
            break
        kind, k = cont
        if beat_number and (unit_at(sent, k + 1) is not None or not _beat_sized(sent[k])):
            break  # "730 ms ending complex #2, 882 ms ending ...", "before beat 3 to 810 ms": a value begins
        if shape != "single" and kind != shape:
            break
        v = _value(sent, k)
        values.append(v[0])
        pos.append(k)
        shape = "range" if kind == "range" or _between(sent, start) else "list"
        u = unit_at(sent, k + 1)
        end = u[1] if u else k + 1
        unit = unit or (u[0] if u else None)
        if shape == "range":
            break
    if shape == "list" and _between(sent, start) and len(values) == 2:
        shape = "range"
    comp, approx, cstart = _comparator(sent, start)
    post = tuple(t.low for t in sent[end:end + 2])
    if comp is None and post in _POST_COMPARATORS:
        comp, end = _POST_COMPARATORS[post], end + 2
        if _negated_before(sent, start):
            comp = _NEGATE[comp]
    return Quantity(tuple(values), unit, shape, cstart if comp else start, end, tuple(pos), comp, approx)


def _beat_sized(tok: Token) -> bool:
    """Could this number be a beat's position? Plain digits below 100: a 10-s strip has fewer beats."""
    return tok.text.isdigit() and int(tok.text) < 100


def _between(sent: list[Token], start: int) -> bool:
    words = [t.low for t in sent[max(0, start - 3):start]]
    return any(w in ("between", "from", "ranging", "range", "varying", "varies", "vary", "ranges") for w in words)


def quantities(sent: list[Token], text: str) -> list[Quantity]:
    """Every written number group in one sentence, in order."""
    out, i = [], 0
    while i < len(sent):
        q = _group(sent, i) if sent[i].kind == "num" else None
        if q is None:
            i += 1
            continue
        a, b = sent[q.start].start, sent[q.end - 1].end
        out.append(Quantity(q.values, q.unit, q.shape, q.start, q.end, q.value_pos, q.comparator, q.approx,
                            (a, b), text[a:b]))
        i = max(q.end, q.value_pos[-1] + 1)
    return out


def infer_unit(measure: str, value: float, unit: str | None) -> str | None:
    """The unit a value was written in when none was written: from its measure (and size, for s vs ms)."""
    if unit is not None:
        return unit
    if measure in ("rate", "atrial_rate"):
        return "bpm"
    if measure.startswith("axis") or measure == "angle":
        return "deg"
    if measure in ("pr", "qrs", "qt", "qtc", "rr") or measure.startswith("dur_"):
        return "s" if value < 3 else "ms"
    if measure in ("sokolow", "cornell") and value >= 8:
        return "mm"  # "Sokolow-Lyon 20": no voltage index reaches 8 mV; a bare 20 is in millimetres (10 mm/mV)
    if measure.startswith("amp_") or measure in ("st", "sokolow", "cornell"):
        return "mV"
    if measure == "age":
        return "years"
    return None
