"""Claims read together: a total the answer computes from its own values ("x plus y gives z"), a spread
written after a value ("1050 ± 15 ms"), and a QTc named with a formula the record does not compute."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tasks.validate.keywords import Keyword
from tasks.validate.quantities import Quantity
from tasks.validate.text import Token

if TYPE_CHECKING:
    from tasks.validate.claims import Claim


def unknown_formula(claims: list[Claim], q: Quantity, kws: list[Keyword], sent: list[Token]) -> list[Claim]:
    """'QTc 441 ms (Hodges)': a QTc by a formula the record does not compute cannot be checked (fails closed)."""
    if not any(k.kind == "qtc_other" and (-6 <= k.start - q.end <= 6 or -6 <= q.start - k.end <= 6) for k in kws):
        return _named_formula(claims, q, kws, sent)
    return [replace(c, measure="qtc_other") if c.measure == "qtc" else c for c in claims]


_FORMULAS = {"bazett": "bazett", "qtcb": "bazett", "fridericia": "fridericia", "qtcf": "fridericia"}


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
    return [replace(c, formula=name) if c.measure == "qtc" else c for c in claims]


_SUM_CUES = {"gives", "giving", "give", "totals", "totalling", "totaling", "total", "=", "makes", "making", "yields",
             "yielding", "equals", "equalling", "equaling", "sum", "summing"}
_PLUS = {"plus", "+", "added"}
_AFTER_SUM = {",", "which", "is", "thus", "so", "i", "e", ".", "clearly", "well", "that", "and", "hence", "(", "—",
              "comfortably", "therefore", "i.e"}


def sums(qs: list[Quantity], per_q: list[list[Claim]], sent: list[Token]) -> list[list[Claim]]:
    """'S in V1 (1.97 mV) plus R in V5 (2.09 mV) gives 4.06 mV, exceeding 3.5 mV': the total (and a threshold
    right after it) is checked as the sum of the values added; each added value is checked on its own."""
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
