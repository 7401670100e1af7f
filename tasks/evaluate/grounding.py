"""Judge-free grounding metrics: the validation stage's validators applied to an interpreter's outputs.

Free, automatic and reproducible: numeric-claim agreement (every number with a unit checked against
the record's measurements), lead coverage, diagnosis consistency (no stated diagnosis contradicts the
labels or the measurements; the labelled diagnoses are stated) and the validators' grounding score.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from schemas.config import ValidationSettings
from schemas.teacher import RecordContext
from tasks.validate.consistency import stated_codes
from tasks.validate.rules import validate

_CONTRADICTION = "diagnosis_contradicts"


@dataclass
class ItemGrounding:
    verdict_ok: bool
    grounding_score: float
    lead_coverage: float
    n_claims: int
    n_matched: int
    n_labels: int
    n_labels_stated: int
    n_contradictions: int
    violations: str

    def row(self) -> dict:
        return dict(vars(self))


def ground_item(text: str, ctx: RecordContext, settings: ValidationSettings) -> ItemGrounding:
    """The validators' verdict on one output, against the record's (unblinded) context."""
    verdict = validate(text or "", ctx, settings)
    stated = stated_codes(text or "")
    rules = [v.rule for v in verdict.violations]
    return ItemGrounding(
        verdict_ok=verdict.ok, grounding_score=verdict.grounding_score, lead_coverage=verdict.lead_coverage,
        n_claims=verdict.n_claims, n_matched=verdict.n_matched, n_labels=len(ctx.labels),
        n_labels_stated=sum(lab.code in stated for lab in ctx.labels),
        n_contradictions=sum(r.startswith(_CONTRADICTION) for r in rules),
        violations=",".join(dict.fromkeys(rules)),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def grounding_summary(rows: list[dict]) -> dict:
    """Aggregates over the scored outputs (rows with the ItemGrounding fields); None where undefined."""
    n = len(rows)
    claims = sum(r["n_claims"] or 0 for r in rows)
    labels = sum(r["n_labels"] or 0 for r in rows)
    rules = Counter(rule for r in rows for rule in (r["violations"] or "").split(",") if rule)
    return {
        "n": n,
        "grounding_score": _mean([r["grounding_score"] for r in rows]),
        "numeric_agreement": sum(r["n_matched"] or 0 for r in rows) / claims if claims else None,
        "n_claims": claims,
        "items_with_claims": sum(1 for r in rows if r["n_claims"]),
        "lead_coverage": _mean([r["lead_coverage"] for r in rows]),
        "diagnosis_consistency": _mean([0.0 if r["n_contradictions"] else 1.0 for r in rows]),
        "labels_stated": sum(r["n_labels_stated"] or 0 for r in rows) / labels if labels else None,
        "pass_rate": _mean([1.0 if r["verdict_ok"] else 0.0 for r in rows]),
        "violations": dict(rules.most_common()),
    }
