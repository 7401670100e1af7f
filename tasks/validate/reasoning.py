"""A reasoning model's answer: the final answer, and the reasoning (`<think>` blocks, `reasoning_content`) before it.

What the dataset keeps is checked; nothing unchecked is kept (docs/teachers.md, "`<think>` blocks"):
- the final answer is validated on its own, with every rule;
- when it fails only for its form (fewer than `min_words` words, or no lead cited) and the teacher reasoned
  first, the reasoning and the answer are validated together, as one text: the reasoning's words and leads count
  for the length and the lead coverage, and every number and finding in it is checked like the answer's, so a
  wrong value in the reasoning rejects the pair. The pair keeps both;
- when the answer passes on its own, the reasoning is kept only if its numbers and findings check out too
  (read without the length, coverage and label rules, which belong to the answer); otherwise it is dropped from
  the pair, so a wrong number in it is never stored.
"""
from __future__ import annotations

from schemas.config import ValidationSettings
from schemas.teacher import RecordContext
from tasks.validate.layout import join_paragraphs
from tasks.validate.rules import Verdict, validate

_FORM_RULES = {"lead_coverage"}


def _form_only(verdict: Verdict) -> bool:
    """Rejected only because the answer is short or cites no lead (not for anything it says)?"""
    return bool(verdict.violations) and all(
        v.rule in _FORM_RULES or (v.rule == "length" and "at least" in v.detail) for v in verdict.violations)


def _joined(reasoning: str, answer: str) -> str:
    return join_paragraphs(f"{reasoning.strip()}\n\n{answer.strip()}")


def reasoning_holds(reasoning: str, ctx: RecordContext, s: ValidationSettings) -> bool:
    """Do the reasoning's numbers and findings check out (the answer's form rules left aside)?"""
    loose = s.model_copy(update={"min_words": 1, "max_words": max(s.max_words, len(reasoning.split()) + 1),
                                 "min_lead_coverage": 0.0, "require_labels_stated": False, "paragraphs": "join"})
    return validate(reasoning, ctx, loose).ok


def validate_answer(answer: str, reasoning: str | None, ctx: RecordContext, s: ValidationSettings,
                    finish_reason: str | None = "stop") -> tuple[Verdict, str | None]:
    """The verdict on a parsed answer and the reasoning the pair may keep with it (None: keep none)."""
    verdict = validate(answer, ctx, s, finish_reason)
    if not reasoning or not reasoning.strip():
        return verdict, None
    if _form_only(verdict):
        text = _joined(reasoning, answer)
        wide = s.model_copy(update={"max_words": max(s.max_words, len(text.split()) + 1), "paragraphs": "join"})
        both = validate(text, ctx, wide, finish_reason)
        return both, reasoning  # rejected or not, the verdict on both (a wrong value in the reasoning named)
    if verdict.ok and not reasoning_holds(reasoning, ctx, s):
        return verdict, None
    return verdict, reasoning
