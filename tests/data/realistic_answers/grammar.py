"""Statement templates for realistic teacher answers, each filled from a record's true (or seeded) values.

Every function takes the record's facts `F`, a seeded RNG and a view `V` of the values to write
(V overrides the truth for the one statement that carries a seeded error), and returns one sentence,
or None when the record gives nothing true to say of that kind. Written fresh for the corpus; nothing
here comes from the validator.
"""
from __future__ import annotations

import random

from facts import Facts, beat_ref, bpm, deg, ms, ms_adj, r10

Pick = random.Random


def _v(F: Facts, V: dict, key: str, feat: str):
    return V[key] if key in V else F.val(feat)


# ---------------------------------------------------------------- rhythm and rate

def rhythm_name(F: Facts, rng: Pick) -> str:
    """The rhythm as a cardiologist names it, covering every labelled rhythm diagnosis."""
    labs = set(F.labels)
    if {"SR", "SB"} <= labs:
        return rng.choice(["sinus rhythm at a bradycardic rate, i.e. sinus bradycardia",
                           "sinus bradycardia (sinus rhythm below 60 bpm)", "sinus rhythm, slow enough to call sinus bradycardia"])
    if {"SR", "STACH"} <= labs:
        return rng.choice(["sinus rhythm at a tachycardic rate, i.e. sinus tachycardia",
                           "sinus tachycardia (sinus rhythm above 100 bpm)", "sinus rhythm that is fast enough to be sinus tachycardia"])
    if "STACH" in labs:
        return rng.choice(["sinus tachycardia", "sinus tachycardia", "a sinus tachycardia"])
    if "SB" in labs:
        return rng.choice(["sinus bradycardia", "sinus bradycardia", "a sinus bradycardia"])
    if "SA" in labs:
        return rng.choice(["sinus arrhythmia", "sinus rhythm with sinus arrhythmia", "a sinus arrhythmia"])
    if "SR" in labs:
        return rng.choice(["normal sinus rhythm", "sinus rhythm", "sinus rhythm"])
    if F.val("p_waves_present") and F.val("rhythm_regular") and 60 <= (F.val("hr_bpm") or 0) <= 100:
        return rng.choice(["sinus rhythm", "a regular sinus rhythm"])
    if F.val("rhythm_regular"):
        return rng.choice(["a regular rhythm without clearly identifiable P waves",
                           "a regular supraventricular rhythm in which P waves are not clearly seen"])
    return rng.choice(["an irregular rhythm", "an irregular rhythm without a clear P wave before every beat"]) if not F.val(
        "p_waves_present") else rng.choice(["an irregular rhythm with P waves present", "an irregular sinus-origin rhythm"])


def rate(F: Facts, rng: Pick, V: dict) -> str:
    hr = _v(F, V, "hr", "hr_bpm")
    rh, r = rhythm_name(F, rng), bpm(rng, hr)
    n = round(hr)
    return rng.choice([
        f"The rhythm is {rh} with a ventricular rate of {r}.",
        f"Rate and rhythm: {rh} at {r}.",
        f"Heart rate: {r}; the rhythm is {rh}.",
        f"The tracing shows {rh}, rate {r}.",
        f"This is {rh} at a rate of {r}.",
        f"The ventricular rate is {r}, and the rhythm is {rh}.",
        f"HR {n} bpm, {rh}.",
        f"There is {rh} at approximately {n} beats per minute.",
        f"**Rate/rhythm:** {rh}, {r}.",
        f"First, the rate: about {n} bpm, with {rh}.",
        f"Looking at the rhythm strip in lead II, there is {rh} with a rate of {r}.",
        f"The heart rate is {r} and the underlying rhythm is {rh}.",
        f"Rhythm: {rh}. Rate: {r}.",
        f"Lead II shows {rh} at a rate of ~{n} bpm.",
        f"We see {rh}; the rate works out to {r}.",
        f"Step 1 – rate: {r}, rhythm: {rh}.",
        f"The rate is {n} BPM and the rhythm is {rh}.",
        f"Starting with rate and rhythm, there is {rh} at {r}.",
        f"At a rate of {r}, the rhythm is {rh}.",
        f"A ventricular rate of {r} is present, consistent with {rh}.",
        f"{rh[0].upper() + rh[1:]} is present at {r}.",
        f"The strip demonstrates {rh} (rate {r}).",
        f"Rhythm analysis shows {rh}; ventricular rate ≈ {n} bpm.",
        f"I count a rate of roughly {n} bpm; the rhythm is {rh}.",
        f"Rate {n}/min. Rhythm: {rh}.",
    ])


