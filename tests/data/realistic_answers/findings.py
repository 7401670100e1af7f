"""Statement templates for morphology (amplitudes, ST, T, Q), unusable leads and the diagnostic conclusion."""
from __future__ import annotations

import random

from facts import Facts, leads_list, mv

Pick = random.Random

# How cardiologists name each labelled diagnosis (several wordings each, none taken from the validator).
DX: dict[str, list[str]] = {
    "SR": ["sinus rhythm", "normal sinus rhythm"],
    "SB": ["sinus bradycardia"],
    "STACH": ["sinus tachycardia"],
    "SA": ["sinus arrhythmia"],
    "LAE": ["left atrial enlargement", "left atrial enlargement", "left atrial abnormality (enlargement)"],
    "LQT": ["a prolonged QT interval", "QT prolongation", "long QT interval", "prolonged QTc"],
    "LVH": ["left ventricular hypertrophy", "left ventricular hypertrophy (LVH)"],
    "LVHV": ["left ventricular high voltage", "high left ventricular voltage", "LV high voltage"],
    "RVH": ["right ventricular hypertrophy"],
    "NSSTTA": ["non-specific ST-T abnormality", "nonspecific ST-T wave abnormalities", "non-specific ST-T changes"],
    "STC": ["ST changes", "ST-segment changes", "non-specific ST changes"],
    "TAB": ["T-wave abnormality", "T wave abnormalities", "abnormal T waves"],
    "TINV": ["T-wave inversion", "inverted T waves", "T wave inversion"],
    "RBBB": ["right bundle branch block", "complete right bundle branch block", "RBBB"],
    "IRBBB": ["incomplete right bundle branch block", "incomplete RBBB"],
    "IVCD": ["a non-specific intraventricular conduction delay", "nonspecific intraventricular conduction delay",
             "intraventricular conduction delay"],
    "PAC": ["premature atrial contractions", "premature atrial complexes", "atrial premature beats", "PACs"],
    "PVC": ["premature ventricular contractions", "ventricular premature beats", "PVCs",
            "premature ventricular complexes"],
    "AEB": ["an atrial escape beat", "atrial escape beats"],
    "MI": ["myocardial infarction", "an infarct pattern (myocardial infarction)"],
    "ACUTEMI": ["acute myocardial infarction", "an acute MI"],
}
RHYTHM = ("SR", "SB", "STACH", "SA")
# Statements left out when a label is deliberately not named (so the answer says nothing of it).
TIED = {"LQT": {"qt", "intervals"}, "RBBB": {"qrs", "intervals", "lqrs"}, "IRBBB": {"qrs", "intervals", "lqrs"},
        "IVCD": {"qrs", "intervals", "lqrs"}, "LVH": {"amp"}, "LVHV": {"amp"}, "RVH": {"amp", "axis"},
        "TAB": {"t", "st"}, "TINV": {"t", "st"}, "NSSTTA": {"t", "st"}, "STC": {"t", "st"},
        "PAC": {"rr"}, "PVC": {"rr"}, "AEB": {"rr", "p"}, "MI": {"q", "qg", "st"}, "ACUTEMI": {"q", "qg", "st"}, "LAE": {"p"}}

WAVE = {"r": "R wave", "s": "S wave", "t": "T wave", "p": "P wave", "q": "Q wave"}


def amp_choices(F: Facts) -> list[tuple[str, str, float]]:
    """(lead, wave, median value) a teacher would quote: R, S and T amplitudes of usable leads."""
    out = []
    for n in F.usable:
        ld = F.leads[n]
        for w in ("r", "s", "t"):
            v = getattr(ld, w)
            if v is not None and abs(v) >= 0.15:
                out.append((n, w, v))
    return out


