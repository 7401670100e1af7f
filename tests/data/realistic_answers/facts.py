"""Plain facts of one frozen record (from its snapshot rows), and number formatting the way people write.

Written for the corpus alone: it reads the snapshot's rows, never the validator's context or patterns.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
            "eighteenth", "nineteenth", "twentieth")
NTH = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th", "12th")
# Leads adjacent in the frontal (Cabrera) or horizontal plane: "contiguous" for ST criteria.
CONTIGUOUS = [("aVL", "I"), ("I", "II"), ("II", "aVF"), ("aVF", "III"),
              ("V1", "V2"), ("V2", "V3"), ("V3", "V4"), ("V4", "V5"), ("V5", "V6")]
RHYTHM_LABELS = {"SR", "SB", "STACH", "SA"}


@dataclass
class Lead:
    name: str
    usable: bool
    p: float | None = None
    q: float | None = None
    r: float | None = None
    s: float | None = None
    t: float | None = None
    st: float | None = None
    qrs: float | None = None
    pr: float | None = None
    qt: float | None = None
    q_wave: bool = False


@dataclass
class Beat:
    number: int  # 1-based, as the teacher's table shows it
    t_s: float | None
    rr: float | None


@dataclass
class Facts:
    rid: str
    age: float | None
    sex: str | None
    labels: list[str]
    names: dict[str, str]
    f: dict  # the record_features row
    leads: dict[str, Lead]
    beats: list[Beat]
    usable: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)

    def val(self, key: str):
        return self.f.get(key)

    @property
    def rr_values(self) -> list[float]:
        return [b.rr for b in self.beats if b.rr is not None]

    def lead_val(self, lead: str, wave: str):
        ld = self.leads.get(lead)
        return None if ld is None or not ld.usable else getattr(ld, wave)

    def st_elevated(self, thr: float = 0.1) -> list[str]:
        return [n for n in self.usable if (self.leads[n].st or 0) > thr]

    def st_depressed(self, thr: float = -0.05) -> list[str]:
        return [n for n in self.usable if (self.leads[n].st or 0) < thr]

    def contiguous(self, names: list[str]) -> list[tuple[str, str]]:
        s = set(names)
        return [(a, b) for a, b in CONTIGUOUS if a in s and b in s]

    def max_abs_st(self, leads=None) -> float:
        vals = [abs(self.leads[n].st) for n in (leads or self.usable) if self.leads[n].st is not None]
        return max(vals) if vals else 0.0


def facts_from_snapshot(snap: dict) -> Facts:
    rec, feat = snap["records"], snap["record_features"]
    usable = [n for n in LEADS if n in (feat.get("usable_leads") or [])]
    summaries = {s["lead"]: s for s in feat.get("leads") or []}
    leads = {}
    for n in LEADS:
        s = summaries.get(n, {})
        leads[n] = Lead(n, n in usable and (s.get("n_beats") or 0) > 0, s.get("p_amp_mv"), s.get("q_amp_mv"),
                        s.get("r_amp_mv"), s.get("s_amp_mv"), s.get("t_amp_mv"), s.get("st_mv"), s.get("qrs_ms"),
                        s.get("pr_ms"), s.get("qt_ms"), bool(s.get("q_wave")))
    by_beat: dict[int, list[dict]] = {}
    for b in snap["beats"]:
        by_beat.setdefault(b["beat"], []).append(b)
    beats = []
    for k in sorted(by_beat):
        rows = by_beat[k]
        ts = [r["r_peak_s"] for r in rows if r.get("r_peak_s") is not None]
        rrs = [r["rr_ms"] for r in rows if r.get("rr_ms") is not None]
        beats.append(Beat(k + 1, statistics.median(ts) if ts else None, rrs[0] if rrs else None))
    labels = list(rec.get("labels") or [])
    names = dict(zip(labels, rec.get("label_names") or []))
    return Facts(rec["record_id"], rec.get("age"), rec.get("sex"), labels, names, feat, leads, beats,
                 [n for n in usable if leads[n].usable], [n for n in LEADS if not leads[n].usable])


# ---------------------------------------------------------------- formatting, as people write numbers


def r10(v: float) -> int:
    return int(round(v / 10.0) * 10)


def ms(rng: random.Random, v: float, allow_s: bool = True) -> str:
    """An interval in ms, written one of the ways teachers write it."""
    forms = [f"{round(v)} ms", f"{round(v)} ms", f"{round(v)} ms", f"{round(v)}ms", f"{round(v)} msec",
             f"about {r10(v)} ms", f"~{r10(v)} ms", f"approximately {round(v)} ms", f"{round(v)} MS",
             f"roughly {r10(v)} ms", f"{round(v)} milliseconds"]
    if allow_s:
        forms += [f"{v / 1000:.2f} s", f"{v / 1000:.2f} seconds", f"about {v / 1000:.2f} s"]
    return rng.choice(forms)


def ms_adj(rng: random.Random, v: float) -> str:
    """An adjectival interval: '130-ms'."""
    return rng.choice([f"{round(v)}-ms", f"{round(v)}-millisecond", f"{round(v)}-msec", f"{r10(v)}-ms"])


def bpm(rng: random.Random, v: float) -> str:
    n = round(v)
    return rng.choice([f"{n} bpm", f"{n} bpm", f"{n} BPM", f"{n} beats per minute", f"{n}/min",
                       f"about {n} bpm", f"~{n} bpm", f"{n} beats/min", f"approximately {n} bpm",
                       f"{n} bpm", f"roughly {n} beats per minute"])


def mv(rng: random.Random, v: float, signed: bool = False) -> str:
    """An amplitude in mV (absolute value unless signed)."""
    x = v if signed else abs(v)
    return rng.choice([f"{x:.2f} mV", f"{x:.1f} mV", f"{x:.2f} mV", f"{x:.1f} millivolts", f"about {x:.1f} mV",
                       f"{x:.2f}mV", f"~{x:.1f} mV"]) if abs(x) >= 0.2 else rng.choice(
        [f"{x:.2f} mV", f"{x:.2f} mV", f"{x:.2f}mV", f"about {x:.2f} mV"])


def deg(rng: random.Random, v: float) -> str:
    n = round(v)
    sign = "+" if n > 0 and rng.random() < 0.4 else ""
    return rng.choice([f"{sign}{n}°", f"{sign}{n} degrees", f"{sign}{n}°", f"about {sign}{n}°",
                       f"{sign}{n} deg", f"approximately {sign}{n}°"])


def sec(rng: random.Random, t: float) -> str:
    return rng.choice([f"{t:.1f} s", f"{t:.2f} s", f"t = {t:.1f} s", f"{t:.1f} seconds", f"{t:.2f}s"])


def beat_ref(rng: random.Random, b: Beat) -> str:
    """A beat cited by position and time: 'the fourth beat (at 2.9 s)'."""
    t = b.t_s
    opts = [f"beat {b.number}", f"the {ORDINALS[b.number - 1]} beat" if b.number <= len(ORDINALS) else f"beat {b.number}",
            f"the {NTH[b.number - 1]} complex" if b.number <= len(NTH) else f"complex {b.number}"]
    base = rng.choice(opts)
    if t is None:
        return base
    return rng.choice([f"{base} (at {sec(rng, t)})", f"{base}, at {sec(rng, t)},", f"{base} at {sec(rng, t)}",
                       f"{base} (t ≈ {t:.1f} s)"])


def leads_list(rng: random.Random, names: list[str]) -> str:
    """Leads written as a list, a range ('V4–V6', 'V1 through V3') or a group name."""
    names = [n for n in LEADS if n in names]
    if len(names) == 1:
        return rng.choice([f"lead {names[0]}", names[0]])
    pre = [n for n in names if n.startswith("V")]
    idx = [int(n[1]) for n in pre]
    if pre == names and len(idx) >= 2 and idx == list(range(idx[0], idx[-1] + 1)):
        a, b = pre[0], pre[-1]
        return rng.choice([f"{a}–{b}", f"{a}-{b}", f"{a} through {b}", f"{a} to {b}", f"leads {a}–{b}",
                           ", ".join(pre[:-1]) + f" and {b}"])
    groups = {("II", "III", "aVF"): ["the inferior leads", "the inferior leads (II, III, aVF)", "II, III and aVF"],
              ("I", "aVL"): ["the high lateral leads", "I and aVL", "leads I and aVL"],
              ("I", "aVL", "V5", "V6"): ["the lateral leads", "I, aVL, V5 and V6"],
              ("V1", "V2", "V3", "V4", "V5", "V6"): ["the precordial leads", "all chest leads", "V1–V6"],
              ("I", "II", "III", "aVR", "aVL", "aVF"): ["the limb leads", "all six limb leads"]}
    if tuple(names) in groups:
        return rng.choice(groups[tuple(names)])
    return ", ".join(names[:-1]) + f" and {names[-1]}"
