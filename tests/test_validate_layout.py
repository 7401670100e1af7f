"""Answer layout: two prose paragraphs are joined into one (stored that way) by default, or rejected when the
settings say `paragraphs: reject`; markdown sections stay as written (issue 12, fifth author's terse and
reasoning answers with a sign-off or a "Final answer:" paragraph)."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from schemas.config import GemflowConfig
from schemas.teacher import FinishedCall, TeacherRequest, TeacherResponse
from tasks.validate.claims import numeric_claims
from tasks.validate.layout import join_paragraphs, prose_blocks
from tasks.validate.rules import validate
from tasks.validate.stage import check_response
from tests.test_validate_prose import CTX, S

REJECT = S.model_copy(update={"paragraphs": "reject"})
SIGN_OFF = ("NSR 65. PR 130; QRS 104; QT/QTc 400/416. Axis +40. II R 1.1.\n\n"
            "Correlate clinically. Happy to go through any lead in more detail.")
REASONING = ("Let me check the PR first: 130 ms, so no AV block. QRS 104 ms, narrow.\n\n"
             "Final answer: sinus rhythm at 65 bpm with normal intervals.")


def _rules(text: str, s=S) -> set[str]:
    return {v.rule for v in validate(text, CTX, s).violations}


def test_two_prose_paragraphs_are_joined_into_one():
    joined = join_paragraphs(SIGN_OFF)
    assert prose_blocks(joined) == 1 and "\n\n" not in joined
    assert joined == SIGN_OFF.replace("\n\n", " ")
    assert join_paragraphs(REASONING).startswith("Let me check the PR first") and prose_blocks(REASONING) == 2


def test_a_true_answer_in_two_paragraphs_is_accepted_by_default_and_rejected_when_asked():
    for text in (SIGN_OFF, REASONING):
        assert not _rules(text), _rules(text)
        assert _rules(text, REJECT) == {"paragraph"}


def test_a_wrong_number_in_the_second_paragraph_is_still_rejected():
    wrong = REASONING.replace("at 65 bpm", "at 95 bpm")
    assert "numeric_claim" in _rules(wrong)


def test_markdown_sections_are_kept_as_written_and_prose_around_them_is_accepted_unless_reject():
    structured = "### Rhythm\n- sinus rhythm, 65 bpm\n\n### Intervals\n- PR 130 ms\n\nImpression: sinus rhythm."
    assert join_paragraphs(structured) == structured and not _rules(structured)
    split = "Sinus rhythm at 65 bpm.\n\n### Intervals\n- PR 130 ms\n\nThe QRS is 104 ms."
    assert join_paragraphs(split) == split and not _rules(split)  # no run of prose to join, nothing to reject
    assert _rules(split, REJECT) == {"paragraph"}
    wrong = split.replace("The QRS is 104 ms.", "The QRS is 154 ms.")  # the closing prose is still checked
    assert "numeric_claim" in _rules(wrong)


def test_prose_before_a_markdown_section_joins_only_with_prose():
    text = "Sinus rhythm at 65 bpm.\n\nThe PR is 130 ms.\n\n**Conclusion:** sinus rhythm."
    assert join_paragraphs(text) == "Sinus rhythm at 65 bpm. The PR is 130 ms.\n\n**Conclusion:** sinus rhythm."
    assert not _rules(text) and _rules(text, REJECT) == {"paragraph"}


def _call(text: str) -> FinishedCall:
    req = TeacherRequest(request_id="q1", record_id="r", teacher="t", model="m", prompt_version="v1",
                         instruction="Interpret this ECG.", messages=[])
    return FinishedCall(request=req, response=TeacherResponse(request_id="q1", status="ok", text=text,
                                                              finish_reason="stop"))


def test_the_stage_stores_the_joined_paragraph():
    cfg = GemflowConfig().model_copy(update={"validation": S})
    call = _call("<think>PR 130, fine.</think>" + SIGN_OFF)
    verdict = check_response(call, CTX, cfg)
    assert verdict.ok, verdict.violations
    assert call.response.text == SIGN_OFF.replace("\n\n", " ") and call.response.reasoning == "PR 130, fine."
    strict = GemflowConfig().model_copy(update={"validation": REJECT})
    kept = _call(SIGN_OFF)
    assert [v.rule for v in check_response(kept, CTX, strict).violations] == ["paragraph"]
    assert kept.response.text == SIGN_OFF


_PIECES = st.sampled_from(["Sinus rhythm at 65 bpm.", "PR 130 ms.", "### Rhythm", "- PR 130 ms", "| PR | 130 ms |",
                           "**Impression:** sinus rhythm.", "Final answer: sinus rhythm.", "", " ", "\n", "\n\n",
                           "\n \n", "Correlate clinically."])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_joining_keeps_every_word_in_order_and_is_idempotent(text):
    joined = join_paragraphs(text)
    assert joined.split() == text.split()  # only whitespace between blocks changes
    assert join_paragraphs(joined) == joined
    assert prose_blocks(joined) <= max(1, prose_blocks(text))


def test_a_gpt4o_chat_answer_with_an_opening_line_sections_and_a_closing_caveat_is_accepted():
    """The sixth author's GPT-4o chat shape: prose, bold sections, prose, a disclaimer; every number still read."""
    chat = ("Sure! Here's a structured read of this ECG.\n\n**Rhythm:** sinus rhythm at 65 bpm in lead II.\n"
            "**Intervals:**\n- **PR:** 130 ms\n- **QRS:** 104 ms\n- **QT/QTc:** 400/416 ms\n\n"
            "Overall, sinus rhythm with normal intervals.\n\n*Please consult a physician.*")
    assert not _rules(chat)
    assert "numeric_claim" in _rules(chat.replace("400/416 ms", "400/476 ms"))


def test_an_approximate_qtc_is_checked_within_the_interval_cap_not_a_widened_tenth():
    """'~476 ms' against a QTc of 416 (Fridericia 411) is 60 ms off: 'about' widens the 20 ms floor, not the 10%."""
    base = "Sinus rhythm at 65 bpm in lead II, PR 130 ms, QRS 104 ms, QT 400 ms, and the QTc is ~{} ms."
    assert not _rules(base.format(430))
    assert "numeric_claim" in _rules(base.format(476))


def test_a_qt_that_corrects_to_a_qtc_keeps_its_own_name():
    text = ("Sinus rhythm at 65 bpm in lead II, PR 130 ms, QRS 104 ms. The measured QT of ~400 ms corrects to a "
            "QTc of 416 ms.")
    assert not _rules(text)
    assert [(c.measure, c.values) for c in numeric_claims(text) if c.unit == "ms"][-2:] == [("qt", (400.0,)),
                                                                                           ("qtc", (416.0,))]
    assert "numeric_claim" in _rules(text.replace("~400 ms", "~460 ms"))
