"""Further ways teachers write what they measured (issue 12, third validator session), each class with a true
sentence that must be accepted and a wrong one that must be rejected, in this file's own words over the
synthetic record of tests/test_validate_prose.py (sinus rhythm 65 bpm, PR 130 ms, QRS 104 ms, QT 400 ms,
QTc 416/411 ms, axis +40°, R per lead as `_R` there, S −0.3 mV, T +0.25 mV, ST +0.02 mV, nine beats).

The first group are the classes external_c.jsonl's false rejections showed; the second, phrasings GPT-4o and
DeepSeek-R1 use that no corpus file had (numbers as words, grid units, JSON keys, formula sums, qualitative
statements). Every wrong case names the rule it must be rejected by.
"""
from __future__ import annotations

import pytest

from tasks.validate.claims import numeric_claims
from tasks.validate.rules import validate
from tests.test_validate_prose import CTX, S, _ctx, _lead_ctx

ST_INFERIOR = _lead_ctx({"SR": "sinus rhythm"}, II={"st_mv": -0.12}, aVF={"st_mv": -0.1})
ST_V3 = _lead_ctx({"SR": "sinus rhythm"}, V3={"st_mv": 0.22, "t_amp_mv": 0.9})
ST_V2 = _lead_ctx({"SR": "sinus rhythm"}, V2={"st_mv": 0.14})
Q_AVR = _lead_ctx({"SR": "sinus rhythm"}, aVR={"q_amp_mv": -0.8, "st_mv": 0.11})
T_V1 = _lead_ctx({"SR": "sinus rhythm"}, V1={"t_amp_mv": -0.2})
AGED_29 = CTX.model_copy(update={"age": 29.0})
IRBBB = _ctx(SR="sinus rhythm", IRBBB="incomplete right bundle branch block")
LONG_QT = CTX.model_copy(update={"features": CTX.features.model_copy(update={"qtc_ms": 480.0})})


def _rules(text: str, ctx=CTX) -> set[str]:
    return {v.rule for v in validate(text, ctx, S).violations}


def _accepted(text: str, ctx=CTX) -> None:
    verdict = validate(text, ctx, S)
    assert verdict.ok, (text, [(v.rule, v.span, v.detail) for v in verdict.violations])


