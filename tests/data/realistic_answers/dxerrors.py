"""Seeded diagnostic errors: an invented finding, a contradicted diagnosis, a labelled diagnosis left out."""
from __future__ import annotations

import random

from errors import Seed
from facts import Facts
from findings import DX, RHYTHM
from grammar import axis_class

Pick = random.Random
BBB = {"RBBB", "IRBBB", "IVCD"}
MI = {"MI", "ACUTEMI"}
STT = {"TAB", "TINV", "NSSTTA", "STC"}


def _st(F: Facts, leads, above: float) -> bool:
    """Every named lead usable, with an ST level at or below `above`."""
    return all(n in F.usable and F.leads[n].st is not None and F.leads[n].st <= above for n in leads)


def _invented(F: Facts) -> list[tuple[str, list[str]]]:
    L, pr, qrs = set(F.labels), F.val("pr_ms"), F.val("qrs_ms")
    sl, cv = F.val("sokolow_lyon_mv"), F.val("cornell_mv")
    out = []
    if pr is not None and pr <= 185:
        out.append(("first-degree AV block", ["There is also first-degree AV block.",
                                              "A first-degree atrioventricular block is present."]))
    if qrs < 110 and not L & BBB:
        out.append(("left bundle branch block", ["The QRS morphology is that of left bundle branch block.",
                                                 "There is a left bundle branch block pattern in V5 and V6."]))
    if qrs < 105 and not L & BBB:
        out.append(("right bundle branch block", ["An rSR' pattern in V1 indicates right bundle branch block."]))
    if (sl or 0) < 3.0 and (cv or 0) < 2.0 and not L & {"LVH", "LVHV", "RVH"}:
        out.append(("LVH", ["Voltage criteria for left ventricular hypertrophy are met.",
                            "There is left ventricular hypertrophy by voltage."]))
    if not L & MI and _st(F, ["V2", "V3", "V4"], 0.08):
        out.append(("anterior STEMI", ["There is ST elevation in V2 to V4, an acute anterior STEMI.",
                                       "Anterior ST elevation indicates an acute anterior myocardial infarction."]))
    if not L & MI and _st(F, ["II", "III", "aVF"], 0.07):
        out.append(("inferior ST elevation", ["ST elevation in the inferior leads suggests an inferior infarction."]))
    if not set(F.val("q_wave_leads") or []) & {"V1", "V2", "V3"} and not L & MI and all(n in F.usable for n in ("V1", "V2", "V3")):
        out.append(("anteroseptal Q waves", ["Pathological Q waves in V1–V3 point to an old anteroseptal infarction."]))
    if F.val("low_voltage_limb") is False and F.val("low_voltage_precordial") is False:
        out.append(("low voltage", ["Low QRS voltage is present in the limb leads.", "There is low voltage throughout."]))
    if (F.val("axis_deg") or 0) > -30 and "LAFB" not in L:
        out.append(("LAFB", ["Left anterior fascicular block is present."]))
    if pr is not None and pr >= 120:
        out.append(("pre-excitation", ["A delta wave suggests Wolff-Parkinson-White pre-excitation."]))
    if not L & STT and all(F.lead_val(n, "t") is not None and F.lead_val(n, "t") > 0.05 for n in ("V4", "V5", "V6")):
        out.append(("lateral T inversion", ["There is T-wave inversion in V4–V6, suggesting lateral ischaemia."]))
    if _st(F, ["V1", "V2"], 0.08):
        out.append(("Brugada pattern", ["Coved ST elevation in V1–V2 suggests a type 1 Brugada pattern."]))
    if "PVC" not in L:
        out.append(("PVC", ["A premature ventricular contraction is also seen.",
                            "There are premature ventricular complexes."]))
    if (F.lead_val("II", "p") or 0) < 0.2:
        out.append(("right atrial enlargement", ["Peaked P waves in lead II indicate right atrial enlargement."]))
    return out


def invented_finding(F: Facts, rng: Pick) -> Seed | None:
    cands = _invented(F)
    name, sentences = rng.choice(cands)
    return Seed("invented_finding", f"states {name}, neither labelled nor supported", extra=rng.choice(sentences))


def _contradicted(F: Facts) -> list[tuple[str, list[str]]]:
    L, hr, a = set(F.labels), F.val("hr_bpm"), F.val("axis_deg")
    out = []
    if "SB" in L or hr < 60:
        out.append(("sinus tachycardia vs bradycardia", ["The rhythm is sinus tachycardia.",
                                                         "This amounts to a sinus tachycardia."]))
    if "STACH" in L or hr > 100:
        out.append(("sinus bradycardia vs tachycardia", ["The rhythm is sinus bradycardia.",
                                                         "This is a sinus bradycardia."]))
    if "SR" in L and 65 < hr < 100 and not L & {"SB", "STACH"}:
        out.append(("bradycardia vs normal rate", ["The rate qualifies as sinus bradycardia."]))
    if L & set(RHYTHM) or F.val("p_waves_present"):
        out.append(("atrial fibrillation vs sinus", ["The underlying rhythm is atrial fibrillation.",
                                                     "Atrial fibrillation with a controlled ventricular response is present.",
                                                     "The rhythm is atrial flutter."]))
    if a is not None and -15 <= a <= 75:
        out.append(("axis deviation vs normal axis", ["There is left axis deviation.", "Right axis deviation is present."]))
    if a is not None and axis_class(a) != "normal" and (a < -40 or a > 100):
        out.append(("normal axis vs deviation", ["The QRS axis is normal.", "The frontal axis is within normal limits."]))
    if L & {"RBBB", "IRBBB"}:
        out.append(("LBBB vs RBBB", ["The conduction pattern is a left bundle branch block."]))
    if "LQT" in L:
        out.append(("normal QT vs prolonged", ["The QT interval is normal.", "QTc is within normal limits."]))
    if L & {"LVH", "LVHV"}:
        out.append(("no LVH vs labelled LVH", ["There is no evidence of left ventricular hypertrophy."]))
    if "TINV" in L:
        out.append(("upright T vs inversion", ["T waves are upright in all leads."]))
    if L & MI:
        out.append(("no infarction vs MI", ["There is no evidence of infarction."]))
    if L & {"PAC", "PVC", "AEB"}:
        out.append(("no ectopy vs premature beats", ["No premature or ectopic beats are seen."]))
    if L - {"SR"}:
        out.append(("normal ECG vs abnormal", ["This is a normal ECG.", "Overall this is a normal electrocardiogram."]))
    return out


def contradicted_diagnosis(F: Facts, rng: Pick) -> Seed | None:
    name, sentences = rng.choice(_contradicted(F))
    return Seed("contradicted_diagnosis", f"contradicts: {name}", extra=rng.choice(sentences))


def missing_labelled_diagnosis(F: Facts, rng: Pick) -> Seed | None:
    cands = [c for c in F.labels if c not in RHYTHM and c in DX
             and not (c == "MI" and "ACUTEMI" in F.labels) and not (c == "TAB" and "TINV" in F.labels)]
    if not cands:
        return None
    code = rng.choice(cands)
    return Seed("missing_labelled_diagnosis", f"labelled {F.names.get(code, code)} ({code}) is never named", omit=code)
