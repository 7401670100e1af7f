"""OpenAI Batch API mode: requests queued per shard, packed into batches submitted in waves, polled, collected.

1. `submit_batches` (each shard) journals its requests as a queue row (`batch_journal`), within the
   budget; it submits only batches that are already full, so shards are packed together.
2. `wait_for_batches` (once per flow) submits waves: each batch at most `batch_max_requests`
   requests and 190 MB, and all open batches together within `batch_enqueued_tokens` (the
   provider's enqueued-token cap). A batch is journaled before each step: JSONL under
   `<data>/batches/`, an `intent-<key>` row, the upload (its file id journaled), the batch (its id
   journaled, requests marked sent in it). A crash resumes the intent: a file whose id a crash hid
   is looked up on one page of the newest files, a batch by `metadata.gemflow_key`.
3. A finished batch's answers go into the ledger. Requests a batch did not answer because it
   expired, was cancelled or hit `token_limit_exceeded` go back to `pending` and into the queue
   (the next wave; after a token-limit failure with half the room). Then its input, output and
   error files are deleted at the provider, each deletion journaled.
Every provider call is one attempt: a transient failure is left in the journal and taken again
at the next poll tick.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemas.config import TeacherConfig
from schemas.teacher import RecordContext, TeacherRequest, TeacherResponse
from storage.ledger import Ledger
from tasks.teachers import batch_journal as J
from tasks.teachers.batch_client import BatchClient, api_model
from tasks.teachers.batch_collect import responses_of, unanswered_outcome
from tasks.teachers.cost import Budget, estimate_cost, prompt_tokens
from tasks.teachers.llm import messages_with_image
from tasks.teachers.policy import CLIENT_ERRORS, RunResult, Work, is_transient
from tasks.teachers.vision import image_part_from_path, image_tokens, page_path, page_size

open_request_ids = J.open_request_ids
log = logging.getLogger("gemflow.teachers.batch")
TERMINAL = ("completed", "failed", "expired", "cancelled")
MAX_FILE_BYTES = 190 * 1024 * 1024  # OpenAI accepts 200 MB per input file


@dataclass
class Group:
    """Queued items packed into one batch; `full` when a cap closed it (not the end of the queue)."""

    items: list[J.Item] = field(default_factory=list)
    tokens: int = 0
    full: bool = False


def pack(items: list[J.Item], room_tokens: int, max_requests: int, *, open_batches: int) -> list[Group]:
    """Groups of at most `max_requests` whose tokens together fit `room_tokens`; an item that fits no room
    alone is still sent alone when nothing else is open (the wave must make progress)."""
    groups, cur, left = [], Group(), room_tokens
    for item in items:
        if len(cur.items) >= max_requests or (cur.items and item.tokens > left):
            cur.full = True
            groups.append(cur)
            cur = Group()
        if item.tokens > left and not (open_batches == 0 and not groups and not cur.items):
            cur.full = True  # the room is used up: this wave ends here
            break
        cur.items.append(item)
        cur.tokens += item.tokens
        left -= item.tokens
    if cur.items:
        groups.append(cur)
    return groups


class BatchRun:
    """The batches of one teacher in one dataset root: queue, submit, resume, poll, collect, delete."""

    def __init__(self, ledger: Ledger, teacher: str, tcfg: TeacherConfig, client: BatchClient, data_root: Path):
        self.ledger, self.teacher, self.tcfg, self.client = ledger, teacher, tcfg, client
        self.data_root = data_root
        self.folder = data_root / "batches"
        self.result = RunResult()
        self.room_factor = 1.0  # halved after each token_limit_exceeded in this run

    # -- building the JSONL ---------------------------------------------------------------------
    def _line(self, item: J.Item, request: TeacherRequest) -> str:
        image = image_part_from_path(self.data_root / item.image) if item.image else None
        body = {"model": api_model(self.tcfg.model), "messages": messages_with_image(request.messages, image),
                **request.params}
        return json.dumps({"custom_id": item.request_id, "method": "POST", "url": "/v1/chat/completions",
                           "body": body}, ensure_ascii=False) + "\n"

    def _requests(self, ids: list[str]) -> dict[str, TeacherRequest]:
        return self.ledger.requests_by_id(ids)

    def _write_files(self, group: Group) -> list[tuple[Path, list[J.Item]]]:
        """Stream a group's lines into JSONL files of at most MAX_FILE_BYTES each."""
        reqs = self._requests([i.request_id for i in group.items])
        self.folder.mkdir(parents=True, exist_ok=True)
        out, handle, size, items, path = [], None, 0, [], None
        for item in group.items:
            try:
                line = self._line(item, reqs[item.request_id]).encode()
            except (OSError, ValueError) as exc:  # the page went missing or bad since it was queued
                self.ledger.record(TeacherResponse(request_id=item.request_id, status="failed",
                                                   error=f"batch: page not readable: {exc}"[:500]))
                self.result.failed += 1
                continue
            if handle is None or (items and size + len(line) > MAX_FILE_BYTES):
                if handle is not None:
                    handle.close()
                    out.append((path, items))
                path = self.folder / f"gemflow-{uuid.uuid4().hex}.jsonl.tmp"
                handle, size, items = path.open("wb"), 0, []
            handle.write(line)
            size += len(line)
            items.append(item)
        if handle is not None:
            handle.close()
            out.append((path, items))
        return out

    # -- submitting -----------------------------------------------------------------------------
    def submit(self, tmp: Path, items: list[J.Item]) -> str:
        """Journal an intent for a written JSONL, then upload it and create its batch; returns the batch id."""
        key = tmp.name.removeprefix("gemflow-").split(".")[0]
        path = self.folder / f"gemflow-{key}.jsonl"
        os.replace(tmp, path)
        detail = J.BatchDetail(items=items, key=key, since=time.time())
        self.ledger.batch_upsert(J.INTENT + key, self.teacher, "uploading", detail=detail.dump())
        return self.finish_intent(J.INTENT + key, None, detail, resumed=False)

    def finish_intent(self, intent: str, file_id: str | None, detail: J.BatchDetail, *, resumed: bool) -> str:
        """Upload (unless done) and create (unless created) an intent's batch; idempotent after a crash."""
        key, items = detail.key, detail.items
        path = self.folder / f"gemflow-{key}.jsonl"
        if file_id is None and resumed:
            file_id = self.client.find_recent_file(path.name, detail.since)
        if file_id is None:
            file_id = self.client.upload(path.name, path.read_bytes())
        J.note_file(self.ledger, self.teacher, file_id, "input", intent)
        self.ledger.batch_upsert(intent, self.teacher, "creating", input_file_id=file_id)
        batch = (self.client.find_batch(key, detail.since) if resumed else None) or self.client.create(file_id, key)
        tokens = sum(i.tokens for i in items)
        self.ledger.batch_upsert(batch.id, self.teacher, "in_progress" if batch.status in TERMINAL else batch.status,
                                 input_file_id=file_id, detail=J.BatchDetail(items=items, key=key, tokens=tokens).dump())
        J.note_file(self.ledger, self.teacher, file_id, "input", batch.id)
        self.ledger.set_batch([i.request_id for i in items], batch.id)
        self.ledger.batch_upsert(intent, self.teacher, "completed", detail=replace(detail, batch_id=batch.id).dump())
        path.unlink(missing_ok=True)
        self.result.sent += len(items)
        log.info("teacher %s: batch %s holds %d requests, ~%d prompt tokens", self.teacher, batch.id, len(items), tokens)
        return batch.id

    def resume_intents(self) -> None:
        for row in J.open_rows(self.ledger, self.teacher, J.INTENT):
            self._step(self.finish_intent, row.batch_id, row.input_file_id, row.detail, resumed=True)

    def _step(self, fn, *args, **kwargs):
        """One provider step; a transient failure is logged and left to the next tick (the journal holds it)."""
        try:
            return fn(*args, **kwargs)
        except CLIENT_ERRORS as exc:
            if not is_transient(exc):
                raise
            log.warning("teacher %s: batch step %s failed (%s); the next poll takes it again",
                        self.teacher, getattr(fn, "__name__", fn), type(exc).__name__)
            return None

    def queued(self) -> tuple[list[J.Item], list[J.BatchRow]]:
        """Queued items not done and not in a batch (first queued first), and the queue rows holding them."""
        rows = J.open_rows(self.ledger, self.teacher, J.QUEUE)
        busy = J.busy_ids(self.ledger, self.teacher)
        items = {i.request_id: i for row in rows for i in row.detail.items if i.request_id not in busy}
        states = self.ledger.states(items)
        return [i for rid, i in items.items() if states.get(rid) not in ("done", None)], rows

    def room(self) -> tuple[int, int]:
        """(tokens free under batch_enqueued_tokens, open batches) over this teacher's open batches."""
        rows = J.open_rows(self.ledger, self.teacher) + J.open_rows(self.ledger, self.teacher, J.INTENT)
        used = sum(sum(i.tokens for i in r.detail.items) for r in rows)
        return int(self.tcfg.batch_enqueued_tokens * self.room_factor) - used, len(rows)

    def pump(self, *, full_only: bool) -> int:
        """Submit one wave from the queue; with `full_only`, only batches a cap closed. Returns requests sent."""
        items, rows = self.queued()
        room, n_open = self.room()
        groups = pack(items, room, self.tcfg.batch_max_requests, open_batches=n_open)
        sent: set[str] = set()
        for group in groups:
            if full_only and not group.full:
                break
            for tmp, part in self._write_files(group):
                if self._step(self.submit, tmp, part) is not None:
                    sent.update(i.request_id for i in part)
        self._shrink_queue(rows, sent)
        return len(sent)

    def _shrink_queue(self, rows: list[J.BatchRow], sent: set[str]) -> None:
        busy = J.busy_ids(self.ledger, self.teacher)
        for row in rows:
            before = row.detail.items
            left = [i for i in before if i.request_id not in sent and i.request_id not in busy]
            if not left:
                self.ledger.batch_upsert(row.batch_id, self.teacher, "collected")
            elif len(left) < len(before):
                self.ledger.batch_upsert(row.batch_id, self.teacher, "queued", detail=J.BatchDetail(items=left).dump())

    # -- polling and collecting -------------------------------------------------------------------
    def collect(self, batch, row: J.BatchRow) -> None:
        """Journal a finished batch's answers; unanswered requests go back to the queue or fail with a reason."""
        for fid, kind in ((batch.output_file_id, "output"), (batch.error_file_id, "error")):
            J.note_file(self.ledger, self.teacher, fid, kind, batch.id)
        ids = set(self.ledger.batch_requests(batch.id))
        texts = [self.client.content(f) for f in (batch.output_file_id, batch.error_file_id) if f]
        responses = responses_of(texts, ids, self.tcfg)
        missing = sorted(ids - {r.request_id for r in responses})
        back, failed = unanswered_outcome(batch, missing)
        responses += failed
        self.ledger.record_many(responses)
        if back:
            by_id = {i.request_id: i for i in row.detail.items}
            J.add_queue(self.ledger, self.teacher, [by_id[r] for r in back if r in by_id])
            self.ledger.return_to_pending(back)  # not failed, no attempt, not a crash resend
            if batch.status == "failed":  # token_limit_exceeded: the provider's room is smaller than configured
                self.room_factor /= 2
            log.warning("teacher %s: batch %s %s; %d requests back in the queue", self.teacher, batch.id,
                        batch.status, len(back))
        self.result.done += sum(r.status == "ok" for r in responses)
        self.result.failed += sum(r.status != "ok" for r in responses)
        self.result.spent_usd += sum(r.cost_usd for r in responses)
        self.ledger.batch_upsert(batch.id, self.teacher, "collected", detail=replace(
            row.detail, final_status=batch.status, answered=len(ids) - len(missing), requeued=len(back)).dump())

    def poll(self) -> int:
        """Poll every open batch once and collect the finished ones; returns the requests still in batches."""
        waiting = 0
        for row in J.open_rows(self.ledger, self.teacher):
            batch = self._step(self.client.retrieve, row.batch_id)
            if batch is not None and batch.status in TERMINAL:
                self.collect(batch, row)
                continue
            if batch is not None and batch.status != row.status:
                self.ledger.batch_upsert(batch.id, self.teacher, batch.status)
            waiting += len(self.ledger.batch_requests(row.batch_id))
        return waiting

    def delete_files(self) -> None:
        """Delete every journaled file whose batch is collected (or whose intent was abandoned)."""
        open_ids = {r["batch_id"] for r in self.ledger.batch_open(self.teacher)}
        for row in J.open_rows(self.ledger, self.teacher, J.FILE):
            if row.detail.owner in open_ids:
                continue
            if self._step(self.client.delete, row.input_file_id) is not None:
                J.mark_deleted(self.ledger, self.teacher, row.input_file_id)

    def waiting(self) -> int:
        """Requests queued, in an unfinished intent, or in an open batch (not done)."""
        queued, _ = self.queued()
        busy = J.busy_ids(self.ledger, self.teacher)
        states = self.ledger.states(busy)
        return len(queued) + sum(states.get(rid) != "done" for rid in busy)

    def reserved_usd(self) -> float:
        rows = (J.open_rows(self.ledger, self.teacher, J.QUEUE) + J.open_rows(self.ledger, self.teacher)
                + J.open_rows(self.ledger, self.teacher, J.INTENT))
        return sum(i.est_usd for r in rows for i in r.detail.items)


