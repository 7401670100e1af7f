"""The `pairs` and `rejections` tables: validated instruction pairs with provenance, and refusals with reasons."""
from __future__ import annotations

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
