"""The validate stage's shard work: check each finished response, commit pairs and rejections."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from schemas.config import GemflowConfig
from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA, PairRow
from schemas.teacher import FinishedCall, RecordContext
from storage.layout import DataRoot, RootHandle
from storage.ledger import Ledger
from storage.parquet import TableStore, part_name, rows_to_table
from tasks.shards import Counts, ShardStage
from tasks.teachers.context import build_contexts
from tasks.validate.dedup import DuplicateIndex
from tasks.validate.layout import stored_layout
from tasks.validate.parse import parse_response
from tasks.validate.reasoning import validate_answer
from tasks.validate.rules import Verdict, Violation

STAGE = "validate"
SHARDS = ShardStage(STAGE, "pairs", ("rejections",))  # its tables; the primary part commits a shard


@dataclass
class ValidateCounts(Counts):
    accepted: int = 0
    rejected: int = 0


def pending_validation(root: DataRoot, teacher: str | None = None, version: str | None = None) -> list[FinishedCall]:
    """Finished responses that are neither a pair nor a rejection yet."""
    seen, failed_calls = validated_keys(TableStore(root))
    with Ledger(root.ledger_path) as ledger:
        rows = ledger.finished(teacher, version)
    # a call rejected as failed and answered by a later retry is validated again
    return [c for c in rows if c.request.request_id not in seen or (c.request.request_id in failed_calls and c.done)]


def validated_keys(store: TableStore) -> tuple[set[str], set[str]]:
    """Request ids already paired or rejected, and those rejected as failed calls: from the part index, so a
    part is read once per process, and only parts holding a failed call for the second (storage/parquet.py)."""
    seen = store.keys("pairs", PAIRS_SCHEMA, "request_id") | store.keys("rejections", REJECTIONS_SCHEMA, "request_id")
    return seen, store.keys_where("rejections", REJECTIONS_SCHEMA, "request_id", "reason", ["teacher_failed"])


def duplicate_index(root: DataRoot, cfg: GemflowConfig) -> DuplicateIndex:
    """An index of every accepted answer, for exact and near-duplicate checks across records."""
    index = DuplicateIndex(cfg.validation.near_duplicate_threshold)
    for row in TableStore(root).read("pairs", PAIRS_SCHEMA, columns=["record_id", "answer"]).to_pylist():
        index.add(row["record_id"], row["answer"])
    return index


def _pair_row(call: FinishedCall, ctx: RecordContext, verdict: Verdict, cfg: GemflowConfig,
              rec_labels: tuple) -> PairRow:
    req, resp = call.request, call.response
    return PairRow(
        pair_id=hashlib.sha256(f"pair:{req.request_id}".encode()).hexdigest()[:24],
        record_id=ctx.record_id, patient_id=ctx.patient_id, source=ctx.source, instruction=req.instruction,
        answer=resp.text.strip(), reasoning=resp.reasoning, teacher=req.teacher, model=req.model,
        prompt_version=req.prompt_version, request_id=req.request_id, round=req.round,
        feature_version=ctx.feature_version, image_path=ctx.image_path, ecg_path=ctx.signal_path,
        labels=list(rec_labels[0]), label_names=list(rec_labels[1]), lead_coverage=verdict.lead_coverage,
        n_claims=verdict.n_claims, n_matched=verdict.n_matched, grounding_score=verdict.grounding_score,
        validated_at=time.time(),
    )


def _rejection_row(call: FinishedCall, violations: list[Violation]) -> dict:
    req = call.request
    return {
        "request_id": req.request_id, "record_id": req.record_id, "teacher": req.teacher,
        "prompt_version": req.prompt_version, "round": req.round,
        "reason": ",".join(dict.fromkeys(v.rule for v in violations)),
        "detail": json.dumps([vars(v) for v in violations], ensure_ascii=False),
        "violations": [vars(v) for v in violations],
        "text": call.response.text, "rejected_at": time.time(),
    }


def check_response(call: FinishedCall, ctx: RecordContext | None, cfg: GemflowConfig,
                   index: DuplicateIndex | None = None) -> Verdict:
    """The verdict on one response (parsed in place: wrappers stripped, reasoning kept apart, layout joined)."""
    resp = call.response
    if not call.done:
        return Verdict(False, [Violation("teacher_failed", resp.error or "the call failed")])
    if ctx is None:
        return Verdict(False, [Violation("no_context", "the record has no features any more")])
    parsed = parse_response(resp.text, resp.reasoning, resp.finish_reason)
    answer = stored_layout(parsed.answer, cfg.validation)  # prose paragraphs joined: the pair is one paragraph
    resp.text, resp.reasoning = answer, parsed.reasoning
    if parsed.problems:
        return Verdict(False, [Violation(rule, detail) for rule, detail in parsed.problems])
    # the reasoning is kept only when checked (tasks/validate/reasoning.py)
    verdict, resp.reasoning = validate_answer(answer, parsed.reasoning, ctx, cfg.validation, resp.finish_reason)
    if verdict.ok and index is not None:
        check_duplicate(verdict, ctx.record_id, answer, index)
    return verdict


def check_duplicate(verdict: Verdict, record_id: str, answer: str, index: DuplicateIndex) -> None:
    """Turn an accepted verdict into a rejection when another record's accepted answer is a (near) copy."""
    dup = index.check(record_id, answer)
    if dup is not None:
        verdict.ok = False
        verdict.violations.append(Violation(f"duplicate_{dup.kind}", f"{dup.kind} duplicate of the answer for"
                                            f" {dup.other_record} (similarity {dup.similarity:.2f})"))


@dataclass
class Checked:
    """One response checked against its record, before the cross-record duplicate check."""

    response: FinishedCall  # the ledger's call, its text parsed (wrappers stripped, reasoning apart)
    verdict: Verdict
    pair: PairRow | None  # the pair row, when the record-level rules accept it


def check_shard(root_dir: str | RootHandle, responses: list[FinishedCall], cfg: GemflowConfig) -> list[Checked]:
    """The record-level rules for one shard: pure, so shards run in parallel (any task runner)."""
    store = TableStore(DataRoot.open(root_dir))
    contexts = {c.record_id: c for c in build_contexts(store, sorted({c.request.record_id for c in responses}))}
    out = []
    for resp in responses:
        ctx = contexts.get(resp.request.record_id)
        verdict = check_response(resp, ctx, cfg)
        pair = None
        if verdict.ok and ctx is not None:
            labels = ([lab.code for lab in ctx.labels], [lab.name for lab in ctx.labels])
            pair = _pair_row(resp, ctx, verdict, cfg, labels)
        out.append(Checked(resp, verdict, pair))
    return out


def commit_checked(root_dir: str, checked: list[Checked], index: DuplicateIndex) -> ValidateCounts:
    """Drop duplicates of answers accepted before (in order), then commit the shard's pairs and rejections."""
    pairs, rejections = [], []
    for item in checked:
        if item.pair is not None:
            check_duplicate(item.verdict, item.pair.record_id, item.response.response.text, index)
        if item.verdict.ok and item.pair is not None:
            pairs.append(item.pair.as_row())
            index.add(item.pair.record_id, item.response.response.text)
        else:
            rejections.append(_rejection_row(item.response, item.verdict.violations))
    name = part_name(STAGE, [c.response.request.request_id for c in checked])
    TableStore(DataRoot.open(root_dir)).commit(name, {"rejections": rows_to_table(rejections, REJECTIONS_SCHEMA),
                                                      "pairs": rows_to_table(pairs, PAIRS_SCHEMA)}, primary="pairs")
    return ValidateCounts(len(pairs), len(rejections))