# -- entry points (the teacher façade and the generate flow call these) ---------------------------------
def _item(req: TeacherRequest, ctx: RecordContext | None, tcfg: TeacherConfig, data_root: Path) -> J.Item:
    tokens = prompt_tokens(req.messages)
    image = None
    path = page_path(ctx, data_root) if tcfg.vision and ctx is not None else None
    if path is not None:
        tokens += image_tokens(*page_size(path))
        image = str(path.relative_to(data_root)) if path.is_relative_to(data_root) else str(path)
    return J.Item(req.request_id, image, tokens, estimate_cost(tcfg, tokens, batch=True))


def _run(ledger: Ledger, teacher: str, tcfg: TeacherConfig, api_key: str | None, data_root) -> BatchRun:
    root = Path(data_root) if data_root is not None else ledger.path.parent
    return BatchRun(ledger, teacher, tcfg, BatchClient(teacher, tcfg, api_key), root)


def _too_big(item: J.Item, tcfg: TeacherConfig) -> TeacherResponse:
    return TeacherResponse(request_id=item.request_id, status="failed", error=(
        f"batch: the prompt's ~{item.tokens} tokens exceed batch_enqueued_tokens ({tcfg.batch_enqueued_tokens});"
        " raise it to your tier's batch queue limit, or send this teacher with batch: false"))


