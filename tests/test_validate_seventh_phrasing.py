"""Classes of false rejection a seventh author's unseen set showed (issue 12), each fixed as a class and tested
here in this file's own words, several phrasings per class, with wrong-number variants that must still reject:

1. a list of measurement names before (or after) a list of values, names of the same measure by two formulas
   ("QTcB and QTcF 367 and 329 ms", "QTc (Bazett/Fridericia)"), names written side by side ("Fridericia QTc",
   "QRS complex duration");
2. European limb-lead names (DI, DII, DIII; D1-D3) for I, II, III;
3. a short final answer after a long `<think>` block (tasks/validate/reasoning.py);
4. Sokolow-Lyon and Cornell written as bare numbers, in millimetres, as a sum with "RV5/V6", and the Cornell
   product.

The synthetic record is tests/test_validate_prose.py's (sinus rhythm 65 bpm, PR 130 ms, QRS 104 ms, QT 400 ms),
with its QTc set apart by formula here (Bazett 480 ms, Fridericia 420 ms) so that a value paired with the wrong
formula fails.
"""
from __future__ import annotations

import pytest

from schemas.config import ValidationSettings
from tasks.validate.parse import parse_response
from tasks.validate.reasoning import validate_answer
from tasks.validate.rules import validate
from tests.validate_support import CTX, S, _lead_ctx, rejections, rules_of as _rules


def _with(ctx, **features):
    return ctx.model_copy(update={"features": ctx.features.model_copy(update=features)})


QTC = _with(CTX, qtc_ms=480.0, qtc_fridericia_ms=420.0)
# LVH-free voltages: S V1 0.5, R V5 1.5, R V6 1.1 (Sokolow-Lyon 2.0 mV); R aVL 0.1, S V3 1.4 (Cornell 1.5 mV)
VOLT = _with(_lead_ctx({"SR": "sinus rhythm"}, V1={"s_amp_mv": -0.5}, V5={"r_amp_mv": 1.5}, V6={"r_amp_mv": 1.1},
                       aVL={"r_amp_mv": 0.1}, V3={"s_amp_mv": -1.4}),
             sokolow_lyon_mv=2.0, cornell_mv=1.5)  # Cornell product 1.5 mV x 104 ms = 156 mV·ms = 1560 mm·ms



PAIRS_TRUE = [
    "Sinus rhythm. QTcB and QTcF 480 and 420 ms.",
    "Sinus rhythm. QTcF and QTcB are 420 and 480 ms respectively.",
    "Sinus rhythm. QT, QTcB and QTcF: 400, 480 and 420 ms.",
    "Sinus rhythm. Corrected QT (Bazett/Fridericia) 480/420 ms.",
    "Sinus rhythm. The QTc by Bazett and by Fridericia is 480 and 420 ms.",
    "Sinus rhythm. Fridericia and Bazett QTc of 420 and 480 msec.",
    "Sinus rhythm. QTc 480/420 ms (Bazett/Fridericia).",
    "Sinus rhythm. QT / QTc (Bazett) / QTc (Fridericia): 400 / 480 / 420 ms.",
    "Sinus rhythm. The raw QT and the Bazett QTc are 400 and 480 ms.",
    "Sinus rhythm. QT and QTc (Fridericia) 400 and 420 ms.",
    "Sinus rhythm. QTc and QT 480 and 400 msec.",
    "Sinus rhythm. QRS and PR durations are 104 and 130 ms.",
    "Sinus rhythm. PR interval and QRS complex duration: 130 ms and 104 ms.",
]
PAIRS_WRONG = [
    "Sinus rhythm. QTcB and QTcF 420 and 480 ms.",  # formulas swapped: each checked on its own formula
    "Sinus rhythm. QTcF and QTcB are 420 and 540 ms respectively.",
    "Sinus rhythm. QT, QTcB and QTcF: 400, 480 and 510 ms.",
    "Sinus rhythm. Corrected QT (Bazett/Fridericia) 480/500 ms.",
    "Sinus rhythm. Fridericia and Bazett QTc of 480 and 420 msec.",
    "Sinus rhythm. QT / QTc (Bazett) / QTc (Fridericia): 400 / 540 / 420 ms.",
    "Sinus rhythm. The raw QT and the Bazett QTc are 400 and 540 ms.",
    "Sinus rhythm. QTc and QT 480 and 480 msec.",
    "Sinus rhythm. QRS and PR durations are 154 and 130 ms.",
    "Sinus rhythm. PR interval and QRS complex duration: 130 ms and 150 ms.",
]