def rr(F: Facts, rng: Pick, V: dict) -> str | None:
    """RR regularity, range, or the RR of a named beat."""
    rrs = F.rr_values
    if len(rrs) < 3:
        return None
    lo, hi = V.get("rr_lo", min(rrs)), V.get("rr_hi", max(rrs))
    mean = V.get("rr_mean", F.val("rr_mean_ms"))
    beats = [b for b in F.beats if b.rr is not None and b.t_s is not None]
    if "rr_beat" in V:
        b, val = V["rr_beat"]
    else:
        b = rng.choice(beats) if beats else None
        val = b.rr if b else None
    if "beat_time" in V and b is not None:
        from facts import Beat
        b = Beat(b.number, V["beat_time"], b.rr)
    range_forms = [
        f"RR intervals range from {round(lo)} to {round(hi)} ms.",
        f"The RR intervals vary between {round(lo)} and {round(hi)} ms.",
        f"RR intervals span {round(lo)}–{round(hi)} ms (mean about {round(mean)} ms).",
        f"The R-R interval runs from {round(lo)} ms to {round(hi)} ms across the strip.",
        f"RR: {round(lo)}-{round(hi)} ms.",
    ]
    beat_forms = []
    if b is not None and val is not None:
        br = beat_ref(rng, b)
        beat_forms = [
            f"The RR interval preceding {br} measures {ms(rng, val, allow_s=False)}.",
            f"For example, {br} follows an RR of {round(val)} ms.",
            f"The RR interval before {br} is {round(val)} ms.",
            f"{br[0].upper() + br[1:]} comes after an R-R interval of {ms(rng, val, allow_s=False)}.",
        ]
    if "rr_beat" in V:
        return rng.choice(beat_forms)
    if "rr_lo" in V or "rr_hi" in V:
        return rng.choice(range_forms)
    forms = range_forms + beat_forms
    if hi - lo <= 80 and F.val("rhythm_regular"):
        forms += [f"The rhythm is regular, with RR intervals of about {r10(mean)} ms.",
                  f"RR intervals are regular at roughly {round(mean)} ms.",
                  f"R-R spacing is constant, around {round(mean)} ms."]
    if hi - lo > 150 and (set(F.labels) & {"PAC", "PVC"}) - set(V.get("omit", ())):
        short = min(beats, key=lambda x: x.rr) if beats else None
        if short is not None:
            sr = beat_ref(rng, short)
            forms += [f"The shortest RR, {round(short.rr)} ms before {sr}, marks a premature beat.",
                      f"{sr[0].upper() + sr[1:]} arrives early after only {round(short.rr)} ms."]
    return rng.choice(forms)


# ---------------------------------------------------------------- intervals

def _pr_class(pr: float) -> str:
    if pr > 200:
        return "prolonged"
    if pr < 120:
        return "short"
    return "normal"


