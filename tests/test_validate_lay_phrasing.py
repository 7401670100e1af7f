"""Phrasings external_d.jsonl's false rejections showed (issue 12, fourth author), each class with a true
sentence that must be accepted and a wrong one that must be rejected by the rule named, in this file's own
words over the synthetic record of tests/test_validate_prose.py (sinus rhythm 65 bpm, PR 130 ms, QRS 104 ms,
QT 400 ms, QTc 416/411 ms, axis +40°, R per lead as `_R` there, S −0.3 mV, T +0.25 mV, ST +0.02 mV).

Classes: compound numbers written as words ("a hundred and thirty"), plain-language names of the
measurements ("from the upper to the lower chambers", "the main beat", "times a minute"); a fellow's
telegraphic note (an age-sex tag "58M.", a rate after the rhythm's abbreviation "NSR 65", "SL" for Sokolow-Lyon,
"Ts" for T waves, lead I between a wave letter and its value "S I 0.30").
"""
from __future__ import annotations

import pytest

from tasks.validate.claims import numeric_claims
from tasks.validate.parse import parse_response
from tasks.validate.rules import validate
from tests.test_validate_prose import CTX, S, _lead_ctx

S_I = _lead_ctx({"SR": "sinus rhythm"}, I={"s_amp_mv": -0.5})
LEFT_AXIS = CTX.model_copy(update={"features": CTX.features.model_copy(update={"axis_deg": -50.0})})
ACUTE_IMI = _lead_ctx({"SR": "sinus rhythm", "ACUTEMI": "acute myocardial infarction",
                       "IMI": "inferior myocardial infarction"})
LONG_QTC = CTX.model_copy(update={"features": CTX.features.model_copy(update={"qtc_ms": 480.0})})
ST_AVR = _lead_ctx({"SR": "sinus rhythm"}, aVR={"st_mv": 0.12})
AGED_58 = CTX.model_copy(update={"age": 58.0, "sex": "M"})


def _rules(text: str, ctx=CTX) -> set[str]:
    return {v.rule for v in validate(text, ctx, S).violations}


