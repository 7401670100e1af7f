"""One seeded error per wrong answer: a clearly wrong value, a bad lead, an invented or contradicting finding,
or a labelled diagnosis left out. Each returns how to change a true answer, and why it is wrong."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from facts import Facts
from findings import amp_choices
from grammar import axis_class

Pick = random.Random


@dataclass
class Seed:
    kind: str
    detail: str
    target: str | None = None  # the statement type rendered with V instead of the truth
    V: dict = field(default_factory=dict)
    extra: str | None = None  # a sentence added to a true answer
    omit: str | None = None  # a labelled diagnosis left unnamed


def _far(rng: Pick, base: float, offsets: list[float], avoid: list[float], gap: float, lo: float, hi: float):
    offs = offsets[:]
    rng.shuffle(offs)
    for off in offs:
        c = base + off
        if lo <= c <= hi and all(abs(c - a) >= gap for a in avoid):
            return c
    return None


def wrong_rate(F: Facts, rng: Pick) -> Seed | None:
    hr = F.val("hr_bpm")
    w = _far(rng, hr, [s * d for d in range(20, 41) for s in (1, -1)], [hr], 18, 30, 200)
    return Seed("wrong_rate", f"rate stated {round(w)} bpm, measured {hr:.0f} bpm", "rate", {"hr": w})


def wrong_pr(F: Facts, rng: Pick) -> Seed | None:
    pr = F.val("pr_ms")
    if pr is None:
        return None
    avoid = [pr] + ([F.lead_val("II", "pr")] if F.lead_val("II", "pr") else [])
    w = _far(rng, pr, [s * d for d in range(55, 111, 5) for s in (1, -1)], avoid, 45, 60, 330)
    target = rng.choice(["pr", "pr", "intervals"])
    return Seed("wrong_pr", f"PR stated {round(w)} ms, measured {pr:.0f} ms", target, {"pr": w})


def wrong_qrs(F: Facts, rng: Pick) -> Seed | None:
    q = F.val("qrs_ms")
    avoid = [q] + [F.leads[n].qrs for n in F.usable if F.leads[n].qrs is not None]
    w = _far(rng, q, [s * d for d in range(45, 101, 5) for s in (1, -1)], avoid, 25, 40, 220) or \
        _far(rng, q, [s * d for d in range(50, 101, 5) for s in (1, -1)], [q], 50, 40, 220)
    target = rng.choice(["qrs", "qrs", "intervals"]) if F.val("pr_ms") is not None else "qrs"
    return Seed("wrong_qrs", f"QRS stated {round(w)} ms, measured {q:.0f} ms", target, {"qrs": w})


def wrong_qt_qtc(F: Facts, rng: Pick) -> Seed | None:
    qt, qtc, qtcf = F.val("qt_ms"), F.val("qtc_ms"), F.val("qtc_fridericia_ms")
    key = rng.choice(["qt", "qtc", "qtc"])
    base = qt if key == "qt" else qtc
    w = _far(rng, base, [s * d for d in range(60, 131, 10) for s in (1, -1)], [qt, qtc, qtcf], 50, 200, 700)
    target = "intervals" if (key != "qtcf" and F.val("pr_ms") is not None and rng.random() < 0.3) else "qt"
    V = {key: w}
    return Seed("wrong_qt_qtc", f"{key.upper()} stated {round(w)} ms, measured QT {qt:.0f}, QTc {qtc:.0f}"
                f" (Fridericia {qtcf:.0f}) ms", target, V)


def _wrap(a: float) -> float:
    while a > 180:
        a -= 360
    while a <= -180:
        a += 360
    return a


def wrong_axis(F: Facts, rng: Pick) -> Seed | None:
    a = F.val("axis_deg")
    if a is None:
        return None
    w = _wrap(a + rng.choice([1, -1]) * rng.randrange(60, 115, 5))
    return Seed("wrong_axis", f"QRS axis stated {round(w)}°, measured {a:.0f}° ({axis_class(a)})", "axis", {"axis": w})


def wrong_amplitude(F: Facts, rng: Pick) -> Seed | None:
    if F.val("sokolow_lyon_mv") is not None and rng.random() < 0.2:
        sl = F.val("sokolow_lyon_mv")
        w = sl * 2.2 + 0.5 if sl < 2.5 else sl * 0.4
        return Seed("wrong_amplitude", f"Sokolow-Lyon stated {w:.1f} mV, measured {sl:.2f} mV", "amp", {"sokolow": w})
    choices = amp_choices(F)
    rng.shuffle(choices)
    for lead, wave, v in choices:
        others = [abs(x) for x in (getattr(F.leads[lead], k) for k in ("p", "q", "r", "s", "t")) if x is not None]
        for w in (max(abs(v) * 2.5, abs(v) + 0.7), abs(v) * 0.3 if abs(v) >= 1.0 else None):
            if w is not None and all(abs(w - o) >= 0.3 for o in others):
                w = w if v > 0 else -w
                return Seed("wrong_amplitude", f"{wave.upper()} in {lead} stated {abs(w):.2f} mV, measured {v:.2f} mV",
                            "amp", {"amp": (lead, wave, w)})
    return None


def wrong_st(F: Facts, rng: Pick) -> Seed | None:
    cands = [n for n in F.usable if F.leads[n].st is not None]
    if not cands:
        return None
    lead = rng.choice(cands)
    s = F.leads[lead].st
    # an elevation where the segment is flat or depressed, a depression where it is raised: >= 0.25 mV off
    w = max(s + rng.choice([0.25, 0.3, 0.35, 0.4]), 0.2) if s <= 0.02 else min(s - rng.choice([0.3, 0.35]), -0.2)
    return Seed("wrong_st", f"ST in {lead} stated {w:+.2f} mV, measured {s:+.2f} mV", "st", {"st": (lead, w)})


def wrong_rr_beat(F: Facts, rng: Pick) -> Seed | None:
    rrs = F.rr_values
    beats = [b for b in F.beats if b.rr is not None and b.t_s is not None]
    if len(rrs) < 3 or not beats:
        return None
    lo, hi = min(rrs), max(rrs)
    mode = rng.choice(["beat", "beat", "range", "time"])
    b = rng.choice(beats)
    if mode == "beat":
        w = hi + rng.randrange(200, 320, 10) if (lo < 450 or rng.random() < 0.5) else lo - rng.randrange(200, 260, 10)
        return Seed("wrong_rr_beat", f"RR before beat {b.number} stated {round(w)} ms, measured {b.rr:.0f} ms"
                    f" (all RR {lo:.0f}-{hi:.0f} ms)", "rr", {"rr_beat": (b, w)})
    if mode == "range":
        if lo > 500 and rng.random() < 0.5:
            return Seed("wrong_rr_beat", f"RR range low end stated {round(lo - 220)} ms, shortest RR {lo:.0f} ms",
                        "rr", {"rr_lo": lo - 220})
        return Seed("wrong_rr_beat", f"RR range high end stated {round(hi + 260)} ms, longest RR {hi:.0f} ms",
                    "rr", {"rr_hi": hi + 260})
    t = b.t_s + 2.5 if b.t_s < 5 else b.t_s - 2.5
    return Seed("wrong_rr_beat", f"beat {b.number} placed at {t:.1f} s, it is at {b.t_s:.2f} s", "rr",
                {"rr_beat": (b, b.rr), "beat_time": t})


ABSENT = ["V7", "V8", "V9", "V4R", "V3R"]


def absent_or_unusable_lead(F: Facts, rng: Pick) -> Seed | None:
    if F.unusable and rng.random() < 0.7:
        lead = rng.choice(F.unusable)
        amp = rng.choice([0.6, 0.8, 1.1, 0.45])
        s = rng.choice([f"{lead} shows an R wave of {amp} mV with an upright T wave.",
                        f"In {lead} the ST segment is isoelectric and the T wave upright.",
                        f"Lead {lead} demonstrates normal R-wave progression with an R of {amp} mV.",
                        f"{lead} has a small Q wave and a T wave of 0.2 mV.",
                        f"The QRS in {lead} is narrow with no ST deviation."])
        return Seed("absent_or_unusable_lead", f"cites {lead}, which is not usable in this record", extra=s)
    lead = rng.choice(ABSENT)
    s = rng.choice([f"Right-sided lead {lead} shows no ST elevation." if lead.endswith("R") else
                    f"Posterior lead {lead} shows no ST elevation.",
                    f"The R wave in {lead} measures {rng.choice([0.5, 0.7, 0.9])} mV.",
                    f"{lead} shows an upright T wave without ST changes.",
                    f"In lead {lead} the QRS is small with an R of {rng.choice([0.3, 0.4])} mV."])
    return Seed("absent_or_unusable_lead", f"cites {lead}, which is not one of the 12 recorded leads", extra=s)