def pr(F: Facts, rng: Pick, V: dict) -> str | None:
    p = _v(F, V, "pr", "pr_ms")
    if p is None:
        return None
    c = _pr_class(p)
    lead_pr = F.lead_val("II", "pr")
    forms = [
        f"The PR interval is {ms(rng, p)}.",
        f"PR interval: {round(p)} ms.",
        f"PR measures {ms(rng, p)}" + (" (normal 120–200 ms)." if c == "normal" else "."),
        f"There is a {ms_adj(rng, p)} PR interval.",
        f"AV conduction: PR {round(p)} ms" + (", within normal limits." if c == "normal" else "."),
        f"The PR is {c} at {ms(rng, p)}.",
        f"PR {round(p)} ms" + ("; no AV block." if p <= 200 else "."),
        f"Each P wave is followed by a QRS after a PR interval of about {r10(p)} ms.",
        f"**PR:** {round(p)} ms.",
        f"The PR interval of {round(p)} ms is {c}.",
    ]
    if c == "normal":
        forms += [f"The PR interval ({round(p)} ms) lies within the normal 120-200 ms range.",
                  f"PR is {round(p)} ms, under the 200 ms cutoff for first-degree block."]
    if lead_pr is not None and "pr" not in V:
        forms += [f"In lead II the PR interval measures {ms(rng, lead_pr)}.", f"Lead II: PR {round(lead_pr)} ms."]
    elif lead_pr is not None and abs(V["pr"] - lead_pr) > 40:
        forms += [f"In lead II the PR interval measures {ms(rng, V['pr'])}."]
    return rng.choice(forms)


def _qrs_class(q: float) -> str:
    return "wide" if q >= 120 else ("borderline" if q >= 110 else "narrow")


def qrs(F: Facts, rng: Pick, V: dict) -> str | None:
    q = _v(F, V, "qrs", "qrs_ms")
    if q is None:
        return None
    c = _qrs_class(q)
    forms = [
        f"The QRS duration is {ms(rng, q)}.",
        f"QRS duration: {round(q)} ms ({c}).",
        f"The QRS complexes are {c}, {ms(rng, q)}.",
        f"QRS {round(q)} ms.",
        f"There is a {c} QRS of {ms(rng, q)}.",
        f"The QRS measures {round(q)} ms" + (" (normal < 110 ms)." if c == "narrow" else "."),
        f"A {ms_adj(rng, q)} QRS complex is seen.",
        f"QRS width is {round(q)} msec.",
        f"**QRS:** {round(q)} ms, {c}.",
        f"Ventricular depolarisation is {'prolonged' if c == 'wide' else 'of normal duration'} with a QRS of {ms(rng, q)}.",
        f"QRS duration of {ms(rng, q)}" + (", below the 120 ms threshold for bundle branch block." if q < 110 else "."),
    ]
    return rng.choice(forms)


def qt(F: Facts, rng: Pick, V: dict) -> str | None:
    t, c, cf = _v(F, V, "qt", "qt_ms"), _v(F, V, "qtc", "qtc_ms"), _v(F, V, "qtcf", "qtc_fridericia_ms")
    if t is None or c is None:
        return None
    longq = c > 460 or "LQT" in F.labels
    word = ("prolonged" if c > 460 else "borderline prolonged") if longq else "normal"
    forms = [
        f"The QT interval is {ms(rng, t)}, with a corrected QTc of {ms(rng, c)}.",
        f"QT/QTc {round(t)}/{round(c)} ms.",
        f"QT {round(t)} ms, QTc (Bazett) {round(c)} ms.",
        f"The corrected QT interval is {round(c)} ms (QT {round(t)} ms).",
        f"QT and QTc are {round(t)} and {round(c)} ms, respectively.",
        f"The QTc is {word} at {ms(rng, c)}.",
        f"QTc: {round(c)} ms (Bazett); {round(cf)} ms by Fridericia." if cf is not None else f"QTc: {round(c)} ms.",
        f"The measured QT of {ms(rng, t)} corrects to a QTc of {round(c)} ms.",
        f"**QT/QTc:** {round(t)}/{round(c)} ms.",
        f"Repolarisation: QT {round(t)} ms, QTc {round(c)} ms, which is {word}.",
        f"A {ms_adj(rng, c)} QTc is noted.",
        f"Fridericia-corrected QT is {round(cf)} ms (QT {round(t)} ms)." if cf is not None else f"QT is {round(t)} ms.",
    ]
    if not longq and c < 440:
        forms.append(f"QTc of {round(c)} ms is below the 450 ms upper limit.")
    if c > 460:
        forms.append(f"The QTc of {round(c)} ms exceeds the usual upper limit of about 450–460 ms.")
    return rng.choice(forms)