def submit_batches(todo: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig, *,
                   budget_usd: float | None = None, api_key: str | None = None, data_root=None) -> RunResult:
    """Queue the requests not queued, batched or done (within the budget); submit the batches already full."""
    run = _run(ledger, teacher, tcfg, api_key, data_root)
    run.resume_intents()
    held = J.open_request_ids(ledger, teacher)
    states = ledger.states(r.request_id for r, _ in todo)
    fresh, refused = [], []
    for req, ctx in todo:
        if req.request_id in held or states.get(req.request_id) == "done":
            continue
        try:
            fresh.append(_item(req, ctx, tcfg, run.data_root))
        except (OSError, ValueError) as exc:  # a missing or unreadable page: this request fails, not the shard
            refused.append(TeacherResponse(request_id=req.request_id, status="failed",
                                           error=f"batch: page not readable: {exc}"[:500]))
    too_big = [i for i in fresh if i.tokens > tcfg.batch_enqueued_tokens]
    refused += [_too_big(i, tcfg) for i in too_big]
    if refused:
        ledger.record_many(refused)
        run.result.failed += len(refused)
    budget = Budget(budget_usd, spent_usd=ledger.spent_usd(), reserved_usd=run.reserved_usd())
    kept = []
    for item in (i for i in fresh if i.tokens <= tcfg.batch_enqueued_tokens):
        if not budget.try_reserve(item.est_usd):
            run.result.not_sent_budget = len(fresh) - len(too_big) - len(kept)
            run.result.message = budget.stop_message(item.est_usd, run.result.not_sent_budget)
            log.warning("teacher %s: %s", teacher, run.result.message)
            break
        kept.append(item)
    J.add_queue(ledger, teacher, kept)
    run.pump(full_only=True)
    run.result.waiting_in_batch = run.waiting()
    return run.result