# (context, true sentence, wrong sentence, the rule the wrong one is rejected by)
CORPUS_CLASSES = [
    # a depression or elevation named without "ST"
    (ST_INFERIOR, "Sinus rhythm. Slight depression in the inferior leads (II −0.12 mV, aVF −0.10 mV).",
     "Sinus rhythm. Slight depression in the inferior leads (II −0.32 mV, aVF −0.10 mV).", "numeric_claim"),
    # a size word between the value and its lead
    (CTX, "Sinus rhythm. S waves are 0.3 mV deep in V1 and R waves 1.0 mV tall in V5.",
     "Sinus rhythm. S waves are 0.3 mV deep in V1 and R waves 1.9 mV tall in V5.", "numeric_claim"),
    (CTX, "Sinus rhythm. R waves of 1.1, 0.5 and 0.8 mV tall in II, III and aVF and 0.2 mV tall in V1.",
     "Sinus rhythm. R waves of 1.1, 0.5 and 0.8 mV tall in II, III and aVF and 0.9 mV tall in V1.", "numeric_claim"),
    # a beat number ends a list of values; each cycle is checked at the beat written after it
    (CTX, "Sinus rhythm; cycles of 906 ms ending beat #2 and 948 ms ending beat #9.",
     "Sinus rhythm; cycles of 906 ms ending beat #2 and 1240 ms ending beat #9.", "numeric_claim"),
    # a threshold said of the values of the sentence before
    (CTX, "Sinus rhythm. The QTc is 416 ms by Bazett and 411 ms by Fridericia. Both are above 405 ms, while the QT"
          " itself is 400 ms.",
     "Sinus rhythm. The QTc is 416 ms by Bazett and 411 ms by Fridericia. Both are above 415 ms, while the QT"
     " itself is 400 ms.", "numeric_claim"),
    # a value named again with "the" keeps the measure it was stated with
    (ST_V3, "Sinus rhythm. ST is raised by 0.22 mV in V3 with tall T waves (0.9 mV); the 0.22 mV in V3 is common in"
            " young men.",
     "Sinus rhythm. ST is raised by 0.52 mV in V3 with tall T waves (0.9 mV); the 0.52 mV in V3 is common in"
     " young men.", "numeric_claim"),
    # a total written after the values it adds
    (CTX, "Sinus rhythm. The S wave in V1 is 0.3 mV deep and the R wave in V5 1.0 mV tall, 1.3 mV together.",
     "Sinus rhythm. The S wave in V1 is 0.3 mV deep and the R wave in V5 1.0 mV tall, 2.3 mV together.",
     "numeric_claim"),
    # an age, checked on the record's
    (AGED_29, "Sinus rhythm at 65 bpm, a normal tracing for a young man; nothing unusual at 29.",
     "Sinus rhythm at 65 bpm, a normal tracing for a young man; nothing unusual at 62.", "numeric_claim"),
    (AGED_29, "In a 29-year-old man, sinus rhythm at 65 bpm.", "In a 54-year-old man, sinus rhythm at 65 bpm.",
     "numeric_claim"),
    (AGED_29, "Sinus rhythm; the patient's heart rate is steady at 65.",  # a measure in the clause: not an age
     "Sinus rhythm; the patient's heart rate is steady at 95.", "numeric_claim"),
    # a block qualified after its name
    (IRBBB, "Sinus rhythm; with a QRS of 104 ms the right bundle branch block is incomplete.",
     "Sinus rhythm; with a QRS of 104 ms the right bundle branch block is complete.",
     "diagnosis_contradicts_measurements"),
    # a finding inside an aside belongs to the lead before the aside, not the one after it
    (T_V1, "Sinus rhythm. V1 has T −0.2 mV (a normal T inversion there), V3 R 0.8 mV.",
     "Sinus rhythm. V1 has T −0.2 mV, V3 shows T inversion.", "unsupported_finding"),
    # "other leads" take the measure of the values before them, not of a wave named in passing
    (ST_V2, "Sinus rhythm. ST raised by 0.14 mV in V2 with upright T waves; other leads within 0.05 mV.",
     "Sinus rhythm. ST raised by 0.14 mV in V2 with upright T waves; other leads up by 0.14 mV too.", "numeric_claim"),
    # two values, one name before and one after them
    (Q_AVR, "Sinus rhythm. aVR shows a Q of −0.8 mV and 0.11 mV ST elevation.",
     "Sinus rhythm. aVR shows a Q of −0.3 mV and 0.11 mV ST elevation.", "numeric_claim"),
]

