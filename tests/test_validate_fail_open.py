"""Fail-open holes: wrong statements the validator accepted (v15).

1. A hedge or 'normal' word said of another wave made an ST bound in the same sentence a criterion aside
   ("R waves rise normally and the ST segments sit within 0.03 mV" passed with an ST of +0.16 mV). A word makes
   a bound a reference or criterion only when it is tied to it: no clause break ('and', ',', ';', 'but') with
   another subject between them (tasks/validate/nonclaims.py `tied`).
2. A finding named for several leads must show in every one of them ("Q waves in III and aVF").

The synthetic record is tests/test_validate_prose.py's (sinus rhythm 65 bpm, ST +0.02 mV in every lead).
"""
from __future__ import annotations

import pytest

from tasks.validate.rules import validate
from tests.validate_support import CTX, S, _lead_ctx

V3_UP = _lead_ctx({"SR": "sinus rhythm"}, V3={"st_mv": 0.16})  # one lead's ST outside a 0.03 mV bound

HEDGED_BOUNDS = [
    "Sinus rhythm. R waves rise normally and the ST segments sit within 0.03 mV.",
    "Sinus rhythm. R waves rise normally and the ST segments sit within 0.03 mV of baseline.",
    "Sinus rhythm. R waves progress normally, and ST is within 0.03 mV.",
    "Sinus rhythm. The axis is typically normal; ST segments within 0.03 mV.",
]


@pytest.mark.parametrize("text", HEDGED_BOUNDS)
def test_a_hedge_about_another_wave_does_not_excuse_a_wrong_st_bound(text):
    assert not validate(text, V3_UP, S).ok  # V3 is +0.16 mV: not within 0.03 mV


@pytest.mark.parametrize("text", HEDGED_BOUNDS)
def test_the_same_bound_is_accepted_where_it_holds(text):
    assert validate(text, CTX, S).ok, validate(text, CTX, S).violations  # every lead +0.02 mV


TRUE_ASIDES = [
    "Sinus rhythm. ST segments are within normal limits (0.03 mV).",
    "Sinus rhythm. ST segments are within normal limits (< 0.1 mV).",
    "Sinus rhythm. ST elevation in V3 of 0.16 mV (normally < 0.1 mV).",
]


@pytest.mark.parametrize("text", TRUE_ASIDES)
def test_a_word_about_the_bound_itself_still_makes_it_an_aside(text):
    assert validate(text, V3_UP, S).ok, validate(text, V3_UP, S).violations


from hypothesis import given, strategies as st  # noqa: E402

_WORDS = st.sampled_from(["normally", "and", ",", ";", "ST", "R", "waves", "within", "0.03", "mV", "V3", "limits",
                          "(", ")", "the", "threshold", "of", "<", "typically"])


@given(st.lists(_WORDS, max_size=14))
def test_any_word_salad_gets_a_verdict(words):
    verdict = validate("Sinus rhythm. " + " ".join(words) + ".", V3_UP, S)
    assert verdict.ok in (True, False)


Q_III = _lead_ctx({"SR": "sinus rhythm"}, III={"q_wave": True, "q_amp_mv": -0.3})  # a pathological Q in III only
Q_INF = _lead_ctx({"SR": "sinus rhythm"}, III={"q_wave": True, "q_amp_mv": -0.3},
                  aVF={"q_wave": True, "q_amp_mv": -0.3})
T_V2 = _lead_ctx({"SR": "sinus rhythm"}, V2={"t_amp_mv": -0.2})  # an inverted T in V2 only

EVERY_LEAD = [
    ("Sinus rhythm. Q waves in III and aVF.", Q_III, "aVF"),
    ("Sinus rhythm. Pathological Q waves in leads III and aVF.", Q_III, "aVF"),
    ("Sinus rhythm. Q waves in II, III and aVF.", Q_INF, "II"),
    ("Sinus rhythm. T waves are inverted in V1 to V3.", T_V2, "V1, V3"),
    ("Sinus rhythm. ST depression in V4 and V5.", _lead_ctx({"SR": "sinus rhythm"}, V4={"st_mv": -0.1}), "V5"),
]


@pytest.mark.parametrize("text,ctx,lacking", EVERY_LEAD)
def test_a_finding_named_for_several_leads_must_show_in_each(text, ctx, lacking):
    verdict = validate(text, ctx, S)
    assert not verdict.ok
    assert any(f"not shown in {lacking}" in v.detail for v in verdict.violations), verdict.violations


EVERY_LEAD_TRUE = [
    ("Sinus rhythm. Q waves in III and aVF.", Q_INF),
    ("Sinus rhythm. Q waves in III.", Q_III),
    ("Sinus rhythm. T waves are inverted in V2.", T_V2),
    ("Sinus rhythm. ST depression in V4 and V5.",
     _lead_ctx({"SR": "sinus rhythm"}, V4={"st_mv": -0.1}, V5={"st_mv": -0.06})),
    ("Sinus rhythm. Q waves in the inferior leads.", Q_III),  # a group named alone: some lead of it (unchanged rule)
]


@pytest.mark.parametrize("text,ctx", EVERY_LEAD_TRUE)
def test_a_finding_shown_in_each_named_lead_is_accepted(text, ctx):
    verdict = validate(text, ctx, S)
    assert verdict.ok, verdict.violations