def amp(F: Facts, rng: Pick, V: dict) -> str | None:
    choices = amp_choices(F)
    if "amp" in V:
        lead, w, val = V["amp"]
    elif "sokolow" in V:
        return rng.choice([f"The Sokolow-Lyon index (SV1 + RV5/V6) is {V['sokolow']:.1f} mV.",
                           f"S in V1 plus R in V5 or V6 sums to {V['sokolow']:.2f} mV."])
    elif choices:
        lead, w, val = rng.choice(choices)
    else:
        return None
    name, a = WAVE[w], mv(rng, val)
    if w == "t" and val < 0:  # a negative T wave is named as such, never quoted as a bare magnitude
        name = rng.choice(["inverted T wave", "negative T wave"])
    forms = [
        f"The {name} in {lead} measures {a}.",
        f"{lead} shows an {name} amplitude of {a}." if w in "rs" else f"{lead} shows a{'n' if name[0] == 'i' else ''} {name} of {a}.",
        f"{name} amplitude in lead {lead} is {a}.",
        f"In {lead}, the {name.split()[0]} is {a}." if w != "t" or val > 0 else f"In {lead}, the T wave is inverted ({val:.2f} mV).",
        f"A{'n' if name[0] == 'i' else ''} {abs(val):.1f}-mV {name} is present in {lead}.",
        f"{lead}: {name} {a}.",
    ]
    if w == "r":
        forms += [f"R-wave height reaches {a} in {lead}.", f"The tallest R wave, in {lead}, is {a}." if val == max(
            [x[2] for x in choices if x[1] == "r"] or [val]) else f"{lead} has an R wave of {a}."]
    if w == "s":
        forms += [f"There is an S wave of {a} in {lead}.", f"The S-wave depth in {lead} is {a}."]
    if w == "t":
        forms += [f"The T wave in {lead} is {'inverted' if val < 0 else 'upright'} at {a}."] if val > 0 else [
            f"The T wave in {lead} is inverted at {a}.", f"T-wave amplitude in {lead} is {val:.2f} mV."]
    if "amp" not in V:
        group = [n for n in ("V4", "V5", "V6") if F.lead_val(n, "r") is not None]
        rs = [F.leads[n].r for n in group]
        if len(group) == 3 and min(rs) >= 0.2:
            forms.append(f"R waves of {min(rs):.1f}–{max(rs):.1f} mV are seen across {leads_list(rng, group)}.")
        sl = F.val("sokolow_lyon_mv")
        if sl is not None and "LVH" not in V.get("omit", ()) and "LVHV" not in V.get("omit", ()):
            crit = (" meeting the 3.5 mV voltage criterion" if sl >= 3.5 else " below the 3.5 mV criterion")
            forms.append(f"The Sokolow-Lyon index is {sl:.1f} mV,{crit}.")
    return rng.choice(forms)


def _st_word(v: float) -> str:
    return "elevation" if v > 0 else "depression"


def st(F: Facts, rng: Pick, V: dict) -> str | None:
    if "st" in V:
        lead, val = V["st"]
        return _st_lead(rng, lead, val)
    elev, dep = F.st_elevated(0.1), F.st_depressed(-0.05)
    forms = []
    m = F.max_abs_st()
    thr = next(t for t in (0.05, 0.1, 0.15, 0.2, 0.3, 1.0) if m <= t - 0.01)
    if thr <= 0.15:
        forms += [f"No ST deviation beyond {thr:g} mV is seen in any lead.",
                  f"ST segments stay within {thr:g} mV of the baseline in all leads.",
                  f"There is no ST elevation or depression exceeding {thr:g} mV."]
    if not elev:
        forms += ["There is no significant ST elevation.", "No ST-segment elevation is present in any lead."]
    for group, name in ((("II", "III", "aVF"), "the inferior leads"), (("V1", "V2", "V3"), "V1–V3"),
                        (("V4", "V5", "V6"), "V4 through V6"), (("I", "aVL"), "the high lateral leads")):
        if all(n in F.usable and F.leads[n].st is not None for n in group):
            g = F.max_abs_st(list(group))
            if g < 0.04:
                forms += [f"ST segments are isoelectric in {name}."]
            if g <= 0.09:
                forms += [f"There is no ST deviation beyond 0.1 mV in {name}."]
    cont = F.contiguous(dep)
    if cont:
        names = sorted({x for pair in cont for x in pair})
        worst = min(F.leads[n].st for n in names)
        forms += [f"ST depression of up to {abs(worst):.2f} mV is present in {leads_list(rng, names)}.",
                  f"There is mild ST depression in {leads_list(rng, names)}, reaching {abs(worst):.2f} mV."]
    cont_e = F.contiguous(elev)
    if cont_e:
        names = sorted({x for pair in cont_e for x in pair})
        top = max(F.leads[n].st for n in names)
        forms += [f"ST elevation of up to {top:.2f} mV is seen in {leads_list(rng, names)}."]
    criterion = {x for pair in cont + cont_e for x in pair}
    cands = [n for n in F.usable if F.leads[n].st is not None and abs(F.leads[n].st) >= 0.03]
    if cands:
        n = rng.choice(cands)
        forms.append(_st_lead(rng, n, F.leads[n].st) if n in criterion else _st_level(rng, n, F.leads[n].st))
    return rng.choice(forms) if forms else None