def intervals(F: Facts, rng: Pick, V: dict) -> str | None:
    """PR, QRS and QT in one list sentence."""
    p, q, t = _v(F, V, "pr", "pr_ms"), _v(F, V, "qrs", "qrs_ms"), _v(F, V, "qt", "qt_ms")
    c = _v(F, V, "qtc", "qtc_ms")
    if None in (p, q, t, c):
        return None
    P, Q, T, C = round(p), round(q), round(t), round(c)
    return rng.choice([
        f"PR, QRS and QT intervals are {P}, {Q} and {T} ms, respectively, with a QTc of {C} ms.",
        f"Intervals: PR {P} ms, QRS {Q} ms, QT/QTc {T}/{C} ms.",
        f"The PR, QRS and QTc measure {P}, {Q} and {C} ms.",
        f"Intervals are PR {P} ms, QRS {Q} ms, QT {T} ms (QTc {C} ms).",
        f"**Intervals:** PR {P} ms | QRS {Q} ms | QT {T} ms | QTc {C} ms.",
        f"PR/QRS/QT = {P}/{Q}/{T} ms; QTc {C} ms.",
        f"The PR interval ({P} ms), QRS duration ({Q} ms) and QTc ({C} ms) were measured.",
        f"Measured intervals were PR {p / 1000:.2f} s, QRS {q / 1000:.2f} s and QT {t / 1000:.2f} s, QTc {C} ms.",
        f"Conduction intervals are PR {P} ms and QRS {Q} ms, with a QT of {T} ms corrected to {C} ms.",
        f"The intervals (PR {P}, QRS {Q}, QT {T}, QTc {C} ms) were reviewed.",
    ] + ([f"PR {P} ms, QRS {Q} ms and QTc {C} ms are all within normal limits."]
         if 120 <= p <= 200 and q < 110 and c < 440 else []))


# ---------------------------------------------------------------- axis

def axis_class(a: float) -> str:
    if -30 <= a <= 90:
        return "normal"
    if -90 <= a < -30:
        return "left axis deviation"
    if 90 < a <= 180:
        return "right axis deviation"
    return "extreme (northwest) axis"


def axis(F: Facts, rng: Pick, V: dict) -> str | None:
    a = _v(F, V, "axis", "axis_deg")
    if a is None:
        return None
    c = axis_class(a)
    d = deg(rng, a)
    desc = {"normal": "a normal frontal axis", "left axis deviation": "left axis deviation",
            "right axis deviation": "right axis deviation", "extreme (northwest) axis": "an extreme (northwest) axis"}[c]
    forms = [
        f"The QRS axis is {d}, which is {c if c != 'normal' else 'normal'}.",
        f"Frontal QRS axis: {d} ({c}).",
        f"The mean QRS axis lies at {d}, {desc}.",
        f"Axis {d}.",
        f"There is {desc} at {d}.",
        f"The electrical axis is {d}.",
        f"**Axis:** {d}, {c}.",
        f"The QRS axis of {d} indicates {desc}.",
        f"QRS axis approximately {round(a)} degrees.",
        f"The QRS axis, at {d}, is {c}.",
        f"Axis: {round(a)}°.",
    ]
    if c == "normal":
        forms += [f"The axis is normal at {d} (normal range −30° to +90°).",
                  f"With a QRS axis of {d}, the axis falls within the normal -30 to +90 degree range."]
    pa, ta = F.val("p_axis_deg"), F.val("t_axis_deg")
    if pa is not None and ta is not None and "axis" not in V:
        forms += [f"The QRS axis is {d}; the P axis is {round(pa)}° and the T axis {round(ta)}°.",
                  f"Axes: QRS {round(a)}°, P {round(pa)}°, T {round(ta)}°."]
    return rng.choice(forms)