# (context, true sentence, wrong sentence, the rule the wrong one is rejected by)
CLASSES = [
    # "a hundred and ..." is one hundred and ..., not the words after "and"
    (CTX, "Sinus rhythm, PR a hundred and thirty milliseconds.",
     "Sinus rhythm, PR a hundred and sixty milliseconds.", "numeric_claim"),
    (CTX, "Sinus rhythm with a PR of one hundred and thirty ms and a QT of four hundred ms.",
     "Sinus rhythm with a PR of one hundred and thirty ms and a QT of four hundred and sixty ms.", "numeric_claim"),
    # plain words for the rate
    (CTX, "Your heart beats in a sinus rhythm about 65 times a minute.",
     "Your heart beats in a sinus rhythm about 95 times a minute.", "numeric_claim"),
    (CTX, "Sinus rhythm: the heart is beating 65 times per minute.",
     "Sinus rhythm: the heart is beating 45 times per minute.", "numeric_claim"),
    (CTX, "Sinus rhythm. Your heart rate is about 65 beats each minute.",
     "Sinus rhythm. Your heart rate is about 9 beats each minute.", "numeric_claim"),
    (CTX, "Sinus rhythm. The heart beats 65 times in a minute.", "Sinus rhythm. The heart beats 9 times in a minute.",
     "numeric_claim"),
    # plain words for PR and QRS
    (CTX, "Sinus rhythm. The signal takes 130 ms to travel from the upper to the lower chambers.",
     "Sinus rhythm. The signal takes 230 ms to travel from the upper to the lower chambers.", "numeric_claim"),
    (CTX, "Sinus rhythm. It takes 130 ms between the upper and lower chambers and 104 ms for the main beat.",
     "Sinus rhythm. It takes 130 ms between the upper and lower chambers and 164 ms for the main beat.",
     "numeric_claim"),
    (CTX, "Sinus rhythm. Conduction from the atria to the ventricles takes 130 ms.",
     "Sinus rhythm. Conduction from the atria to the ventricles takes 104 ms.",
     "numeric_claim"),
    (CTX, "Sinus rhythm. The impulse needs 130 ms to get from the upper chambers to the lower chambers.",
     "Sinus rhythm. The impulse needs 250 ms to get from the upper chambers to the lower chambers.",
     "numeric_claim"),
    (CTX, "Sinus rhythm. The main beat is normal in width at 104 ms.",
     "Sinus rhythm. The main beat is normal in width at 54 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm; the impulse spreads through the lower chambers in 104 ms.",
     "Sinus rhythm; the impulse spreads through the lower chambers in 164 ms.", "numeric_claim"),
    # ... but a verb written right after a number names the number after it
    (LONG_QTC, "Sinus rhythm, PR 130 ms and QRS 104 ms, with a QT of 400 ms corrected to 480 ms.",
     "Sinus rhythm, PR 130 ms and QRS 104 ms, with a QT of 400 ms corrected to 560 ms.", "numeric_claim"),
    # an arrow between two RRs: values, not the beat numbers of "cycle 9→10"
    (CTX, "Sinus rhythm (beat 3 at 2.34 s, RR 906 → 912).", "Sinus rhythm (beat 3 at 2.34 s, RR 906 → 1512).",
     "numeric_claim"),
    # a JSON key naming two measures, its values in a string
    (LONG_QTC, 'Sinus rhythm.\n{"qt_qtc": "400 / 480 ms (Bazett)"}',
     'Sinus rhythm.\n{"qt_qtc": "400 / 560 ms (Bazett)"}', "numeric_claim"),
    # "tall" after an S named last: the value is an R
    (CTX, "Sinus rhythm. Lead III is small (R 0.5, S 0.3 mV) while V4 is tall (1.1 mV).",
     "Sinus rhythm. Lead III is small (R 0.5, S 0.3 mV) while V4 is tall (0.3 mV).", "numeric_claim"),
    # "it" carries the wave the sentence before named
    (CTX, "Sinus rhythm. The T wave is the small hump after each beat. In the chest leads it is low, only 0.25 mV"
          " in V5.",
     "Sinus rhythm. The T wave is the small hump after each beat. In the chest leads it is low, only 0.85 mV"
     " in V5.", "numeric_claim"),
    # telegraphic notes
    (AGED_58, "58M. Sinus rhythm 65 bpm.", "71M. Sinus rhythm 65 bpm.", "numeric_claim"),
    (AGED_58, "58 M, sinus rhythm 65 bpm.", "71 M, sinus rhythm 65 bpm.", "numeric_claim"),
    (CTX, "NSR 65, PR 130, QRS 104.", "NSR 95, PR 130, QRS 104.", "numeric_claim"),
    (CTX, "Sinus rhythm. SL 1.3, no LVH.", "Sinus rhythm. SL 2.9, no LVH.", "numeric_claim"),
    (CTX, "Sinus rhythm. Upright Ts (0.25) in V5.", "Sinus rhythm. Upright Ts (0.75) in V5.", "numeric_claim"),
    (S_I, "Sinus rhythm. R V1 0.2; deep S I 0.5.", "Sinus rhythm. R V1 0.2; deep S I 0.3.", "numeric_claim"),
    # spoken signs and spoken hundreds
    (LEFT_AXIS, "Sinus rhythm; the axis is about minus fifty degrees.",
     "Sinus rhythm; the axis is about fifty degrees.", "numeric_claim"),
    (CTX, "Sinus rhythm, PR one thirty, QT three ninety-eight (398 ms).",
     "Sinus rhythm, PR one ninety, QT three ninety-eight (398 ms).", "numeric_claim"),
    (CTX, "Sinus rhythm, QT four hundred, QTc four sixteen by Bazett.",
     "Sinus rhythm, QT four hundred, QTc five sixteen by Bazett.", "numeric_claim"),
    (CTX, "Sinus rhythm; PR one-thirty, QRS 104 ms.",
     "Sinus rhythm; PR one-ninety, QRS 104 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm at sixty-five a minute.", "Sinus rhythm at ninety-five a minute.", "numeric_claim"),
    # "corrected for rate" names the QTc even with "rate" nearer the number
    (CTX, "Sinus rhythm. QT 400 ms; corrected for rate it comes to about 416 ms by Bazett.",
     "Sinus rhythm. QT 400 ms; corrected for rate it comes to about 496 ms by Bazett.", "numeric_claim"),
    # a JSON pair key "qt_qtc": "400 / 416 ms"
    (CTX, 'Sinus rhythm.\n{"qt_qtc": "400 / 416 ms"}', 'Sinus rhythm.\n{"qt_qtc": "400 / 476 ms"}', "numeric_claim"),
    # "recovery time" is the QT, "adjusted for heart rate" the QTc
    (LONG_QTC, "Sinus rhythm. The recovery time is 400 ms; adjusted for heart rate it is 480 ms.",
     "Sinus rhythm. The recovery time is 400 ms; adjusted for heart rate it is 560 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm. The tall spike in lead II measures 1.1 mV.",
     "Sinus rhythm. The tall spike in lead II measures 0.3 mV.", "numeric_claim"),
    # upward spikes and downward waves: R and S
    (CTX, "Sinus rhythm. Lead V4 shows a tall upward spike (1.1 mV) and the downward waves are 0.3 mV deep.",
     "Sinus rhythm. Lead V4 shows a tall upward spike (0.3 mV) and the downward waves are 0.3 mV deep.",
     "numeric_claim"),
    # a time in brackets after "N ms after the Mth" is the time of the beat the sentence is about
    (CTX, "Sinus rhythm. The fourth beat comes 918 ms after the third (at 3.26 s).",
     "Sinus rhythm. The fourth beat comes 918 ms after the third (at 2.34 s).", "numeric_claim"),
    # verbs between a number and the plain name written after it
    (CTX, "Sinus rhythm. The signal takes 130 ms to move from the upper to the lower chambers and 104 ms to"
          " spread through the lower chambers.",
     "Sinus rhythm. The signal takes 130 ms to move from the upper to the lower chambers and 164 ms to"
     " spread through the lower chambers.", "numeric_claim"),
    # criteria compared with: "against 3.5 mV", "the 2.0 mV cut-off", "beyond" after a negation
    (LONG_QTC, "Sinus rhythm. The QT of 400 ms corrects to 480 ms with Bazett, above the usual 450 ms upper limit.",
     "Sinus rhythm. The QT of 400 ms corrects to 560 ms with Bazett, above the usual 450 ms upper limit.",
     "numeric_claim"),
    (LONG_QTC, "Sinus rhythm. The QT of 400 ms corrects to 480 ms with Bazett, shorter than the usual 500 ms upper"
               " limit.",
     "Sinus rhythm. The QT of 400 ms corrects to 560 ms with Bazett, shorter than the usual 600 ms upper limit.",
     "numeric_claim"),
    (CTX, "Sinus rhythm. Sokolow-Lyon is 1.3 mV against 3.5 mV, so no LVH by voltage.",
     "Sinus rhythm. Sokolow-Lyon is 2.3 mV against 3.5 mV, so no LVH by voltage.", "numeric_claim"),
    (CTX, "Sinus rhythm. Sokolow-Lyon is 1.3 mV against the 3.5 mV cut-off for men.",
     "Sinus rhythm. Sokolow-Lyon is 2.3 mV against the 3.5 mV cut-off for men.", "numeric_claim"),
    (CTX, "Sinus rhythm. I don't see ST deviation beyond 0.1 mV in any lead.",
     "Sinus rhythm. I see ST deviation beyond 0.1 mV in V2.", "numeric_claim"),
    (ST_AVR, "Sinus rhythm. ST segments are within 0.05 mV of baseline apart from aVR (+0.12 mV).",
     "Sinus rhythm. ST segments are within 0.05 mV of baseline apart from V2.", "numeric_claim"),
    # plain "spikes" are R waves
    (CTX, "Sinus rhythm. The spikes in the left-sided leads are tall, for example 1.0 mV in V5.",
     "Sinus rhythm. The spikes in the left-sided leads are tall, for example 2.0 mV in V5.", "numeric_claim"),
    # a finding named as what something is "rather than", or what a value "would suggest", is not stated
    (CTX, "Sinus rhythm. A small Q in aVL is positional rather than evidence of infarction.",
     "Sinus rhythm. A small Q in aVL is evidence of infarction.", "unsupported_finding"),
    (CTX, "Sinus rhythm. The QRS of 104 ms is shorter than the 120 ms that would suggest a bundle branch block.",
     "Sinus rhythm. The QRS of 104 ms suggests a bundle branch block.", "diagnosis_contradicts_measurements"),
    (CTX, "Sinus rhythm. I wouldn't call this an infarction.", "Sinus rhythm. I would call this an infarction.",
     "unsupported_finding"),
    (CTX, "Sinus rhythm. The small Q in aVL is more likely positional than a sign of infarction.",
     "Sinus rhythm. The small Q in aVL is more likely a sign of infarction.", "unsupported_finding"),
    (CTX, "Sinus rhythm. Nothing here points to an infarction.", "Sinus rhythm. Everything here points to an"
     " infarction.", "unsupported_finding"),
    # an acute MI named with its territory in between
    (ACUTE_IMI, "Sinus rhythm. Impression: acute inferior myocardial infarction.",
     "Sinus rhythm. Impression: inferior myocardial infarction.", "diagnosis_missing"),
]