def _st_level(rng: Pick, lead: str, val: float) -> str:
    """A small ST offset, quoted as a level, not called elevation or depression."""
    where = "above" if val > 0 else "below"
    return rng.choice([f"ST level in {lead}: {val:+.2f} mV.",
                       f"The ST segment in {lead} sits {abs(val):.2f} mV {where} the baseline, which is not significant.",
                       f"In {lead} the ST offset is only {val:+.2f} mV."])


def _st_lead(rng: Pick, lead: str, val: float) -> str:
    w, a = _st_word(val), f"{abs(val):.2f} mV"
    sign = f"{val:+.2f} mV"
    return rng.choice([
        f"There is ST {w} of {a} in {lead}.",
        f"The ST segment in {lead} is {'elevated' if val > 0 else 'depressed'} by {a}.",
        f"{lead} shows {a} of ST {w}.",
        f"ST level in {lead}: {sign}.",
        f"In lead {lead} the ST segment sits at {sign} relative to baseline.",
        f"ST {w} measuring {a} is noted in {lead}.",
    ])


def t_waves(F: Facts, rng: Pick, V: dict) -> str | None:
    inv = [n for n in F.usable if F.leads[n].t is not None and F.leads[n].t < -0.05]
    up = [n for n in F.usable if F.leads[n].t is not None and F.leads[n].t > 0.05]
    forms = []
    abn = [n for n in ("I", "II", "V3", "V4", "V5", "V6") if n in inv]
    if abn:
        worst = min(abn, key=lambda n: F.leads[n].t)
        forms += [f"T waves are inverted in {leads_list(rng, abn)}.",
                  f"There is T-wave inversion in {leads_list(rng, abn)}" + (
                      f", deepest in {worst} ({F.leads[worst].t:.2f} mV)." if len(abn) > 1 else f" ({F.leads[worst].t:.2f} mV)."),
                  f"Negative T waves are present in {leads_list(rng, abn)}."]
    elif "aVR" in inv:
        forms += ["The T wave is negative in aVR, as expected.", "As usual, the T wave in aVR is negative."]
    for group, name in ((("II", "III", "aVF"), "the inferior leads"), (("I", "aVL", "V5", "V6"), "the lateral leads"),
                        (("V2", "V3", "V4", "V5", "V6"), "V2 through V6")):
        if all(n in up for n in group):
            forms += [f"T waves are upright in {name}.", f"{name[0].upper() + name[1:]} show upright T waves."]
    if up:
        n = max(up, key=lambda x: F.leads[x].t)
        forms.append(f"The tallest T wave is in {n} at {F.leads[n].t:.2f} mV.")
    upright = [n for n in up if n in ("I", "II", "V3", "V4", "V5", "V6")]
    if len(upright) >= 2 and not abn:
        forms += [f"T waves are upright in {leads_list(rng, upright)}."]
    return rng.choice(forms) if forms else None


def q_waves(F: Facts, rng: Pick, V: dict) -> str | None:
    q = [n for n in F.usable if n in (F.val("q_wave_leads") or [])]
    if q:
        return rng.choice([f"Q waves are present in {leads_list(rng, q)}.",
                           f"Significant Q waves are seen in {leads_list(rng, q)}.",
                           f"There are Q waves in {leads_list(rng, q)}."])
    return rng.choice(["No pathological Q waves are seen.", "There are no significant Q waves.",
                       "Q waves are absent.", "No Q waves are seen in any lead.", "There are no pathological Q waves."])


def q_groups(F: Facts, rng: Pick, V: dict) -> str | None:
    """Q waves stated per lead group, only where the whole group is usable."""
    q = set(F.val("q_wave_leads") or [])
    forms = []
    for group, name in ((("II", "III", "aVF"), "the inferior leads"), (("V1", "V2", "V3"), "V1 through V3"),
                        (("I", "aVL", "V5", "V6"), "the lateral leads")):
        if all(n in F.usable for n in group) and not q & set(group):
            forms += [f"There are no Q waves in {name}.", f"No pathological Q waves in {name}."]
    return rng.choice(forms) if forms else None


