"""Grounding validators: claims are attributed to the right measurement, and wrong claims are caught."""
from __future__ import annotations

import pytest

from schemas.config import ValidationSettings
from schemas.records import LEADS_12
from schemas.teacher import LabelRef, LeadFacts, RecordContext
from tasks.teachers.template import compose
from tasks.validate.claims import named_leads, numeric_claims
from tasks.validate.rules import validate

S = ValidationSettings()


def _ctx(labels=(), **feat) -> RecordContext:
    features = {"hr_bpm": 72.0, "rr_mean_ms": 833.0, "pr_ms": 160.0, "qrs_ms": 92.0, "qt_ms": 380.0,
                "qtc_ms": 416.0, "qtc_fridericia_ms": 404.0, "axis_deg": 45.0, "rhythm_regular": True,
                "p_waves_present": True, "usable_leads": list(LEADS_12)}
    features.update(feat)
    leads = {x: LeadFacts(lead=x, usable=x in features["usable_leads"], n_beats=10, r_amp_mv=1.0 + 0.1 * i,
                          s_amp_mv=-0.4, t_amp_mv=0.3, p_amp_mv=0.1, st_mv=0.02, qrs_ms=90.0)
             for i, x in enumerate(LEADS_12)}
    return RecordContext(record_id="r1", patient_id="p1", source="t", features=features, leads=leads,
                         labels=[LabelRef(code=c, name=n) for c, n in labels], rr_ms=[820.0, 833.0, 845.0])


def test_numbers_are_attributed_to_the_measurement_their_clause_names():
    text = ("The heart rate is 72 bpm. The PR interval measures 160 ms, the QRS duration is 92 ms and the QT"
            " interval is 380 ms with a QTc of 416 ms. The axis is +45°.")
    got = [(c.measure, c.values[0], c.unit) for c in numeric_claims(text)]
    assert got == [("rate", 72, "bpm"), ("pr", 160, "ms"), ("qrs", 92, "ms"), ("qt", 380, "ms"),
                   ("qtc", 416, "ms"), ("axis_qrs", 45, "deg")]


def test_amplitude_claims_take_the_lead_that_follows_or_precedes_them():
    claims = numeric_claims("Lead I shows an R wave of 1.00 mV; the lateral leads show R waves of 2.0 mV in V5 and 2.1 mV in V6.")
    assert [(c.measure, c.leads) for c in claims] == [("amp_r", ("I",)), ("amp_r", ("V5",)), ("amp_r", ("V6",))]


def test_roman_numeral_leads_need_the_word_lead_and_ranges_expand():
    assert named_leads("I think leads II, III and aVF show it, and V2-V4 too") == {"II", "III", "aVF", "V2", "V3", "V4"}


def test_template_text_about_a_record_passes_every_rule():
    ctx = _ctx()
    verdict = validate(compose(ctx), ctx, S)
    assert verdict.ok, verdict.violations
    assert verdict.n_claims >= 10 and verdict.n_matched == verdict.n_claims
    assert verdict.lead_coverage >= 0.75


@pytest.mark.parametrize("wrong, rule", [
    ("The heart rate is 95 bpm.", "numeric_claim"),
    ("The PR interval measures 240 ms.", "numeric_claim"),
    ("The QRS axis is -60°.", "numeric_claim"),
    ("Lead II shows an R wave of 2.50 mV.", "numeric_claim"),
    ("It measures 300 ms.", "unverified_number"),
])
def test_a_wrong_number_is_rejected_with_its_span(wrong, rule):
    ctx = _ctx()
    verdict = validate(compose(ctx) + " " + wrong, ctx, S)
    assert not verdict.ok
    v = next(v for v in verdict.violations if v.rule == rule)
    assert v.span and v.span in wrong


def test_a_lead_that_is_not_usable_is_rejected():
    ctx = _ctx(usable_leads=[x for x in LEADS_12 if x != "V3"])
    verdict = validate(compose(ctx) + " V3 shows a tall R wave.", ctx, S)
    assert [v.span for v in verdict.violations if v.rule == "leads"] == ["V3"]


def test_empty_truncated_long_and_leaky_answers_are_rejected():
    ctx = _ctx()
    assert validate("  ", ctx, S).violations[0].rule == "empty"
    assert "truncated" in {v.rule for v in validate(compose(ctx), ctx, S, finish_reason="length").violations}
    assert "length" in {v.rule for v in validate(compose(ctx) + " word" * 400, ctx, S).violations}
    leaky = compose(ctx) + " According to the provided measurements, this is normal."
    assert "leakage" in {v.rule for v in validate(leaky, ctx, S).violations}


def test_threshold_statements_are_checked_against_the_measurement():
    ctx = _ctx(hr_bpm=52.0)
    ok = validate(compose(ctx) + " The rate is below 60 bpm.", ctx, S)
    bad = validate(compose(ctx) + " The rate is above 100 bpm.", ctx, S)
    assert ok.ok and not bad.ok


def test_labelled_diagnosis_must_be_stated_and_negation_does_not_count():
    ctx = _ctx(labels=[("SB", "sinus bradycardia")], hr_bpm=52.0)
    assert validate(compose(ctx), ctx, S).ok
    text = compose(_ctx(hr_bpm=52.0)) + " There is no evidence of sinus bradycardia."
    verdict = validate(text, ctx, S)
    assert "diagnosis_missing" in {v.rule for v in verdict.violations}


def test_a_diagnosis_the_measurements_contradict_is_rejected():
    ctx = _ctx(axis_deg=60.0)
    verdict = validate(compose(ctx) + " There is left axis deviation.", ctx, S)
    assert "diagnosis_contradicts_measurements" in {v.rule for v in verdict.violations}