def wait_for_batches(ledger: Ledger, teacher: str, tcfg: TeacherConfig, *, api_key: str | None = None,
                     data_root=None, wait_s: float | None = None, sleep=time.sleep,
                     clock=time.monotonic) -> RunResult:
    """Every `batch_poll_s`: resume, poll, collect, delete files, submit the next wave; until nothing waits
    or `wait_s` has passed (what is left resumes on the next run)."""
    run = _run(ledger, teacher, tcfg, api_key, data_root)
    deadline = clock() + (tcfg.batch_wait_s if wait_s is None else wait_s)
    while True:
        run.resume_intents()
        run.poll()
        run.delete_files()
        run.pump(full_only=False)
        run.result.waiting_in_batch = run.waiting()
        if not run.result.waiting_in_batch or clock() >= deadline:
            run.delete_files()
            return run.result
        sleep(min(tcfg.batch_poll_s, max(0.0, deadline - clock())))


def settle_open_batches(ledger: Ledger, teacher: str, tcfg: TeacherConfig, *, api_key: str | None = None,
                        data_root=None) -> RunResult:
    """For a teacher now sent synchronously: collect its finished batches, cancel the rest (collecting what
    they answered, the unanswered back to pending), drop its queue and intents, delete its files.

    Requests of a batch still `cancelling` stay in `open_request_ids`: the caller must not send them.
    """
    run = _run(ledger, teacher, tcfg, api_key, data_root)
    for row in J.open_rows(ledger, teacher, J.INTENT):
        batch = run.client.find_batch(row.detail.key, row.detail.since) if row.input_file_id else None
        if batch is not None:  # created before a crash: handle it as the open batch it is
            run.finish_intent(row.batch_id, row.input_file_id, row.detail, resumed=True)
        else:
            fid = row.input_file_id or run.client.find_recent_file(f"gemflow-{row.detail.key}.jsonl", row.detail.since)
            J.note_file(ledger, teacher, fid, "input", row.batch_id)
            ledger.batch_upsert(row.batch_id, teacher, "cancelled")
            (run.folder / f"gemflow-{row.detail.key}.jsonl").unlink(missing_ok=True)
    for row in J.open_rows(ledger, teacher):
        batch = run.client.retrieve(row.batch_id)
        if batch.status not in TERMINAL and batch.status != "cancelling":
            batch = run.client.cancel(row.batch_id)
        if batch.status in TERMINAL:
            run.collect(batch, row)
        else:
            ledger.batch_upsert(batch.id, teacher, batch.status)
    back = [row for row in J.open_rows(ledger, teacher, J.QUEUE)]
    for row in back:
        ledger.batch_upsert(row.batch_id, teacher, "collected", detail=replace(row.detail, dropped="sync").dump())
    run.delete_files()
    run.result.waiting_in_batch = len(J.busy_ids(ledger, teacher))
    return run.result
