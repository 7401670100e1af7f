"""Assemble each record's context (labels, measurements, per-lead and per-beat evidence) from the tables."""
from __future__ import annotations

import math
from collections import defaultdict

import pyarrow as pa

from schemas.features import BEATS_SCHEMA, RECORD_FEATURES_SCHEMA, RecordFeatures
from schemas.images import IMAGES_SCHEMA
from schemas.records import LEADS_12, RECORDS_SCHEMA
from schemas.teacher import BeatFacts, LabelRef, LeadFacts, RecordContext
from storage.parquet import TableStore


def lead_facts(feat: RecordFeatures) -> dict[str, LeadFacts]:
    """Per-lead facts from the record's lead summaries (schemas.features.LeadSummary); absent = unusable."""
    usable = set(feat.usable_leads)
    summaries = {s.lead: s for s in feat.leads}
    out = {}
    for lead in LEADS_12:
        s = summaries.get(lead)
        if s is None:
            out[lead] = LeadFacts(lead=lead, usable=False)
            continue
        out[lead] = LeadFacts(**s.model_dump(), usable=lead in usable and s.n_beats > 0)
    return out


def _clean(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def beat_facts(beats: list[dict]) -> list[BeatFacts]:
    """Typed per-beat, per-lead rows (NaN read as not measured), in lead then time order."""
    fields = [k for k in BeatFacts.model_fields if k not in ("lead", "beat")]
    out = [BeatFacts(lead=b["lead"], beat=int(b["beat"]), **{k: _clean(b.get(k)) for k in fields}) for b in beats]
    return sorted(out, key=lambda b: (LEADS_12.index(b.lead) if b.lead in LEADS_12 else 99, b.beat))


def _cell(v, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def beat_table(beats: list[dict], max_beats: int = 12) -> str:
    """A compact, time-ordered per-lead, per-beat table for prompts."""
    lines = ["lead beat t_s RR PR QRS QT P R S T ST"]
    ordered = sorted(beats, key=lambda b: (LEADS_12.index(b["lead"]) if b["lead"] in LEADS_12 else 99, b["beat"]))
    for b in ordered:
        if b["beat"] >= max_beats:
            continue
        lines.append(" ".join([
            b["lead"], str(b["beat"] + 1), _cell(b.get("r_peak_s"), 2), _cell(b.get("rr_ms"), 0),
            _cell(b.get("pr_ms"), 0), _cell(b.get("qrs_ms"), 0), _cell(b.get("qt_ms"), 0),
            *[_cell(b.get(c), 2) for c in ("p_amp_mv", "r_amp_mv", "s_amp_mv", "t_amp_mv", "st_mv")],
        ]))
    return "\n".join(lines)


def _rows_by_id(store: TableStore, table: str, schema: pa.Schema, ids: list[str]) -> dict[str, list[dict]]:
    data = store.read_records(table, schema, ids)  # only the parts that hold these records
    out: dict[str, list[dict]] = defaultdict(list)
    for row in data.to_pylist():
        out[row["record_id"]].append(row)
    return out


def fused_rr(beats: list[dict]) -> list[float]:
    """RR before each fused beat (from the first lead that has beats)."""
    per_beat: dict[int, float] = {}
    for b in beats:
        if b.get("rr_ms") is not None and b["beat"] not in per_beat:
            per_beat[b["beat"]] = float(b["rr_ms"])
    return [per_beat[k] for k in sorted(per_beat)]


def build_contexts(store: TableStore, record_ids: list[str]) -> list[RecordContext]:
    """Contexts of the records that have features (others are skipped: they are not ready)."""
    if not record_ids:
        return []
    recs = _rows_by_id(store, "records", RECORDS_SCHEMA, record_ids)
    feats = _rows_by_id(store, "record_features", RECORD_FEATURES_SCHEMA, record_ids)
    beats = _rows_by_id(store, "beats", BEATS_SCHEMA, record_ids)
    images = _rows_by_id(store, "images", IMAGES_SCHEMA, record_ids)
    return [make_context(recs[rid][0], feats[rid][0], beats.get(rid, []),
                         images[rid][0]["path"] if rid in images else None,
                         images[rid][0]["sha256"] if rid in images else None)
            for rid in record_ids if rid in recs and rid in feats]


def make_context(rec: dict, feat: dict, beats: list[dict], image_path: str | None,
                 image_sha256: str | None = None) -> RecordContext:
    """A record's context from its `records` row, `record_features` row, `beats` rows and image path."""
    typed = RecordFeatures.from_row(feat)
    return RecordContext(
        record_id=rec["record_id"], patient_id=rec["patient_id"], source=rec["source"], age=rec["age"],
        sex=rec["sex"], labels=[LabelRef(code=c, name=n) for c, n in zip(rec["labels"] or [], rec["label_names"] or [])],
        report=rec["report"] or "", credentialed=bool(rec["credentialed"]), features=typed,
        leads=lead_facts(typed), beat_table=beat_table(beats), rr_ms=fused_rr(beats), beats=beat_facts(beats),
        image_path=image_path, image_sha256=image_sha256, signal_path=rec["signal_path"],
        feature_version=typed.feature_version or "", duration_s=rec.get("duration_s"),
    )
