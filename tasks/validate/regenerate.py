"""Regeneration: a rejected answer is asked again, with the failed rules fed back, up to K rounds."""
from __future__ import annotations

import pyarrow.compute as pc

from schemas.config import GemflowConfig
from schemas.pairs import PAIRS_SCHEMA, REJECTIONS_SCHEMA, Rejection
from schemas.teacher import RecordContext, TeacherRequest
from schemas.vocab import Vocabulary
from storage.layout import DataRoot
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.teachers.base import GovernanceError, check_governance, plan_request
from tasks.teachers.context import build_contexts

NOT_RETRIED = {"no_context", "teacher_failed"}  # failed calls are resent by the generate stage itself


def feedback_message(rejection: Rejection) -> str:
    """The turn that tells the teacher what was wrong, rule by rule, with the offending spans."""
    lines = ["Your previous answer was rejected by an automatic check against the measurements:"]
    for v in rejection.violations:
        span = f' (offending text: "{v.span}")' if v.span else ""
        lines.append(f"- {v.rule}: {v.detail}{span}")
    lines.append("Write the interpretation again as one paragraph of at most 300 words, correcting these points."
                 " Use only values from the measurements, name only usable leads, state every reference"
                 " diagnosis, and do not mention that measurements or a report were provided.")
    return "\n".join(lines)


def pending_regenerations(root: DataRoot, teacher: str, version: str, max_rounds: int) -> list[Rejection]:
    """Rejections (latest round per record) still worth another attempt for this teacher and prompt version.

    Read from the part index, not whole tables: a record all of whose rejections already have a
    regeneration in the ledger has nothing pending (its latest one has a child), so only the records
    holding an open rejection are read, all their rejection rows and pairs (`read_records`), and the
    rule below runs on exactly those rows (tests/test_validate_regeneration.py compares it with the
    whole-table rule)."""
    store = TableStore(root)
    with Ledger(root.ledger_path) as ledger:
        ids = store.keys("rejections", REJECTIONS_SCHEMA, "request_id")
        open_ids = ids - ledger.with_children(ids)
        records = sorted(store.keys_where("rejections", REJECTIONS_SCHEMA, "record_id", "request_id", open_ids)
                         if open_ids else set())
        rej = store.read_records("rejections", REJECTIONS_SCHEMA, records)
        pairs = store.read_records("pairs", PAIRS_SCHEMA, records, columns=["record_id", "teacher", "prompt_version"])
        latest = latest_retriable(rej, pairs, teacher, version, max_rounds)
        done = ledger.with_children(r.request_id for r in latest.values())
    return sorted((r for r in latest.values() if r.request_id not in done), key=lambda r: r.record_id)


def latest_retriable(rej, pairs, teacher: str, version: str, max_rounds: int) -> dict[str, Rejection]:
    """Per record, its latest rejection for `teacher`/`version` that may be retried: not accepted since,
    below `max_rounds`, and failing some rule other than those regeneration leaves alone."""
    rej = rej.filter(pc.and_(pc.equal(rej["teacher"], teacher), pc.equal(rej["prompt_version"], version)))
    accepted = {p["record_id"] for p in pairs.to_pylist() if p["teacher"] == teacher and p["prompt_version"] == version}
    latest: dict[str, Rejection] = {}
    for row in map(Rejection.from_row, rej.to_pylist()):
        if row.record_id in accepted or row.round >= max_rounds:
            continue
        if {v.rule for v in row.violations} <= NOT_RETRIED:
            continue
        cur = latest.get(row.record_id)
        if cur is None or row.round > cur.round:
            latest[row.record_id] = row
    return latest


def plan_regenerations(store: TableStore, rejections: list[Rejection], cfg: GemflowConfig, teacher: str,
                       version: str) -> list[tuple[TeacherRequest, RecordContext]]:
    """The next-round request for each rejection: same prompt, plus the rejected answer and the feedback."""
    tcfg = cfg.teacher_config(teacher)
    vocab = Vocabulary.load()
    contexts = {c.record_id: c for c in build_contexts(store, sorted({r.record_id for r in rejections}))}
    planned = []
    for rej in rejections:
        ctx = contexts.get(rej.record_id)
        if ctx is None:
            continue
        try:
            check_governance(ctx, teacher, tcfg)
        except GovernanceError:
            continue
        req = plan_request(ctx, teacher, tcfg, version, vocab, feedback=feedback_message(rej),
                           round_=rej.round + 1, parent=rej.request_id, previous=rej.text or "")
        planned.append((req, ctx))
    return planned
