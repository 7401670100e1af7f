"""What the phrasing tests of the validator share: the synthetic record of tests/test_validate_prose.py, the rules
an answer breaks, and the violations that keep it from being accepted (empty when it is accepted)."""
from __future__ import annotations

from tasks.validate.rules import validate
from tests.test_validate_prose import CTX, S, _lead_ctx

__all__ = ["CTX", "S", "_lead_ctx", "rules_of", "rejections"]


def rules_of(text: str, ctx=CTX) -> set[str]:
    """Every rule the answer breaks on this record."""
    return {v.rule for v in validate(text, ctx, S).violations}


def rejections(text: str, ctx=CTX) -> list[tuple[str, str]]:
    """(rule, detail) of each violation when the answer is not accepted; [] when it is."""
    verdict = validate(text, ctx, S)
    return [] if verdict.ok else [(v.rule, v.detail) for v in verdict.violations]
