"""Claims read together: a total the answer computes from its own values ("x plus y gives z"), a spread
written after a value ("1050 ± 15 ms"), and a QTc named with a formula the record does not compute."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tasks.validate.keywords import Keyword, resolve
from tasks.validate.quantities import Quantity
from tasks.validate.text import Token

if TYPE_CHECKING:
    from tasks.validate.claims import Claim


def unknown_formula(claims: list[Claim], q: Quantity, kws: list[Keyword], sent: list[Token]) -> list[Claim]:
    """'QTc 441 ms (Hodges)': a QTc by a formula the record does not compute cannot be checked (fails closed)."""
    if not any(k.kind == "qtc_other" and (-6 <= k.start - q.end <= 6 or -6 <= q.start - k.end <= 6) for k in kws):
        return _named_formula(claims, q, kws, sent)
    return [replace(c, measure="qtc_other") if c.measure == "qtc" else c for c in claims]


_FORMULAS = {"bazett": "bazett", "qtcb": "bazett", "fridericia": "fridericia", "qtcf": "fridericia",
             "after bazett": "bazett", "after bazett correction": "bazett", "after fridericia": "fridericia",
             "after fridericia correction": "fridericia"}


def _named_formula(claims: list[Claim], q: Quantity, kws: list[Keyword], sent: list[Token]) -> list[Claim]:
    """'QTc 492 ms (Bazett) and 465 ms (Fridericia)', 'QTcF 411 ms': the nearest formula named with a QTc
    (one written after the value names it only when no value of its own follows: 'QTc 420 ms (Fridericia 377 ms)')."""
    near = []
    for k in kws:
        name = _FORMULAS.get(k.text.lower())
        gap = k.start - q.end if k.start >= q.end else q.start - k.end
        nxt = [t for t in sent[k.end:k.end + 2] if t.low not in (":", "=", "is", "of")][:1]
        own = bool(nxt) and nxt[0].kind == "num"  # "(Fridericia 377 ms)": it names the value after it
        if name and (0 <= gap <= 3 if k.start < q.end else gap <= 1 and not own):
            near.append((gap + (0 if k.start >= q.end else 0.5), name))
    if not near:
        return claims
    name = min(near)[1]
    return [replace(c, formula=c.formula or name) if c.measure == "qtc" else c for c in claims]


_SUM_CUES = {"gives", "giving", "give", "totals", "totalling", "totaling", "total", "=", "makes", "making", "yields",
             "yielding", "equals", "equalling", "equaling", "sum", "summing"}
_PLUS = {"plus", "+", "added"}
_AFTER_SUM = {",", "which", "is", "thus", "so", "i", "e", ".", "clearly", "well", "that", "and", "hence", "(", "—",
              "comfortably", "therefore", "i.e"}


# the waves a voltage index adds, in the order it is written: S in V1 + R in V5 or V6; R in aVL + S in V3
_INDEX_TERMS = {"sokolow": (("s", ("V1",)), ("r", ("V5", "V6"))), "cornell": (("r", ("aVL",)), ("s", ("V3",)))}


def _index_terms(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token]) -> list[list[Claim]]:
    """'Sokolow-Lyon: 0.5 + 1.5 = 2.0 mV': bare terms added up to an index are its waves, in its order (checked
    in their leads); the total is checked as the index."""
    out = list(per_q)
    for k in range(2, len(qs)):
        a, b, q = qs[k - 2], qs[k - 1], qs[k]
        index = {c.measure for c in out[k]} & set(_INDEX_TERMS)
        added = [t.text for t in sent[a.end:b.start]] in (["+"], ["plus"])
        if len(index) != 1 or not added or any(t.text not in ("=", "≈") for t in sent[b.end:q.start]) or \
                b.end == q.start or len(a.values) != 1 or len(b.values) != 1:
            continue
        for i, (wave, leads) in zip((k - 2, k - 1), _INDEX_TERMS[index.pop()]):
            out[i] = [replace(c, measure=f"amp_{wave}", leads=leads, group=False, values=(abs(c.values[0]),),
                              unit=c.unit or q.unit) for c in out[i][:1]]
    return out


def sums(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token], kws: list[Keyword]) -> list[list[Claim]]:
    """'S in V1 (1.97 mV) plus R in V5 (2.09 mV) gives 4.06 mV, exceeding 3.5 mV': the total (and a threshold
    right after it) is checked as the sum of the values added; each added value is checked on its own. Next to
    a voltage index's name, bare terms are that index's waves."""
    if any(k.kind in ("sokolow", "cornell") for k in kws):
        return _index_terms(qs, per_q, sent)
    out = list(per_q)
    for k, q in enumerate(qs):
        cue = {t.low for t in sent[max(0, q.start - 3):q.start]} & _SUM_CUES
        if k < 2 or not cue or len(q.values) != 1 or q.comparator:
            continue
        ops = [k - 1]
        while ops[-1] > 0 and any(t.low in _PLUS for t in sent[qs[ops[-1] - 1].end:qs[ops[-1]].start]):
            ops.append(ops[-1] - 1)
        if len(ops) < 2 or any(len(qs[i].values) != 1 or qs[i].unit != q.unit for i in ops):
            continue
        operands = tuple(qs[i].values[0] for i in reversed(ops))
        out[k] = [replace(c, measure="sum", operands=operands, leads=(), beat=None) for c in out[k]]
        nxt = k + 1
        if nxt < len(qs) and qs[nxt].comparator and qs[nxt].unit == q.unit and all(
                t.low in _AFTER_SUM for t in sent[q.end:qs[nxt].start]):
            out[nxt] = [replace(c, measure="sum", operands=operands, leads=(), beat=None) for c in out[nxt]]
    return out


def spreads(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token]) -> list[list[Claim]]:
    """'RR 1050 ms ± 15 ms': the value after '±' is the spread of the one before (checked only for RR)."""
    out = list(per_q)
    for k, q in enumerate(qs):
        if k and q.start and sent[q.start - 1].text == "±" and qs[k - 1].end == q.start - 1 and out[k - 1]:
            measure = out[k - 1][0].measure
            out[k] = [replace(c, measure=f"sd_{measure}", unit=c.unit or out[k - 1][0].unit, leads=(), beat=None)
                      for c in out[k]]
    return out


_TERM_GLUE = {"in", "(", ")"}
_EQUALS = {"=", "is", ":", "of", "gives", "totals", "equals", ")", "→", "*", "_", "≈"}  # "**S V1 + R V5:** 0.80 + ..."


def _terms(sent: list[Token], kws: list[Keyword], refs: list, at: int) -> tuple[list[tuple[str, str]], int] | None:
    """A '+'-joined run of wave-lead terms starting at token `at` ('SV1 + RV5', 'S in V1 + R in V5'):
    the (wave, lead) pairs and the index after the run."""
    terms, k = [], at
    while True:
        kw = next((w for w in kws if w.start == k and w.kind == "wave" and w.wave in ("p", "q", "r", "s", "t")), None)
        if kw is None:
            return None
        j = kw.end
        while j < len(sent) and sent[j].text in _TERM_GLUE and j - kw.end < 2:
            j += 1
        ref = next((r for r in refs if r.start == j and (len(r.leads) == 1 or _either(r, sent))), None)
        if ref is None:
            return None
        j = ref.end + (1 if ref.end < len(sent) and sent[ref.end].text == ")" and sent[kw.end].text == "(" else 0)
        leads = list(ref.leads)
        while j + 2 < len(sent) and sent[j].low in _EITHER and sent[j + 1].text.lower() == kw.wave:
            alt = next((r for r in refs if r.start == j + 2 and len(r.leads) == 1), None)  # "RV5/RV6"
            if alt is None:
                break
            leads, j = leads + list(alt.leads), alt.end
        terms.append((kw.wave, "|".join(leads)))
        if j < len(sent) and sent[j].text in ("+", "plus") and j + 1 < len(sent):
            k = j + 1
            continue
        return (terms, j) if len(terms) >= 2 else None


_EITHER = {"/", "or"}


def _either(ref, sent: list[Token]) -> bool:
    """'RV5/V6', 'R in V5 or V6': two leads of one term, the larger wave counting (Sokolow-Lyon's own rule)."""
    return len(ref.leads) == 2 and any(t.low in _EITHER for t in sent[ref.start:ref.end])


def equations(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token], kws: list[Keyword],
              refs: list) -> list[list[Claim]]:
    """'SV1 + RV5 = 0.3 + 1.0 = 1.3 mV', 'Sokolow-Lyon (S in V1 + R in V5) is 1.3 mV': each added value is the
    wave in the lead its term names, and the total is checked as their sum (written values, or else the
    record's amplitudes of those waves in those leads)."""
    out = list(per_q)
    starts = {q.start: i for i, q in enumerate(qs)}
    for kw in kws:
        got = _terms(sent, kws, refs, kw.start) if kw.kind == "wave" else None
        if got is None:
            continue
        terms, j = got
        while j < len(sent) and sent[j].low in _EQUALS and j not in starts:
            j += 1
        if j not in starts or not out[starts[j]]:
            continue
        i = starts[j]
        ops = [i + n for n in range(len(terms)) if i + n < len(qs) and len(qs[i + n].values) == 1]
        chained = len(ops) == len(terms) and all(
            [t.text for t in sent[qs[a].end:qs[a + 1].start]] == ["+"] for a in ops[:-1]) and len(qs) > ops[-1] + 1
        total = ops[-1] + 1 if chained else i
        unit = qs[total].unit
        if chained:
            for (wave, lead), a in zip(terms, ops):
                out[a] = [replace(c, measure=f"amp_{wave}", leads=tuple(lead.split("|")), group=False, nonclaim=None,
                                  unit=c.unit or unit) for c in out[a][:1]]
        lead_terms = tuple(f"{wave}:{lead}" for wave, lead in terms)
        operands = tuple(abs(qs[a].values[0]) for a in ops) if chained else ()
        out[total] = [replace(c, measure="sum" if chained else "lead_sum", operands=operands, leads=lead_terms,
                              beat=None) for c in out[total]]
    return out


