"""Typed teacher requests and responses, the `responses` table, and the request key."""
from __future__ import annotations

import hashlib
import json

import pyarrow as pa
from pydantic import BaseModel, Field, model_validator

from schemas.features import LeadSummary, RecordFeatures, WaveMeasures


class LabelRef(BaseModel):
    code: str
    name: str


class LeadFacts(LeadSummary):
    """A lead's summary (schemas.features.LeadSummary) as teachers and validators see it, plus usability."""

    n_beats: int = 0
    usable: bool = True


class BeatFacts(WaveMeasures):
    """One fused beat in one lead (a `beats` row): its time, RR, and the wave measures; None = not measured."""

    lead: str
    beat: int  # 0-based position in time
    r_peak_s: float | None = None
    rr_ms: float | None = None


class RecordContext(BaseModel):
    """Everything a teacher and a validator may know about one record."""

    record_id: str
    patient_id: str
    source: str
    age: float | None = None
    sex: str | None = None
    labels: list[LabelRef] = Field(default_factory=list)
    report: str = ""
    credentialed: bool = False
    features: RecordFeatures  # one `record_features` row, typed: a misspelled measurement is an AttributeError
    leads: dict[str, LeadFacts] = Field(default_factory=dict)
    beat_table: str = ""  # compact per-lead, per-beat evidence table for prompts
    rr_ms: list[float] = Field(default_factory=list)  # RR interval before each fused beat
    image_path: str | None = None
    image_sha256: str | None = None  # the page's content hash: part of the request key for vision teachers
    signal_path: str | None = None
    feature_version: str = ""
    beats: list[BeatFacts] = Field(default_factory=list)  # per-beat, per-lead evidence (the prompt's beat table)
    duration_s: float | None = None  # length of the recording

    @model_validator(mode="before")
    @classmethod
    def _features_of_this_record(cls, data):
        """A features row given as a dict (tests, stored rows) may omit record_id: it is this record's."""
        if isinstance(data, dict):
            feats = data.get("features")
            if feats is None:
                data = {**data, "features": {"record_id": data.get("record_id", "")}}
            elif isinstance(feats, dict) and "record_id" not in feats:
                data = {**data, "features": {**feats, "record_id": data.get("record_id", "")}}
        return data


class TeacherRequest(BaseModel):
    request_id: str
    record_id: str
    teacher: str
    model: str
    prompt_version: str
    instruction: str  # the human turn of the eventual pair
    messages: list[dict]
    params: dict = Field(default_factory=dict)
    round: int = 0  # 0 first attempt; k = k-th regeneration after a rejection
    parent_request_id: str | None = None
    legacy_request_id: str | None = Field(None, exclude=True)  # the teacher-less id of older ledgers; not stored


class TeacherResponse(BaseModel):
    request_id: str
    status: str  # "ok" or "failed"
    text: str = ""
    reasoning: str | None = None
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1
    error: str | None = None


class FinishedCall(BaseModel):
    """A finished teacher call as the ledger holds it: the request and its outcome (done or failed)."""

    request: TeacherRequest
    response: TeacherResponse

    @property
    def done(self) -> bool:
        return self.response.status == "ok"

    @property
    def state(self) -> str:
        return "done" if self.done else "failed"


def legacy_request_key(record_id: str, messages: list[dict], model: str, params: dict,
                       image_sha256: str | None = None) -> str:
    """The request id ledgers written before teacher names were keyed used (record, prompt, model, params[, page])."""
    key = {"record": record_id, "messages": messages, "model": model, "params": params}
    if image_sha256:
        key["image"] = image_sha256
    blob = json.dumps(key, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def teacher_key(teacher: str, legacy_id: str) -> str:
    """The request id of `teacher` for the request whose legacy (teacher-less) id is `legacy_id`."""
    return hashlib.sha256(f"teacher:{teacher}\x00{legacy_id}".encode()).hexdigest()[:32]


def request_key(record_id: str, messages: list[dict], model: str, params: dict,
                image_sha256: str | None = None, teacher: str | None = None) -> str:
    """The request id: a hash of the teacher, the record, the rendered prompt (so its version), the model and params.

    Two teachers on the same model have different ids. For a teacher that is sent the rendered
    page, the page's sha256 is part of the key too, so a page re-rendered with other settings is a
    new request. An id is `teacher_key(teacher, legacy id)`, so a ledger written before teachers were
    keyed maps onto it (storage.ledger.Ledger.adopt_legacy).
    """
    legacy = legacy_request_key(record_id, messages, model, params, image_sha256)
    return teacher_key(teacher, legacy) if teacher else legacy


RESPONSES_SCHEMA = pa.schema([
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("record_id", pa.string(), nullable=False),
    pa.field("teacher", pa.string()),
    pa.field("model", pa.string()),
    pa.field("prompt_version", pa.string()),
    pa.field("round", pa.int32()),
    pa.field("parent_request_id", pa.string()),
    pa.field("instruction", pa.string()),
    pa.field("status", pa.string()),
    pa.field("attempts", pa.int32()),
    pa.field("sends", pa.int32()),
    pa.field("input_tokens", pa.int64()),
    pa.field("output_tokens", pa.int64()),
    pa.field("cost_usd", pa.float64()),
    pa.field("latency_s", pa.float64()),
    pa.field("finish_reason", pa.string()),
    pa.field("text", pa.string()),
    pa.field("reasoning", pa.string()),
    pa.field("error", pa.string()),
    pa.field("batch_id", pa.string()),
    pa.field("created_at", pa.float64()),
    pa.field("done_at", pa.float64()),
])
