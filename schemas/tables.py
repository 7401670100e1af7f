"""Every table of a dataset root with its explicit Arrow schema: the catalog's contract."""
from __future__ import annotations

import pyarrow as pa

from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA
from schemas.images import IMAGES_SCHEMA
from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA
from schemas.records import QUARANTINE_SCHEMA, RECORDS_SCHEMA
from schemas.teacher import RESPONSES_SCHEMA

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "records": RECORDS_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA,
    "beats": BEATS_SCHEMA,
    "record_features": RECORD_FEATURES_SCHEMA,
    "images": IMAGES_SCHEMA,
    "responses": RESPONSES_SCHEMA,
    "pairs": PAIRS_SCHEMA,
    "rejections": REJECTIONS_SCHEMA,
}