def _segments(sent: list[Token]) -> list[tuple[int, int]]:
    """Token ranges between the '=' signs of the sentence's one equation chain (before the first: its name)."""
    eq = [i for i, t in enumerate(sent) if t.text in ("=", "≈")]
    if len(eq) < 2 or any(t.text in (",", ";") or t.low in ("and", "with") for t in sent[eq[0]:eq[-1]]):
        return []  # "V5 R = 3.68 mV, V3 R = 2.25 mV": two statements, not one chain of steps
    start = eq[0] - 1
    while start > 0 and sent[start - 1].text not in (",", ";", ":", "(", "—") and eq[0] - start < 4:
        start -= 1
    stop = next((k for k in range(eq[-1] + 1, len(sent)) if sent[k].text in (",", ";") or sent[k].low == "and"),
                len(sent))  # "= 416 ms, QRS 104 ms": the chain's result ends its clause
    bounds = [start] + eq + [stop]
    return [(bounds[k] + (k > 0), bounds[k + 1]) for k in range(len(bounds) - 1)]


_GIVES = {"=", "≈", "~", "gives", "giving", "→", "yields", "is", "of", "about", "approximately", "roughly"}


def rate_results(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token]) -> list[list[Claim]]:
    """'60,000 / 924 ≈ 65': the value a conversion of an RR gives is a rate, with or without its unit (and the
    RR that '60000/65 = 923 ms' gives from a rate is an RR)."""
    out = list(per_q)
    for k in range(1, len(qs)):
        prev, q = qs[k - 1], qs[k]
        conversion = prev.shape == "list" and len(prev.values) == 2 and prev.values[0] in (60000.0, 60.0) \
            and "/" in prev.text
        if not (conversion and len(q.values) == 1 and q.start > prev.end and all(
                t.low in _GIVES for t in sent[prev.end:q.start])):
            continue
        if prev.values[1] >= 250 and q.unit in (None, "bpm"):
            out[k] = [replace(c, measure="rate", unit="bpm", leads=(), beat=None) for c in out[k]]
        elif prev.values[0] == 60000.0 and prev.values[1] < 250 and q.unit in (None, "ms", "s"):
            out[k] = [replace(c, measure="rr", unit=c.unit or "ms", leads=(), beat=None) for c in out[k]]
    return out


