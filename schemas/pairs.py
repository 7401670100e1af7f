"""The `pairs` and `rejections` tables: validated instruction pairs with provenance, and refusals with reasons."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import pyarrow as pa

PAIRS_SCHEMA = pa.schema([
    pa.field("pair_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("instruction", pa.string(), nullable=False),
    pa.field("answer", pa.string(), nullable=False),
    pa.field("reasoning", pa.string()),
    pa.field("teacher", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("prompt_version", pa.string(), nullable=False),
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("round", pa.int32()),
    pa.field("feature_version", pa.string()),
    pa.field("image_path", pa.string()),
    pa.field("ecg_path", pa.string()),
    pa.field("labels", pa.list_(pa.string())),
    pa.field("label_names", pa.list_(pa.string())),
    pa.field("lead_coverage", pa.float64()),
    pa.field("n_claims", pa.int32()),
    pa.field("n_matched", pa.int32()),
    pa.field("grounding_score", pa.float64()),
    pa.field("validated_at", pa.float64()),
])

SPLIT_FIELD = pa.field("split", pa.string(), nullable=False)
# an export's pairs.parquet: the pairs with the split the export assigned (policy lives at export, not validate)
EXPORT_PAIRS_SCHEMA = PAIRS_SCHEMA.insert(PAIRS_SCHEMA.get_field_index("source") + 1, SPLIT_FIELD)

# one violated rule: its name, what is wrong, and the offending text (empty when the rule names none)
VIOLATION_TYPE = pa.struct([pa.field("rule", pa.string()), pa.field("detail", pa.string()),
                            pa.field("span", pa.string())])
VIOLATIONS_TYPE = pa.list_(VIOLATION_TYPE)

REJECTIONS_SCHEMA = pa.schema([
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("teacher", pa.string()),
    pa.field("prompt_version", pa.string()),
    pa.field("round", pa.int32()),
    pa.field("reason", pa.string(), nullable=False),  # the failed rules, comma-separated (for people)
    pa.field("detail", pa.string()),  # the same violations as JSON text (for people and older readers)
    pa.field("violations", VIOLATIONS_TYPE),  # what programs read: one struct per failed rule
    pa.field("text", pa.string()),
    pa.field("rejected_at", pa.float64()),
])


@dataclass
class PairRow:
    """One row of `pairs` (PAIRS_SCHEMA, field for field): an accepted answer with its provenance."""

    pair_id: str
    record_id: str
    patient_id: str
    source: str | None
    instruction: str
    answer: str
    reasoning: str | None
    teacher: str
    model: str | None
    prompt_version: str
    request_id: str
    round: int
    feature_version: str | None
    image_path: str | None
    ecg_path: str | None
    labels: list[str]
    label_names: list[str]
    lead_coverage: float
    n_claims: int
    n_matched: int
    grounding_score: float
    validated_at: float

    def as_row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RuleViolation:
    """One failed rule of a rejection, as the `violations` column stores it."""

    rule: str
    detail: str = ""
    span: str = ""


@dataclass
class Rejection:
    """One row of `rejections` (REJECTIONS_SCHEMA) as readers use it: the violations typed, whatever the part's age."""

    request_id: str
    record_id: str
    teacher: str | None
    prompt_version: str | None
    round: int
    reason: str
    text: str | None
    rejected_at: float | None
    violations: list[RuleViolation] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: dict) -> "Rejection":
        """From a table row; parts written before the `violations` column give them through `detail` or `reason`."""
        scalars = {f.name: row.get(f.name) for f in fields(cls) if f.name != "violations"}
        scalars["round"] = scalars["round"] or 0
        scalars["reason"] = scalars["reason"] or ""
        return cls(**scalars, violations=_violations_of(row))


def _violations_of(row: dict) -> list[RuleViolation]:
    """The struct column; else the legacy JSON `detail`; else one violation per rule named in `reason`."""
    raw = row.get("violations")
    if not raw:
        try:
            raw = json.loads(row.get("detail") or "[]")
        except (TypeError, ValueError):
            raw = None
    if raw and isinstance(raw, list) and all(isinstance(v, dict) for v in raw):
        return [RuleViolation(str(v.get("rule") or ""), str(v.get("detail") or ""), str(v.get("span") or ""))
                for v in raw]
    return [RuleViolation(rule) for rule in (row.get("reason") or "").split(",") if rule]
