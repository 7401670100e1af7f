"""Phrasings external_e.jsonl's false rejections showed (issue 12, fifth author: GPT-4.1 markdown, Gemini
narrative, Llama-3 terse notes, DeepSeek-R1 reasoning, dictated cardiologist reports), each class with a true
sentence that must be accepted and a wrong one, in the same form, that must be rejected by the rule named. Written
in this file's own words over the synthetic record of tests/test_validate_prose.py (sinus rhythm 65 bpm, PR 130 ms,
QRS 104 ms, QT 400 ms, QTc 416/411 ms, axis +40°, R per lead as `_R` there, S −0.3 mV, T +0.25 mV (aVR −0.2),
ST +0.02 mV, RR before beat k = 900 + 6(k−1) ms, Sokolow-Lyon 1.3 mV).
"""
from __future__ import annotations

import pytest

from tasks.validate.rules import validate
from tests.test_validate_prose import CTX, S, _lead_ctx


def _with(**features):
    return CTX.model_copy(update={"features": CTX.features.model_copy(update=features)})


EXTREME = _with(axis_deg=-121.0)
LEFT = _with(axis_deg=-50.0)
WIDE = _with(qrs_ms=130.0)
DEEP_S = _lead_ctx({"SR": "sinus rhythm"}, V1={"s_amp_mv": -0.86}, V2={"s_amp_mv": -1.10}, V3={"s_amp_mv": -0.96})
SL_26 = _with(sokolow_lyon_mv=2.6)
PAUSE = CTX.model_copy(update={"beats": [b.model_copy(update={"rr_ms": 1250.0}) if b.beat == 7 else b for b in CTX.beats]})
ARRHYTHMIA = _lead_ctx({"SA": "sinus arrhythmia"})
ST_AVR = _lead_ctx({"SR": "sinus rhythm"}, aVR={"st_mv": 0.16})
ACUTE_MI = _lead_ctx({"SR": "sinus rhythm", "MI": "myocardial infarction", "ACUTEMI": "acute myocardial infarction"})
V2_ONLY = _lead_ctx({"SR": "sinus rhythm"}, V2={"st_mv": 0.12})
V2_V3 = _lead_ctx({"SR": "sinus rhythm"}, V2={"st_mv": 0.32}, V3={"st_mv": 0.30})
TABLE = "Sinus rhythm at 65 bpm.\n| Parameter | Value | Normal range |\n|---|---|---|\n| PR | 130 ms | 120–200 ms |\n"