@pytest.mark.parametrize("text", PAIRS_TRUE)
def test_a_list_of_names_by_formula_pairs_each_value_with_its_own(text):
    assert not rejections(text, QTC), rejections(text, QTC)


@pytest.mark.parametrize("text", PAIRS_WRONG)
def test_a_wrong_value_in_a_list_of_names_is_rejected(text):
    assert "numeric_claim" in _rules(text, QTC)


EUROPEAN_TRUE = [
    "Sinus rhythm. R waves measure 0.6 mV in DI, 1.1 mV in DII and 0.5 mV in DIII.",
    "Sinus rhythm; the inferior leads DII, DIII and aVF have flat ST segments.",
    "Sinus rhythm. R amplitude D1/D2/D3: 0.6/1.1/0.5 mV.",
    "Sinus rhythm. In DI–DIII the T waves are upright, about 0.25 mV.",
    "Sinus rhythm. No Q waves in DII, DIII or aVF; the tallest R is in DII (1.1 mV).",
]
EUROPEAN_WRONG = [
    ("Sinus rhythm. R waves measure 0.6 mV in DI, 0.2 mV in DII and 0.5 mV in DIII.", "numeric_claim"),
    ("Sinus rhythm. The tallest R is in DIII (1.1 mV).", "numeric_claim"),  # III's R is 0.5 mV; V4's is 1.1
    ("Sinus rhythm. R amplitude D1/D2/D3: 0.6/1.1/1.4 mV.", "numeric_claim"),
    ("Sinus rhythm with ST elevation in DII, DIII and aVF.", "unsupported_finding"),
    ("Sinus rhythm with T-wave inversion in DIII.", "unsupported_finding"),
    ("Sinus rhythm. Pathological Q waves in DII and DIII.", "unsupported_finding"),
]


@pytest.mark.parametrize("text", EUROPEAN_TRUE)
def test_european_limb_lead_names_are_leads_i_ii_iii(text):
    assert not rejections(text, CTX), rejections(text, CTX)


@pytest.mark.parametrize("text,rule", EUROPEAN_WRONG)
def test_a_wrong_statement_about_a_european_named_lead_is_rejected(text, rule):
    assert rule in _rules(text, CTX)


def test_european_names_count_for_lead_coverage_and_lowercase_is_no_lead():
    s = ValidationSettings(min_words=1)
    assert validate("Sinus rhythm at 65 bpm; ST flat in DII.", CTX, s).ok
    assert "lead_coverage" in {v.rule for v in validate("Sinus rhythm at 65 bpm; ST flat in d2.", CTX, s).violations}


THINK = ("<think>Rate first: 65 bpm, regular, a P wave before every QRS, so sinus rhythm. PR 130 ms, QRS 104 ms, "
         "QT 400 ms and QTc 416 ms. The axis is about +40 degrees. R in lead II is 1.1 mV and in V5 1.0 mV, so no "
         "voltage criteria. ST segments are flat in every lead and T waves upright apart from aVR.</think>\n\n")
SHORT = "Sinus rhythm at 65 bpm; intervals, axis and repolarisation are normal."


def _kept(text: str, s: ValidationSettings = ValidationSettings()):
    parsed = parse_response(text, None, "stop")
    return validate_answer(parsed.answer, parsed.reasoning, CTX, s)


def test_a_short_answer_after_checked_reasoning_is_accepted_and_keeps_it():
    verdict, reasoning = _kept(THINK + SHORT)
    assert verdict.ok, [(v.rule, v.detail) for v in verdict.violations]
    assert reasoning is not None and "QTc 416 ms" in reasoning
    assert verdict.lead_coverage > 0  # the leads the reasoning cites
    alone = validate(SHORT, CTX, ValidationSettings())
    assert {v.rule for v in alone.violations} == {"length", "lead_coverage"}


@pytest.mark.parametrize("wrong", ["QTc 416 ms", "PR 130 ms", "R in lead II is 1.1 mV"])
def test_a_wrong_number_in_the_reasoning_of_a_short_answer_rejects_it(wrong):
    bad = {"QTc 416 ms": "QTc 496 ms", "PR 130 ms": "PR 230 ms", "R in lead II is 1.1 mV": "R in lead II is 2.6 mV"}
    verdict, _ = _kept(THINK.replace(wrong, bad[wrong]) + SHORT)
    assert not verdict.ok and "numeric_claim" in {v.rule for v in verdict.violations}


def test_a_wrong_number_in_the_short_answer_itself_still_rejects_it():
    verdict, _ = _kept(THINK + SHORT.replace("65 bpm", "95 bpm"))
    assert "numeric_claim" in {v.rule for v in verdict.violations}


