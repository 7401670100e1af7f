"""Label and judge-free grounding metrics of the evaluation, on small hand-computed cases.

The matcher's own phrasing set (87 phrasings of the shared records' labels, negations and hedges)
lives in tests/test_diagnoses.py; here only the evaluation's use of it is checked.
"""
from __future__ import annotations

import numpy as np
import pytest

from tasks.evaluate.grounding import grounding_summary
from tasks.evaluate.labels import auc, label_metrics, predicted_codes

TEXTS = ["Atrial fibrillation with a controlled rate.",
         "Atrial fibrillation without evidence of LBBB.",
         "Left axis deviation (LAD).",
         "Normal sinus rhythm, no LVH."]
TRUTH = [["AF"], ["AF", "LBBB"], [], ["LVH"]]


@pytest.mark.parametrize("text", ["Left axis deviation.", "LAD.", "Leftward axis of -40 degrees."])
def test_synonyms_and_abbreviations_of_one_diagnosis_predict_the_same_class(text):
    assert predicted_codes(text) == ["LAD"]


@pytest.mark.parametrize("text", ["Sinus rhythm without evidence of LBBB.", "No LBBB.", "LBBB is not present."])
def test_a_negated_diagnosis_is_not_predicted(text):
    assert "LBBB" not in predicted_codes(text)


def test_hand_computed_f1_hamming_support_and_auc_not_applicable_without_scores():
    preds = [predicted_codes(t) for t in TEXTS]
    assert preds == [["AF"], ["AF"], ["LAD"], ["SR"]]
    m = label_metrics(TRUTH, preds)
    by = {c.code: c for c in m.classes}
    assert sorted(by) == ["AF", "LAD", "LBBB", "LVH", "SR"]
    assert {k: c.support for k, c in by.items()} == {"AF": 2, "LAD": 0, "LBBB": 1, "LVH": 1, "SR": 0}
    assert by["AF"].f1 == 1.0 and (by["AF"].tp, by["AF"].fp, by["AF"].fn) == (2, 0, 0)
    assert by["LAD"].f1 == 0.0 and by["LAD"].precision == 0.0 and by["LAD"].recall is None
    assert by["LBBB"].f1 == 0.0 and by["LBBB"].precision is None and by["LBBB"].recall == 0.0
    assert m.macro_f1 == pytest.approx(1 / 5)
    assert m.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 2))
    assert m.hamming_loss == pytest.approx(4 / (4 * 5))
    assert m.macro_auc is None and m.auc_note == "n/a: the interpreter gives no scores"
    assert all(c.auc is None and c.auc_note == "n/a: the interpreter gives no scores" for c in m.classes)


def test_auc_from_scores_is_per_class_and_one_outcome_classes_are_na_not_nan():
    preds = [["AF"], ["AF"], ["LAD"], ["SR"]]
    scores = [{"AF": 0.9, "LBBB": 0.2, "LVH": 0.3, "LAD": 0.1, "SR": 0.2},
              {"AF": 0.4, "LBBB": 0.8, "LVH": 0.3, "LAD": 0.2, "SR": 0.1},
              {"AF": 0.5, "LBBB": 0.3, "LVH": 0.3, "LAD": 0.7, "SR": 0.1},
              {"AF": 0.1, "LBBB": 0.1, "LVH": 0.3, "LAD": 0.1, "SR": 0.6}]
    m = label_metrics(TRUTH, preds, scores)
    by = {c.code: c for c in m.classes}
    assert by["AF"].auc == pytest.approx(3 / 4)  # pairs: .9>.5, .9>.1, .4<.5, .4>.1
    assert by["LBBB"].auc == 1.0
    assert by["LVH"].auc == 0.5  # every score tied
    for code in ("LAD", "SR"):
        assert by[code].auc is None and by[code].auc_note == "n/a: one outcome only"
    assert m.macro_auc == pytest.approx((0.75 + 1.0 + 0.5) / 3)
    assert not any(isinstance(v, float) and np.isnan(v) for c in m.classes for v in (c.auc, c.f1))


def test_auc_is_never_computed_on_binary_predictions_or_partial_scores():
    preds = [["AF"], ["AF"], [], []]
    binary = [{"AF": 1.0}, {"AF": 1.0}, {"AF": 0.0}, {"AF": 0.0}]
    m = label_metrics([["AF"], [], ["AF"], []], preds, binary)
    assert m.classes[0].auc is None and m.classes[0].auc_note == "n/a: scores are binary predictions"
    partial = [{"AF": 0.8}, None, {"AF": 0.3}, {"AF": 0.1}]
    m = label_metrics([["AF"], [], ["AF"], []], preds, partial)
    assert m.classes[0].auc is None and m.classes[0].auc_note == "n/a: scores missing for some items"


def test_rank_auc_agrees_with_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60).astype(bool)
    s = np.round(rng.random(60) + 0.4 * y, 1)  # coarse: many ties
    assert auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s))


def test_no_labels_anywhere_gives_na_not_zero():
    m = label_metrics([[], []], [[], []])
    assert m.macro_f1 is None and m.hamming_loss is None and m.note.startswith("n/a")
    assert label_metrics([], []).note == "n/a: no items scored"


def test_grounding_summary_hand_computed():
    rows = [
        {"verdict_ok": True, "grounding_score": 1.0, "lead_coverage": 0.5, "n_claims": 4, "n_matched": 4,
         "n_labels": 2, "n_labels_stated": 2, "n_contradictions": 0, "violations": ""},
        {"verdict_ok": False, "grounding_score": 0.25, "lead_coverage": 0.25, "n_claims": 2, "n_matched": 1,
         "n_labels": 1, "n_labels_stated": 0, "n_contradictions": 1,
         "violations": "numeric_claim,diagnosis_missing,diagnosis_contradicts_labels"},
        {"verdict_ok": False, "grounding_score": 1.0, "lead_coverage": 0.0, "n_claims": 0, "n_matched": 0,
         "n_labels": 1, "n_labels_stated": 0, "n_contradictions": 0, "violations": "diagnosis_missing"},
    ]
    g = grounding_summary(rows)
    assert g["grounding_score"] == pytest.approx(2.25 / 3)
    assert g["numeric_agreement"] == pytest.approx(5 / 6) and g["n_claims"] == 6 and g["items_with_claims"] == 2
    assert g["lead_coverage"] == pytest.approx(0.25)
    assert g["diagnosis_consistency"] == pytest.approx(2 / 3)
    assert g["labels_stated"] == pytest.approx(2 / 4)
    assert g["pass_rate"] == pytest.approx(1 / 3)
    assert g["violations"] == {"diagnosis_missing": 2, "numeric_claim": 1, "diagnosis_contradicts_labels": 1}
