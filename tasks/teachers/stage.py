"""The generate stage's shard work: plan keyed requests, journal them, ask the teacher, journal the answers."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow.dataset as ds

from schemas.config import GemflowConfig
from schemas.features import RECORD_FEATURES_SCHEMA
from schemas.records import QUARANTINE_SCHEMA, RecordError, quarantine_row
from schemas.teacher import RecordContext, TeacherRequest
from schemas.vocab import Vocabulary
from storage.layout import DataRoot
from storage.ledger import Ledger
from storage.parquet import TableStore, part_name, rows_to_table
from tasks.shards import Counts
from tasks.teachers.base import GovernanceError, build_teacher, check_governance, plan_request
from tasks.teachers.context import build_contexts

STAGE = "generate"


@dataclass
class GenerateCounts(Counts):
    planned: int = 0
    sent: int = 0
    done: int = 0
    failed: int = 0
    skipped_done: int = 0
    quarantined: int = 0
    attempts: int = 0
    not_sent_budget: int = 0
    waiting_in_batch: int = 0


def pending_generation(root: DataRoot, teacher: str, version: str) -> list[str]:
    """Records with features and no first-round request for this teacher and prompt version."""
    store = TableStore(root)
    ready = store.keys("record_features", RECORD_FEATURES_SCHEMA)
    refused = store.keys("quarantine", QUARANTINE_SCHEMA, filter=ds.field("stage") == STAGE)
    with Ledger(root.ledger_path) as ledger:
        asked = ledger.records_with(teacher, version, rounds=(0,), states=("done",))
    return sorted(ready - refused - asked)


def plan_shard(store: TableStore, record_ids: list[str], cfg: GemflowConfig, teacher: str,
               version: str) -> tuple[list[tuple[TeacherRequest, RecordContext]], list[dict]]:
    """Requests for a shard's records, and quarantine rows for records no request may be made for."""
    tcfg = cfg.teacher_config(teacher)
    vocab = Vocabulary.load()
    planned, refused = [], []
    for ctx in build_contexts(store, record_ids):
        try:
            check_governance(ctx, teacher, tcfg)
        except GovernanceError as exc:
            refused.append(quarantine_row(RecordError(ctx.record_id, STAGE, "credentialed source not allowed",
                                                      str(exc)), source=ctx.source))
            continue
        planned.append((plan_request(ctx, teacher, tcfg, version, vocab), ctx))
    return planned, refused


def run_requests(planned: list[tuple[TeacherRequest, RecordContext]], ledger: Ledger, cfg: GemflowConfig,
                 teacher: str, **llm_options) -> GenerateCounts:
    """Send what the ledger has not finished; an LLM teacher goes through its rate-limited async runner.

    `llm_options` go to `run_llm_requests` (api_key, gate, limiter, data_root); the key never enters
    a Prefect parameter or a table.
    """
    counts = GenerateCounts(planned=len(planned))
    ledger.register(r for r, _ in planned)
    states = ledger.states(r.request_id for r, _ in planned)
    todo = [(r, c) for r, c in planned if states.get(r.request_id) != "done"]
    counts.skipped_done = len(planned) - len(todo)
    tcfg = cfg.teacher_config(teacher)
    if tcfg.kind == "litellm":
        from tasks.teachers.runner import run_llm_requests
        result = run_llm_requests(todo, ledger, teacher, tcfg, budget_usd=cfg.budget_usd, **llm_options)
        counts.sent, counts.done, counts.failed = result.sent, result.done, result.failed
        counts.attempts, counts.not_sent_budget = result.attempts, result.not_sent_budget
        counts.waiting_in_batch = result.waiting_in_batch
        return counts
    impl = build_teacher(teacher, tcfg)
    for req, ctx in todo:
        ledger.mark_sent(req.request_id)
        resp = impl.complete(req, ctx)
        ledger.record(resp)
        counts.sent += 1
        counts.attempts += resp.attempts
        counts.done += resp.status == "ok"
        counts.failed += resp.status != "ok"
    return counts


def generate_shard(root_dir: str, record_ids: list[str], cfg: GemflowConfig, teacher: str,
                   version: str, **llm_options) -> GenerateCounts:
    """Plan, journal and run one shard's requests; refusals go to quarantine with stage `generate`."""
    root = DataRoot.open(root_dir)
    store = TableStore(root)
    planned, refused = plan_shard(store, record_ids, cfg, teacher, version)
    if refused:
        name = part_name(STAGE, [r["record_id"] for r in refused])
        store.commit(name, {"quarantine": rows_to_table(refused, QUARANTINE_SCHEMA)}, primary="quarantine")
    with Ledger(root.ledger_path) as ledger:
        counts = run_requests(planned, ledger, cfg, teacher, data_root=root.root, **llm_options)
    counts.quarantined = len(refused)
    return counts