def test_reasoning_that_cites_no_lead_does_not_lift_the_coverage_floor():
    bare = THINK.replace("R in lead II is 1.1 mV and in V5 1.0 mV, so no voltage criteria. ", "").replace(
        " in every lead", "").replace(" apart from aVR", "")
    verdict, _ = _kept(bare + SHORT)
    assert "lead_coverage" in {v.rule for v in verdict.violations}


def test_a_full_answer_keeps_its_reasoning_only_when_the_reasoning_checks_out():
    full = ("Sinus rhythm at 65 bpm with PR 130 ms, QRS 104 ms, QT 400 ms and QTc 416 ms; axis +40°. R waves of "
            "1.1 mV in II and 1.0 mV in V5, ST flat in all leads, T upright except in aVR. No hypertrophy, no "
            "conduction block, no ischaemic change: a normal tracing.")
    verdict, reasoning = _kept(THINK + full)
    assert verdict.ok and reasoning is not None
    verdict, reasoning = _kept(THINK.replace("QTc 416 ms", "QTc 496 ms") + full)
    assert verdict.ok and reasoning is None  # the answer stands; the unchecked reasoning is not stored


VOLT_TRUE = [
    "Sinus rhythm. Sokolow-Lyon 2.0, Cornell 1.5; no LVH.",
    "Sinus rhythm. Sokolow-Lyon 20 and Cornell 15 (mm), no voltage criteria met.",
    "Sinus rhythm. SV1 + RV5/V6 = 2.0 mV, below 3.5 mV.",
    "Sinus rhythm. S in V1 plus R in V5 or V6 = 0.5 + 1.5 = 2.0 mV.",
    "Sinus rhythm. Sokolow-Lyon (SV1 + RV5/RV6): 2.0 mV.",
    "Sinus rhythm. Cornell product 1560 mm·ms, under the 2440 mm·ms cut-off.",
    "Sinus rhythm. Cornell voltage-duration product about 156 mV·ms.",
    "Sinus rhythm. The Sokolow index is 2.0 mV, below 3.5.",
]
VOLT_WRONG = [
    "Sinus rhythm. Sokolow-Lyon 3.1, Cornell 1.5; no LVH.",
    "Sinus rhythm. Sokolow-Lyon 31 and Cornell 15 (mm), no voltage criteria met.",
    "Sinus rhythm. SV1 + RV5/V6 = 2.9 mV, below 3.5 mV.",
    "Sinus rhythm. S in V1 plus R in V5 or V6 = 0.5 + 2.3 = 2.8 mV.",
    "Sinus rhythm. Cornell product 2600 mm·ms, under the 2440 mm·ms cut-off.",
    "Sinus rhythm. Cornell voltage-duration product about 260 mV·ms.",
    "Sinus rhythm. Cornell product 2.6.",
    "Sinus rhythm. The Sokolow index is 3.0 mV, below 3.5.",
]


@pytest.mark.parametrize("text", VOLT_TRUE)
def test_voltage_indices_as_bare_numbers_sums_and_products_are_read(text):
    assert not rejections(text, VOLT), rejections(text, VOLT)


@pytest.mark.parametrize("text", VOLT_WRONG)
def test_a_wrong_voltage_index_is_rejected(text):
    assert "numeric_claim" in _rules(text, VOLT)


def test_a_cornell_product_without_the_qrs_duration_cannot_be_checked():
    no_qrs = _with(VOLT, qrs_ms=None)
    assert "unverified_number" in _rules("Sinus rhythm. Cornell product 1560 mm·ms.", no_qrs)


def test_the_stage_stores_the_reasoning_only_when_it_was_checked():
    from schemas.config import GemflowConfig
    from schemas.teacher import FinishedCall, TeacherRequest, TeacherResponse
    from tasks.validate.stage import check_response

    def call(text: str) -> FinishedCall:
        req = TeacherRequest(request_id="q1", record_id="r", teacher="t", model="m", prompt_version="v1",
                             instruction="Interpret this ECG.", messages=[])
        return FinishedCall(request=req, response=TeacherResponse(request_id="q1", status="ok", text=text,
                                                                  finish_reason="stop"))
    short = call(THINK + SHORT)
    assert check_response(short, CTX, GemflowConfig()).ok
    assert short.response.text == SHORT and "QTc 416 ms" in (short.response.reasoning or "")
    wrong = call(THINK.replace("PR 130 ms", "PR 230 ms") + SHORT)
    assert not check_response(wrong, CTX, GemflowConfig()).ok