# (context of the true sentence, true sentence, context of the wrong one, wrong sentence, the rule rejecting it)
CLASSES = [
    # a QTc named by its correction after the value ("after" alone is a cycle word)
    (CTX, "Sinus rhythm; the QT is 400 ms, 416 ms after Bazett correction and 411 ms with Fridericia.",
     CTX, "Sinus rhythm; the QT is 400 ms, 500 ms after Bazett correction.", "numeric_claim"),
    # an axis quadrant written to ±180°: the quadrant's bounds, checked as a range that wraps
    (EXTREME, "Sinus rhythm. Axis −121°, an extreme axis (between −90° and ±180°).",
     LEFT, "Sinus rhythm. The axis is between −90° and ±180°.", "numeric_claim"),
    # a threshold said of 'that', the value just stated
    (WIDE, "Sinus rhythm. Next, QRS: 130 ms. Wait, that's over 120 ms.",
     CTX, "Sinus rhythm. Next, QRS: 104 ms. Wait, that's over 120 ms.", "numeric_claim"),
    # "isn't" negates the blocks it names (a reasoning chain that considers and rejects them)
    (CTX, "Sinus rhythm; the QRS isn't a typical RBBB or LBBB morphology.",
     CTX, "Sinus rhythm; the QRS is a typical RBBB or LBBB morphology.", "contradictory_statements"),
    # 'rS complexes, S ... respectively': one wave named for the list, not three names
    (DEEP_S, "Sinus rhythm. V1–V3: rS complexes, S 0.86, 1.10 and 0.96 mV respectively.",
     DEEP_S, "Sinus rhythm. V1–V3: rS complexes, S 0.86, 1.60 and 0.96 mV respectively.", "numeric_claim"),
    # "outside aVR": every lead but aVR
    (ST_AVR, "Sinus rhythm. ST segments stay within 0.1 mV of baseline outside aVR.",
     ST_AVR, "Sinus rhythm. ST segments stay within 0.1 mV of baseline outside aVL.", "numeric_claim"),
    # a table column of normal ranges or criteria asserts nothing; its value column is checked
    (WIDE, TABLE + "| QRS | 130 ms | < 120 ms |", WIDE, TABLE + "| QRS | 180 ms | < 120 ms |", "numeric_claim"),
    (CTX, "Sinus rhythm.\n| Index | Value | Criterion |\n|---|---|---|\n| Sokolow-Lyon | 1.3 mV | > 3.5 mV |",
     CTX, "Sinus rhythm.\n| Index | Value | Criterion |\n|---|---|---|\n| Sokolow-Lyon | 3.9 mV | > 3.5 mV |",
     "numeric_claim"),
    # a bullet under a heading that names the wave
    (CTX, "Sinus rhythm.\n### T waves\n- **aVR:** inverted, −0.20 mV\n- **II:** upright, 0.25 mV",
     CTX, "Sinus rhythm.\n### T waves\n- **aVR:** inverted, −0.60 mV", "numeric_claim"),
    # a bare number after the rhythm's name is its rate
    (CTX, "Sinus 65, regular (RR 900–948). PR 130; QRS 104. Imp: sinus rhythm.", CTX,
     "Sinus 95, regular (RR 900–948). Imp: sinus rhythm.", "numeric_claim"),
    (ARRHYTHMIA, "Sinus arrhythmia, mean 65. PR 130.", ARRHYTHMIA, "Sinus arrhythmia, mean 85. PR 130.",
     "numeric_claim"),
    # a dictated label with its qualifier after the name
    (ACUTE_MI, "Sinus rhythm. Diagnosis: myocardial infarction, acute, involving the inferior wall.",
     ACUTE_MI, "Sinus rhythm. Diagnosis: myocardial infarction, old, involving the inferior wall.",
     "diagnosis_missing"),
    # values between beat citations: "before beat 2, 912 before beat 3" is no list of beats
    (CTX, "Sinus rhythm. RR: 906 ms before beat 2, 912 before beat 3, 918 before beat 4.",
     CTX, "Sinus rhythm. RR: 906 ms before beat 2, 1412 before beat 3, 918 before beat 4.", "numeric_claim"),
    (CTX, "Sinus rhythm; RR varies a little, 912 ms before beat 3 to 942 ms before beat 8.",
     CTX, "Sinus rhythm; RR varies a little, 912 ms before beat 3 to 1442 ms before beat 8.", "numeric_claim"),
    # a beat cited right after its value ("before the eighth"), not the one cited before the value
    (PAUSE, "Sinus rhythm; the RR intervals run from 906 ms before the second beat to 1250 ms before the eighth.",
     PAUSE, "Sinus rhythm; the RR intervals run from 906 ms before the second beat to 1250 ms before the fifth.",
     "numeric_claim"),
    # "Sokolow-Lyon voltage" is the index, not a QRS voltage
    (SL_26, "Sinus rhythm. Sokolow-Lyon voltage is 2.6 mV.", SL_26, "Sinus rhythm. Sokolow-Lyon voltage is 4.0 mV.",
     "numeric_claim"),
    # a sum written under its bold label
    (CTX, "Sinus rhythm.\n- **S V1 + R V5:** 0.30 + 1.00 ≈ 1.30 mV (Sokolow-Lyon, below 3.5 mV)",
     CTX, "Sinus rhythm.\n- **S V1 + R V5:** 0.30 + 1.00 ≈ 2.30 mV (Sokolow-Lyon, below 3.5 mV)", "numeric_claim"),
    # ischaemia of one wall, even hedged, needs ST-T changes in two contiguous leads of that wall
    (V2_V3, "Sinus rhythm; ST elevation in V2 and V3 (0.32 and 0.30 mV) raises concern for possible acute anterior"
            " ischaemia.",
     V2_ONLY, "Sinus rhythm; ST elevation of 0.12 mV in V2 raises concern for possible acute anterior ischaemia.",
     "unsupported_finding"),
    (V2_V3, "Sinus rhythm; ST elevation in V2 and V3 (0.32 and 0.30 mV): an anterior injury pattern.",
     V2_ONLY, "Sinus rhythm; ST elevation of 0.12 mV in V2, concerning for an evolving anterior injury pattern.",
     "unsupported_finding"),
]


def _rules(text: str, ctx) -> set[str]:
    return {v.rule for v in validate(text, ctx, S).violations}


@pytest.mark.parametrize("ctx,true,wrong_ctx,wrong,rule", CLASSES)
def test_a_fifth_author_phrasing_class_accepts_its_true_sentence(ctx, true, wrong_ctx, wrong, rule):
    verdict = validate(true, ctx, S)
    assert verdict.ok, [(v.rule, v.detail) for v in verdict.violations]


@pytest.mark.parametrize("ctx,true,wrong_ctx,wrong,rule", CLASSES)
def test_a_fifth_author_phrasing_class_rejects_its_wrong_sentence_by_the_rule(ctx, true, wrong_ctx, wrong, rule):
    assert rule in _rules(wrong, wrong_ctx), _rules(wrong, wrong_ctx)


def test_an_extreme_axis_quadrant_keeps_the_side_of_its_other_end():
    assert not _rules("Sinus rhythm. The axis lies between −90° and 180°.", EXTREME)
    assert "numeric_claim" in _rules("Sinus rhythm. The axis lies between 0° and 90°.", EXTREME)


def test_a_threshold_on_that_with_no_value_stated_before_stays_unattributed():
    assert "unverified_number" in _rules("Sinus rhythm. Wait, that's over 120 ms.", CTX)
    assert "unverified_number" in _rules("Sinus rhythm, axis 40°. Wait, that's over 120 ms.", CTX)  # not a time
