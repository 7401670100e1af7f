"""Values that point back at values the answer stated before them: a threshold said of them ("Both exceed
450 ms"), a value named again ("the 0.22 mV in V3 stays below ..."), a total of the values just written
("... 2.09 mV tall, 4.06 mV together"). Each is checked on the stated values, which are checked on the record
themselves, so a wrong value cannot pass through the reference."""
from __future__ import annotations

from dataclasses import replace
from itertools import combinations

from tasks.validate.claim import Claim
from tasks.validate.keywords import keywords
from tasks.validate.text import Token

_ANAPHORS = {"both": 2, "neither": 2, "either": 2, "all": 0, "each": 0, "these": 0, "they": 0, "those": 0}
_LEAD_IN = {"and", "so", "but", "thus", "hence", "here", "*", "_", "-", "–", "—"}
_DETERMINERS = {"the", "this", "that", "its", "whose"}
_TOTAL_AFTER = {"together", "combined", "altogether", "summed", "total", "overall"}
_TOTAL_BEFORE = {"total", "sum", "combined", "totalling", "totaling", "totals", "summing", "together"}
_SCALE = {"s": 1000.0, "mm": 0.1, "uV": 0.001}
_KIND = {"s": "ms", "ms": "ms", "mm": "mV", "mV": "mV", "uV": "mV", "bpm": "bpm", "deg": "deg"}


def _in_unit(v: float, unit: str | None, to: str | None) -> float:
    """A value written in `unit`, expressed in `to` (same kind: s/ms, mm/mV/µV)."""
    return v * _SCALE.get(unit or "", 1.0) / _SCALE.get(to or "", 1.0)


def _same_kind(a: Claim, b: Claim) -> bool:
    return a.unit is not None and _KIND.get(a.unit) is not None and _KIND.get(a.unit) == _KIND.get(b.unit or "")


def _stated(c: Claim) -> bool:
    """A plain value the answer asserts about the record (checked on its own)."""
    return c.measure not in (None, "sum", "stated", "beat_ref", "time", "age") and not c.nonclaim \
        and c.comparator is None and len(c.values) == 1 and not c.measure.startswith("count")


def _index(sent: tuple[Token, ...], start: int) -> int:
    return next((k for k, t in enumerate(sent) if t.start >= start), len(sent))


def _threshold_on_stated(c: Claim, sent: tuple[Token, ...], i: int, before: list[Claim]) -> list[Claim] | None:
    """'Both exceed 450 ms', 'all are under 0.1 mV': a threshold said of the values of the sentence before."""
    if c.comparator is None or c.nonclaim or len(c.values) != 1:
        return None
    words = [t.low for t in sent[:i] if t.low not in _LEAD_IN]
    if not words or words[0] not in _ANAPHORS or len(words) > 4:
        return None
    pool = [p for p in before if _stated(p) and _same_kind(c, p)]
    n = _ANAPHORS[words[0]]
    pool = pool[-n:] if n else pool
    if len(pool) < max(n, 2):
        return None
    ops = tuple(_in_unit(abs(p.values[0]) if _KIND[c.unit] == "mV" else p.values[0], p.unit, c.unit) for p in pool)
    return [replace(c, measure="stated", operands=ops, leads=(), beat=None, beats=())]


_ONE_BACK = {"that's", "that’s", "that", "this", "it", "it's", "it’s", "which", "thats"}
_ASIDE = _LEAD_IN | {"wait", "hmm", "ok", "okay", "well", "now", "yes", "right", ",", "...", "is", "was"}


def _threshold_on_last(c: Claim, sent: tuple[Token, ...], i: int, before: list[Claim],
                       here: list[Claim]) -> list[Claim] | None:
    """'QRS 130 ms. Wait, that's over 120 ms': a threshold with no measure of its own, whose subject is 'that',
    'this' or 'it', said of the last value stated just before it (checked on that value)."""
    if c.comparator is None or c.nonclaim or c.measure is not None or len(c.values) != 1:
        return None
    words = [t.low for t in sent[:i] if t.low not in _ASIDE]
    if len(words) != 1 or words[0] not in _ONE_BACK:
        return None
    last = next((p for p in reversed(before + here) if _stated(p) and _same_kind(c, p)), None)
    if last is None:
        return None
    value = _in_unit(abs(last.values[0]) if _KIND[c.unit] == "mV" else last.values[0], last.unit, c.unit)
    return [replace(c, measure="stated", operands=(value,), leads=(), beat=None, beats=())]