def unusable(F: Facts, rng: Pick, V: dict) -> str | None:
    if not F.unusable:
        return None
    issues = {i.split(":")[0]: i.split(":")[1] for i in F.val("lead_issues") or [] if ":" in i}
    why = {"noise": "too noisy", "flat": "flat (no signal)"}.get(issues.get(F.unusable[0], ""), "not interpretable")
    ls = leads_list(rng, F.unusable)
    verb = "is" if len(F.unusable) == 1 else "are"
    return rng.choice([f"{ls[0].upper() + ls[1:]} {verb} {why} and cannot be assessed.",
                       f"Note that {ls} {verb} {why}, so that part of the tracing cannot be read.",
                       f"{ls[0].upper() + ls[1:]} {verb} not interpretable ({why}).",
                       f"Leads that cannot be assessed: {ls} ({why}).",
                       f"{ls[0].upper() + ls[1:]} could not be analysed ({why}).",
                       f"No reliable signal is available in {ls}, which {verb} {why}."])


def dx_phrases(F: Facts, rng: Pick, omit=()) -> list[str]:
    return [rng.choice(DX[c]) for c in F.labels if c in DX and c not in omit]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def conclusion(F: Facts, rng: Pick, V: dict) -> str:
    omit = V.get("omit", ())
    items = dx_phrases(F, rng, omit)
    if not items:
        items = ["no further abnormality"]
    dx = _join(items)
    cautious = [c for c in F.labels if c in ("IVCD", "IRBBB", "LVH", "LAE", "ACUTEMI") and c not in omit]
    tail = ""
    if cautious and rng.random() < 0.5:
        tail = rng.choice([" The voltage and interval findings are only partly typical, so the diagnosis is made with some caution.",
                           " Some of these are expressed only subtly on this tracing and should be correlated clinically.",
                           " Clinical correlation is advised."])
    return rng.choice([
        f"Impression: {dx}.", f"Overall, these findings are consistent with {dx}.", f"Final interpretation: {dx}.",
        f"In summary, {dx}.", f"Putting this together, the ECG shows {dx}.", f"**Impression:** {dx}.",
        f"My interpretation is {dx}.", f"Conclusion: {dx}.", f"Taken together, this tracing is most consistent with {dx}.",
        f"Diagnosis: {dx}.", f"The overall picture is {dx}.", f"So the final read is {dx}.",
        f"The most likely interpretation is {dx}.", f"These findings point to {dx}.", f"Bottom line: {dx}.",
        f"**Final diagnosis:** {dx}.", f"Interpretation: {dx}.", f"The findings favour {dx}.",
    ]) + tail


def p_waves(F: Facts, rng: Pick, V: dict) -> str | None:
    """P-wave polarity and size in the leads where it is read (never a diagnosis)."""
    p1, p2 = F.lead_val("I", "p"), F.lead_val("II", "p")
    if not F.val("p_waves_present") or p2 is None or p2 <= 0.05:
        return None
    forms = [f"P waves are upright in lead II ({p2:.2f} mV).", f"The P wave in II measures {p2:.2f} mV.",
             f"Lead II shows upright P waves of about {p2:.1f} mV before each QRS."]
    if p1 is not None and p1 > 0.05:
        forms += ["P waves are upright in I and II.", f"Upright P waves in I ({p1:.2f} mV) and II ({p2:.2f} mV) point to a sinus origin."]
    p_ax = F.val("p_axis_deg")
    if p_ax is not None and 0 <= p_ax <= 75:
        forms.append(f"The P-wave axis is {round(p_ax)}°, consistent with a sinus origin.")
    return rng.choice(forms)


def lead_qrs(F: Facts, rng: Pick, V: dict) -> str | None:
    """The QRS duration read in one lead (its median over beats)."""
    cands = [n for n in ("II", "V1", "V5", "V6", "I") if F.lead_val(n, "qrs") is not None]
    if not cands:
        return None
    n = rng.choice(cands)
    q = F.leads[n].qrs
    return rng.choice([f"In {n} the QRS measures {round(q)} ms.", f"QRS width in lead {n} is about {round(q)} ms.",
                       f"Measured in {n}, the QRS complex lasts {round(q)} ms."])