NEW_CLASSES = [
    # numbers written as words
    (CTX, "Sinus rhythm at sixty-five beats per minute; the QRS lasts one hundred and four milliseconds.",
     "Sinus rhythm at ninety-five beats per minute.", "numeric_claim"),
    (CTX, "Sinus rhythm; the PR interval is one hundred thirty ms and the QT four hundred ms.",
     "Sinus rhythm; the QRS lasts one hundred and forty milliseconds.", "numeric_claim"),
    (CTX, "Sinus rhythm; the PR is zero point one three seconds and there is one P wave per QRS.",
     "Sinus rhythm; the PR interval is two hundred and thirty ms.", "numeric_claim"),
    # millimetres at standard gain and grid squares at 25 mm/s
    (CTX, "Sinus rhythm. At standard gain (10 mm = 1 mV) the R wave in lead II is 11 mm tall.",
     "Sinus rhythm. The R wave in lead II is 20 mm tall.", "numeric_claim"),
    (CTX, "Sinus rhythm. The QRS spans about 2.5 small squares and the PR just over three small boxes.",
     "Sinus rhythm. The QRS spans about 4 small squares.", "numeric_claim"),
    (CTX, "Sinus rhythm. The RR interval is a little under 5 large squares.",
     "Sinus rhythm. The RR interval is about 7 large squares.", "numeric_claim"),
    # abbreviated units with a full stop
    (CTX, "Sinus rhythm, PR 0.13 sec., QRS .104 secs, rate 65 bpm.", "Sinus rhythm, PR 0.23 sec., rate 65 bpm.",
     "numeric_claim"),
    # a time written as a mark
    (CTX, "Sinus rhythm; the fifth beat falls at the 4.2-second mark.",
     "Sinus rhythm; the fifth beat falls at the 7-second mark.", "numeric_claim"),
    # voltage sums written as formulas (Sokolow-Lyon S V1 + R V5 = 1.3 mV here; Cornell R aVL + S V3 = 0.6 mV)
    (CTX, "Sinus rhythm. Sokolow-Lyon: SV1 + RV5 = 0.3 + 1.0 = 1.3 mV, well below 3.5 mV.",
     "Sinus rhythm. Sokolow-Lyon: SV1 + RV5 = 0.3 + 1.0 = 2.3 mV.", "numeric_claim"),
    (CTX, "Sinus rhythm. The Sokolow-Lyon voltage (S in V1 + R in V5) is 1.3 mV.",
     "Sinus rhythm. The Sokolow-Lyon voltage (S in V1 + R in V5) is 3.9 mV.", "numeric_claim"),
    (CTX, "Sinus rhythm. Cornell voltage RaVL + SV3 = 0.6 mV.", "Sinus rhythm. Cornell voltage RaVL + SV3 = 1.5 mV.",
     "numeric_claim"),
    # a QTc named with its formula is checked on that formula
    (LONG_QT, "Sinus rhythm; QTc 480 ms (Bazett) and 411 ms (Fridericia).",
     "Sinus rhythm; QTc (Fridericia) 480 ms.", "numeric_claim"),
    # qualitative statements against the measurement
    (CTX, "Sinus rhythm at a normal rate; the QT is not prolonged and the QRS is narrow.",
     "Sinus rhythm; the QTc interval is prolonged at 416 ms.", "diagnosis_contradicts_measurements"),
    (LONG_QT, "Sinus rhythm; the QTc is prolonged at 480 ms.", "Sinus rhythm; the PR interval is short.",
     "diagnosis_contradicts_measurements"),
    (CTX, "Sinus rhythm; the QRS is not wide and the PR is not prolonged.", "Sinus rhythm; the QRS is wide.",
     "diagnosis_contradicts_measurements"),
    (CTX, "Sinus rhythm; the rate is neither fast nor slow.", "Sinus rhythm; the rate is fast.",
     "diagnosis_contradicts_measurements"),
    # hedged findings are checked like stated ones
    (CTX, "Sinus rhythm; no evidence of AV block.", "Sinus rhythm, possibly first-degree AV block.",
     "diagnosis_contradicts_measurements"),
    (CTX, "Sinus rhythm; left ventricular hypertrophy is not present.",
     "Sinus rhythm; left ventricular hypertrophy cannot be excluded.", "diagnosis_contradicts_measurements"),
    (CTX, "Sinus rhythm; the QT may be at the upper end of normal but is not prolonged.",
     "Sinus rhythm; the QT is possibly prolonged.", "diagnosis_contradicts_measurements"),
    # JSON and key: value blocks
    (CTX, '{"rhythm": "sinus rhythm", "heart_rate": 65, "pr_ms": 130, "qrs_ms": 104, "qtc_ms": 416}',
     '{"rhythm": "sinus rhythm", "heart_rate": 95, "pr_ms": 130}', "numeric_claim"),
    (CTX, "rhythm: sinus rhythm\nheart_rate_bpm: 65\npr_interval: 130 ms\nqrs_duration_ms: 104",
     "rhythm: sinus rhythm\nheart_rate_bpm: 65\nqrs_duration_ms: 154", "numeric_claim"),
    # markdown bold around numbers and labels
    (CTX, "Sinus rhythm at **65 bpm** with a QRS of **104 ms**. **PR:** 130 ms.",
     "Sinus rhythm at **95 bpm** with a QRS of **104 ms**.", "numeric_claim"),
    # chest-lead shorthand ranges
    (CTX, "Sinus rhythm with ST segments flat in V1-3 and V4–6 (0.02 mV).",
     "Sinus rhythm with ST segments raised in V1-3 (0.32 mV).", "numeric_claim"),
    # a worked formula: each value paired with the name of the step before it, the last one the result
    (CTX, "Sinus rhythm; QTc = QT/√RR = 400/√0.924 = 416 ms, QRS 104 ms.",
     "Sinus rhythm; QTc = QT/√RR = 400/√0.924 = 486 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm; QTcF = QT / RR^(1/3) = 400 / 0.924^(1/3) = 411 ms.",
     "Sinus rhythm; QTcF = QT / RR^(1/3) = 460 / 0.924^(1/3) = 411 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm; RR = 60000/65 = 923 ms, and 60,000 / 924 ≈ 65.", "Sinus rhythm; RR = 60000/65 = 523 ms.",
     "numeric_claim"),
    # R/S ratios, formed from the lead's R and S (V1 0.2/0.3 here, V5 1.0/0.3)
    (CTX, "Sinus rhythm; the R/S ratio is 0.67 in V1, below 1, and above 1 in V5.",
     "Sinus rhythm; the R/S ratio is 3.0 in V1.", "numeric_claim"),
    # other spellings of units and hyphenated number words
    (CTX, "Sinus rhythm at 65 b/min; the PR is one-hundred-thirty milliseconds.", "Sinus rhythm at 85 b/min.",
     "numeric_claim"),
    # inline bullets separate items, a dash after a label is its colon, emphasis around a unit
    (CTX, "Sinus rhythm. • Rate 65 bpm • PR interval — 130 ms • QRS (104 ms) narrow",
     "Sinus rhythm. • Rate 65 bpm • PR interval — 230 ms • QRS (104 ms) narrow", "numeric_claim"),
    (CTX, "Sinus rhythm at 65 *bpm*; PR _130 ms_.", "Sinus rhythm at 95 *bpm*.", "numeric_claim"),
    # a rate unit's "per" and a landmark's "each" are no paper settings
    (CTX, "Sinus rhythm; each small box represents 40 ms, and the PR is 130 ms.",
     "Sinus rhythm at 65 beats per minute, QRS 140 ms.", "numeric_claim"),
    (CTX, "Sinus rhythm; P waves precede each QRS with a PR of 130 ms.",
     "Sinus rhythm; P waves precede each QRS with a PR of 230 ms.", "numeric_claim"),
]