def _named_again(c: Claim, sent: tuple[Token, ...], i: int, earlier: list[Claim]) -> list[Claim] | None:
    """'the 0.22 mV in V3': a value written again with a determiner keeps the measure it was stated with."""
    if i == 0 or sent[i - 1].low not in _DETERMINERS or c.comparator or c.nonclaim or len(c.values) != 1:
        return None
    for e in reversed(earlier):
        if not _stated(e) or not _same_kind(c, e) or (c.leads and e.leads and not set(c.leads) & set(e.leads)):
            continue
        if abs(_in_unit(e.values[0], e.unit, c.unit) - c.values[0]) < 1e-9:
            return [replace(c, measure=e.measure, leads=c.leads or e.leads, group=e.group, sign=e.sign,
                            beat=e.beat, beats=e.beats)]
    return None


def _total_cue(sent: tuple[Token, ...], c: Claim) -> bool:
    i, j = _index(sent, c.span[0]), _index(sent, c.span[1])
    after = [t.low for t in sent[j:j + 3]]
    if after[:1] and after[0] in _TOTAL_AFTER and after[1:2] != ["with"]:
        return True  # "4.06 mV together", not "together with T inversion"
    if after[:2] == ["in", "total"] or after[:2] == ["in", "sum"]:
        return True
    return bool({t.low for t in sent[max(0, i - 3):i]} & _TOTAL_BEFORE)


def _totals(got: list[Claim], sent: tuple[Token, ...]) -> list[Claim]:
    """A total written after the values it adds, without a '+' ('R 2.09 mV and S 1.97 mV, 4.06 mV together'):
    the operands are the two or three values just before it whose sum comes closest to it."""
    out = list(got)
    for k, c in enumerate(got):
        if c.measure in ("sum", "stated", "sokolow", "cornell") or c.nonclaim or c.comparator or len(c.values) != 1 \
                or c.unit not in ("mV", "mm", "ms", "s") or not _total_cue(sent, c):
            continue
        prior = [p for p in got[:k] if _stated(p) and _same_kind(c, p) and p.span[1] <= c.span[0]][-3:]
        vals = [_in_unit(abs(p.values[0]), p.unit, c.unit) for p in prior]
        picks = [ops for n in (2, 3) for ops in combinations(vals, n)]
        if not picks:
            continue
        ops = min(picks, key=lambda o: abs(sum(o) - abs(c.values[0])))
        out[k] = replace(c, measure="sum", operands=tuple(ops), leads=(), beat=None, beats=())
    return out


def resolve(got: list[Claim], sent: tuple[Token, ...], before: list[Claim], earlier: list[Claim]) -> list[Claim]:
    """The claims of one sentence with references back to stated values resolved (`before`: the previous
    sentence's claims; `earlier`: every claim of the answer so far)."""
    out: list[Claim] = []
    for c in got:
        i = _index(sent, c.span[0])
        out += _threshold_on_stated(c, sent, i, before) or _threshold_on_last(c, sent, i, before, out) or \
            _named_again(c, sent, i, earlier + out) or [c]
    return _totals(out, sent)


_PRONOUNS = {"it", "they"}


def pronoun_subject(sent: tuple[Token, ...]) -> bool:
    """'The T wave is the small hump ... In several leads it is low, only 0.05 mV in V3': a sentence whose
    subject is 'it' or 'they' goes on about what the sentence before named."""
    return any(t.low in _PRONOUNS for t in sent[:6])


def lead_values_only(sent: tuple[Token, ...], refs: tuple) -> bool:
    """'T waves, lead by lead. I 0.13, II 0.13, III -0.03.': a sentence of lead-value pairs naming no measure goes
    on with the measure of the sentence before (its values are checked on it; read alone they name nothing)."""
    starts = {r.end for r in refs}
    valued = sum(1 for k in starts if k < len(sent) and (sent[k].kind == "num" or (
        sent[k].text in "(+-−" and k + 1 < len(sent) and sent[k + 1].kind == "num")))
    return valued >= 1 and not keywords(list(sent))