def _constant(q: Quantity, sent: list[Token]) -> bool:
    """An exponent ('^(1/3)') or a unit conversion ('60000 / RR') inside a formula: no measurement."""
    before = {t.text for t in sent[max(0, q.start - 2):q.start]}
    after = sent[q.end].text if q.end < len(sent) else ""
    return "^" in before or (q.values[0] in (60000.0, 60.0, 1000.0, 1500.0, 300.0) and after == "/")


def formulas(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token], kws: list[Keyword]) -> list[list[Claim]]:
    """'QTc = QT/√RR = 400/√0.924 = 416 ms': the values are paired in order with the names of the step before
    them (400 is the QT, 0.924 the RR), the last value is the named result, and exponents are constants."""
    segs = _segments(sent)
    if not segs:
        return per_q
    out = list(per_q)
    in_seg = lambda a, b: [i for i, q in enumerate(qs) if a <= q.start < b]  # noqa: E731
    names_of = lambda a, b: [k for k in kws if a <= k.start < b]  # noqa: E731
    result = names_of(*segs[0])[-1:]
    names: list[Keyword] = []
    for k, (a, b) in enumerate(segs[1:], 1):
        found = []
        for i in in_seg(a, b):
            if _constant(qs[i], sent):
                out[i] = [replace(c, nonclaim="formula") for c in out[i]]
            else:
                found.append(i)
        if not found:
            names = names_of(a, b)
            continue
        values = [(i, n) for i in found for n in range(len(out[i]))]
        last = k == len(segs) - 1
        if last and result and len(values) == 1:
            i, n = values[0]
            measure = resolve(result[0].kind, result[0].wave, qs[i].unit)
            out[i] = [replace(out[i][n], measure=measure, leads=(), beat=None)]
        elif names and len(names) == len(values):
            for kw, (i, n) in zip(names, values):
                out[i] = out[i][:n] + [replace(out[i][n], measure=resolve(kw.kind, kw.wave, qs[i].unit),
                                               unit=out[i][n].unit)] + out[i][n + 1:]
        names = []
    return out