@pytest.mark.parametrize("ctx, true, wrong, rule", CORPUS_CLASSES + NEW_CLASSES)
def test_a_phrasing_class_accepts_its_true_sentence(ctx, true, wrong, rule):
    _accepted(true, ctx)


@pytest.mark.parametrize("ctx, true, wrong, rule", CORPUS_CLASSES + NEW_CLASSES)
def test_a_phrasing_class_rejects_its_wrong_sentence_by_the_rule(ctx, true, wrong, rule):
    assert rule in _rules(wrong, ctx), [(v.rule, v.span) for v in validate(wrong, ctx, S).violations]


def test_an_age_the_record_does_not_know_is_rejected_as_unverified():
    assert "unverified_number" in _rules("Sinus rhythm at 65 bpm, a normal tracing for a young man at 29.")


def test_small_number_words_without_a_unit_stay_words():
    claims = numeric_claims("Sinus rhythm; one early beat, two leads and three PVCs, at sixty-five bpm.")
    assert [(c.values, c.measure) for c in claims] == [((65.0,), "rate")]


def test_a_beat_word_after_a_time_range_does_not_make_it_a_time():
    claims = numeric_claims("The R–R is 0.90–0.95 s but shortens to 0.56 s at one premature beat.")
    assert [c.measure for c in claims] == ["rr", "rr"]


def test_a_qualitative_statement_named_as_a_criterion_is_not_a_claim():
    _accepted("Sinus rhythm; a prolonged QT would need a QTc above 460 ms, and this one is 416 ms.")