@pytest.mark.parametrize("ctx,true,wrong,rule", CLASSES)
def test_a_lay_phrasing_class_accepts_its_true_sentence(ctx, true, wrong, rule):
    verdict = validate(true, ctx, S)
    assert verdict.ok, (true, [(v.rule, v.span, v.detail) for v in verdict.violations])


@pytest.mark.parametrize("ctx,true,wrong,rule", CLASSES)
def test_a_lay_phrasing_class_rejects_its_wrong_sentence_by_the_rule(ctx, true, wrong, rule):
    assert rule in _rules(wrong, ctx), wrong


def test_an_ordinal_with_its_noun_elided_before_a_bracket_is_a_beat():
    claims = numeric_claims("Cycles run from 906 ms (before the second beat) to 948 ms (before the ninth), evenly.")
    assert [(c.values, c.beat) for c in claims if c.measure == "rr"] == [((906.0,), 2), ((948.0,), 9)]


def _language_rejected(text: str) -> bool:
    return any(rule == "language" for rule, _ in parse_response(text).problems)


def test_a_telegraphic_note_of_abbreviations_and_leads_is_english():
    note = ("81F. SR 82, PR 160, QRS 134 (wide), QT/QTcB 458/534. Axis -95. Q waves: I, II (QS -0.44), III, aVF, "
            "V5, V6. TWI II/III/aVF/V5/V6. ST: III +0.06; dep V2 -0.12. Imp: old MI, inferolateral.")
    assert not _language_rejected(note)


def test_a_note_in_another_language_with_the_same_abbreviations_is_still_rejected():
    note = ("81F. SR 82, PR 160, QRS 134 (breit), QT/QTcB 458/534. Lagetyp -95. Q-Zacken: I, II (QS -0.44), III, "
            "aVF, V5, V6. T-Negativierung II/III/aVF/V5/V6. ST: III +0.06; Senkung V2 -0.12. Befund: alter Infarkt.")
    assert _language_rejected(note)


@pytest.mark.parametrize("text", [
    "Sinus rhythm; cycles of 906 ms versus 1240 ms after the early beat.",
    "Sinus rhythm; an RR of 906 ms against 1240 ms later in the strip.",
])
def test_a_value_contrasted_with_another_measurement_is_still_checked(text):
    assert "numeric_claim" in _rules(text)