# Near relatives met while reading reasoning blocks: the reasoning of a short answer is checked, so it must be read.
REASONING_TRUE = [
    "Sinus rhythm. Rate 65, regular (906 before beat 2, 948 before beat 9).",  # a cycle before its beat, no unit
    "Sinus rhythm. RRs: 906, 912, 918, then steady.",
    "Sinus rhythm. T waves, lead by lead. I 0.25, II 0.25, aVR -0.2, V1 0.25.",  # lead-value pairs, measure before
    "Sinus rhythm. ST first: II 0.02, III 0.02, aVF 0.02. Lateral too: V5 0.02, V6 0.02.",
]
REASONING_WRONG = [
    "Sinus rhythm. Rate 65, regular (906 before beat 2, 1448 before beat 9).",
    "Sinus rhythm. RRs: 906, 1412, 918, then steady.",
    "Sinus rhythm. T waves, lead by lead. I 0.25, II 0.25, aVR 0.6, V1 0.25.",
    "Sinus rhythm. ST first: II 0.02, III 0.02, aVF 0.02. Lateral too: V5 0.32, V6 0.02.",
    "Sinus rhythm. The regular cycles are 1406 ms, interrupted once: the 7th beat follows a 1250 ms pause.",
]


@pytest.mark.parametrize("text", REASONING_TRUE)
def test_reasoning_style_values_are_read(text):
    assert not rejections(text, CTX), rejections(text, CTX)


@pytest.mark.parametrize("text", REASONING_WRONG)
def test_reasoning_style_wrong_values_are_rejected(text):
    assert "numeric_claim" in _rules(text, CTX)


LONG_6_7 = CTX.model_copy(update={"beats": [b.model_copy(update={"rr_ms": 1250.0}) if b.beat in (6, 7) else b
                                            for b in CTX.beats]})


def test_the_regular_cycles_named_before_a_beat_are_not_that_beats_cycle():
    text = "Sinus rhythm. The regular cycles are 906 ms, interrupted once: the 7th beat follows a 1250 ms pause."
    assert not rejections(text, LONG_6_7), rejections(text, LONG_6_7)
    assert "numeric_claim" in _rules(text.replace("1250 ms pause", "1650 ms pause"), LONG_6_7)


def test_a_lead_value_sentence_with_nothing_named_before_stays_unverified():
    assert "unverified_number" in _rules("I 0.25, II 0.25, V1 0.25.", CTX)


# More near relatives: European decimal commas (the writers of DII/DIII write "2,0 mV"), an index's bare terms,
# formulas named after the values.
RELATIVES_TRUE = [
    (VOLT, "Sinus rhythm. Sokolow–Lyon = 2,0 mV; R in V5 1,5 mV."),
    (CTX, "Sinus rhythm. PR 0,13 s and QRS 0,10 s."),
    (CTX, "Sinus rhythm with RR intervals near 0,92 s."),
    (VOLT, "Sinus rhythm. Sokolow-Lyon criterion: 0.5 + 1.5 = 2.0 mV."),
    (VOLT, "Sinus rhythm. Cornell: 0.1 + 1.4 = 1.5 mV."),
    (QTC, "Sinus rhythm. QTc 480 and 420 ms by Bazett and Fridericia."),
]
RELATIVES_WRONG = [
    (VOLT, "Sinus rhythm. Sokolow–Lyon = 3,0 mV; R in V5 1,5 mV."),
    (CTX, "Sinus rhythm. PR 0,23 s and QRS 0,10 s."),
    (CTX, "Sinus rhythm with RR intervals near 1,42 s."),
    (VOLT, "Sinus rhythm. Sokolow-Lyon criterion: 0.5 + 2.5 = 3.0 mV."),
    (VOLT, "Sinus rhythm. Sokolow-Lyon criterion: 0.5 + 2.5 = 2.0 mV."),  # a wrong term, the total right
    (VOLT, "Sinus rhythm. Cornell: 0.9 + 0.6 = 1.5 mV."),
    (QTC, "Sinus rhythm. QTc 420 and 480 ms by Bazett and Fridericia."),
]


@pytest.mark.parametrize("ctx,text", RELATIVES_TRUE)
def test_near_relatives_are_read(ctx, text):
    assert not rejections(text, ctx), rejections(text, ctx)


@pytest.mark.parametrize("ctx,text", RELATIVES_WRONG)
def test_near_relatives_with_a_wrong_value_are_rejected(ctx, text):
    assert "numeric_claim" in _rules(text, ctx)


def test_a_comma_before_three_digits_is_still_a_thousands_separator():
    text = "Sinus rhythm. The regular cycles are 906 ms, interrupted once: the 7th beat follows a 1,250 ms pause."
    assert validate(text, LONG_6_7, S).ok
