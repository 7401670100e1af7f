"""The one way to ask a teacher: governance, the ledger, attempts over all runs, realtime or batch.

The transports are imported where they are used (litellm is heavy and the template teacher needs none).

Generate, regeneration, evaluate, the judge and `gemflow interpret` all call `ask` (or `ask_one`
for a single unjournaled request). For each planned request, in order:
1. governance: a credentialed record goes only to a teacher approved for its source; a refused one
   is returned in `Asked.refused` and never registered nor sent;
2. identity: the request keeps the id an older ledger already knows it by (`Ledger.adopt_legacy`);
3. the ledger: registered before anything is sent; `done` rows are never sent again; a request
   that has made `max_attempts_total` attempts over all runs is left failed with its reason;
4. the transport: the teacher's batch mode (tasks/teachers/batch.py) or the realtime runner
   (tasks/teachers/runner.py, the one retry layer). A teacher now realtime whose ledger still holds
   open batches has them settled first (collected, or cancelled where batch mode can), and rows
   still inside an open batch are not sent again;
5. the answers, as typed `FinishedCall`s keyed by the planned request id.
An account-wide refusal (`policy.AccountError`) propagates: the run stops, requests stay pending.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from schemas.config import TeacherConfig
from schemas.teacher import FinishedCall, RecordContext, TeacherRequest, TeacherResponse
from storage.ledger import Ledger
from tasks.teachers.base import GovernanceError, build_teacher, check_governance
from tasks.teachers.limiter import Gate, RateLimiter
from tasks.teachers.policy import CallCounts, RunResult, Work, attempts_left

log = logging.getLogger("gemflow.teachers")


@dataclass
class AskOptions:
    """What the flow layer gives the façade: the budget, the key (never a Prefect parameter), the shared caps."""

    budget_usd: float | None = None
    api_key: str | None = None
    gate: Gate | None = None
    limiter: RateLimiter | None = None
    data_root: str | Path | None = None


@dataclass
class Asked(CallCounts):
    """What one `ask` did, and the finished calls of the planned requests (keyed by planned request id)."""

    planned: int = 0
    skipped_done: int = 0
    refused: list[tuple[RecordContext, str]] = field(default_factory=list)
    calls: dict[str, FinishedCall] = field(default_factory=dict)

    def take(self, result: RunResult) -> None:
        """Add a run's call counts (the fields of `CallCounts`) to this ask's."""
        for f in fields(CallCounts):
            setattr(self, f.name, getattr(self, f.name) + getattr(result, f.name))


def governed(planned: list[Work], teacher: str, tcfg: TeacherConfig) -> tuple[list[Work], list[tuple[RecordContext, str]]]:
    """The work this teacher may be sent, and the refused records with the reason."""
    allowed, refused = [], []
    for req, ctx in planned:
        try:
            if ctx is not None:
                check_governance(ctx, teacher, tcfg)
        except GovernanceError as exc:
            refused.append((ctx, str(exc)))
            continue
        allowed.append((req, ctx))
    return allowed, refused


def _run_template(todo: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig) -> RunResult:
    impl, result = build_teacher(teacher, tcfg), RunResult()
    for req, ctx in todo:
        ledger.mark_sent(req.request_id)
        resp = impl.complete(req, ctx)
        ledger.record(resp)
        result.sent += 1
        result.attempts += resp.attempts
        result.done += resp.status == "ok"
        result.failed += resp.status != "ok"
    return result


def _settle_batches(ledger: Ledger, teacher: str, tcfg: TeacherConfig, options: AskOptions) -> set[str]:
    """For a teacher now realtime: settle its open batches (batch mode's own way); the ids still inside one."""
    from tasks.teachers import batch
    if not batch.open_request_ids(ledger, teacher):  # ledger only: open, being created, or queued for a wave
        return set()
    batch.settle_open_batches(ledger, teacher, tcfg, api_key=options.api_key, data_root=options.data_root)
    busy = batch.open_request_ids(ledger, teacher)
    if busy:
        log.warning("teacher %s: %d request(s) are still inside open batches; they are not sent again in"
                    " realtime (the next run collects them)", teacher, len(busy))
    return busy


def _todo(requests: list[tuple[TeacherRequest, RecordContext | None]], ledger: Ledger, tcfg: TeacherConfig,
          asked: Asked) -> tuple[list[Work], dict[str, int]]:
    """The requests to send now and the attempts each may make (over all runs: max_attempts_total)."""
    ids = [r.request_id for r, _ in requests]
    states, made = ledger.states(ids), ledger.attempts(ids)
    todo, left = [], {}
    for req, ctx in requests:
        if states.get(req.request_id) == "done":
            asked.skipped_done += 1
            continue
        n = attempts_left(tcfg, made.get(req.request_id, 0))
        if n <= 0:
            asked.exhausted += 1
            continue
        todo.append((req, ctx))
        left[req.request_id] = n
    return todo, left


def ask(planned: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig,
        options: AskOptions | None = None) -> Asked:
    """Ask `teacher` for every planned request not finished yet; see the module docstring."""
    options = options or AskOptions()
    asked = Asked(planned=len(planned))
    allowed, asked.refused = governed(planned, teacher, tcfg)
    resolved = ledger.adopt_legacy([r for r, _ in allowed])
    planned_id = {new.request_id: old.request_id for new, (old, _) in zip(resolved, allowed)}
    requests = [(new, ctx) for new, (_, ctx) in zip(resolved, allowed)]
    ledger.register(r for r, _ in requests)
    root = options.data_root if options.data_root is not None else ledger.path.parent
    busy: set[str] = set()
    if tcfg.kind == "litellm" and not tcfg.batch:  # settle open batches before deciding what is left to send
        busy = _settle_batches(ledger, teacher, tcfg, AskOptions(**{**vars(options), "data_root": root}))
    todo, left = _todo(requests, ledger, tcfg, asked)
    if asked.exhausted:
        log.warning("teacher %s: %d request(s) left failed: they made max_attempts_total=%d attempts over"
                    " earlier runs", teacher, asked.exhausted, tcfg.max_attempts_total)
    if tcfg.kind != "litellm":
        asked.take(_run_template(todo, ledger, teacher, tcfg))
    elif tcfg.batch:
        from tasks.teachers import batch
        asked.take(batch.submit_batches(todo, ledger, teacher, tcfg, budget_usd=options.budget_usd,
                                        api_key=options.api_key, data_root=root))
    else:
        from tasks.teachers import runner
        asked.waiting_in_batch += sum(r.request_id in busy for r, _ in todo)
        todo = [(r, c) for r, c in todo if r.request_id not in busy]
        asked.take(runner.run_llm_requests(todo, ledger, teacher, tcfg, budget_usd=options.budget_usd,
                                           api_key=options.api_key, data_root=root, gate=options.gate,
                                           limiter=options.limiter, attempts_left=left))
    finished = ledger.finished_by_id(planned_id)
    asked.calls = {planned_id[rid]: call for rid, call in finished.items()}
    return asked


def ask_one(request: TeacherRequest, ctx: RecordContext | None, teacher: str, tcfg: TeacherConfig, *,
            api_key: str | None = None, data_root: str | Path | None = None) -> TeacherResponse:
    """One request, not journaled (`gemflow interpret`): governance, then the retry layer; raises GovernanceError."""
    if ctx is not None:
        check_governance(ctx, teacher, tcfg)
    if tcfg.kind != "litellm":
        return build_teacher(teacher, tcfg).complete(request, ctx)
    from tasks.teachers import runner
    from tasks.teachers.llm import LlmTeacher
    impl = LlmTeacher(teacher, tcfg, api_key=api_key, data_root=data_root)
    return runner.ask_unjournaled(impl, request, ctx)


def collect(ledger: Ledger, teacher: str, tcfg: TeacherConfig, options: AskOptions | None = None,
            wait_s: float | None = None) -> RunResult:
    """Poll a batch teacher's open batches until none is open or `wait_s` (default batch_wait_s) has passed."""
    from tasks.teachers import batch
    options = options or AskOptions()
    root = options.data_root if options.data_root is not None else ledger.path.parent
    return batch.wait_for_batches(ledger, teacher, tcfg, api_key=options.api_key, data_root=root, wait_s=wait_s)
