"""OpenAI Batch API mode: JSONL upload, batch, poll, collect; journaled so a crash never pays for a second batch.

Every step is in the ledger before the next one is taken:
1. the JSONL is written under `<data>/batches/` and an *intent* row (`intent-<key>`: request ids,
   estimated cost) is committed;
2. the file is uploaded as `gemflow-<key>.jsonl` (a resumed intent first looks for that name);
3. the batch is created with `metadata.gemflow_key = <key>` (a resumed intent first looks for it),
   and its id is committed at once, then the requests are marked sent in it;
4. polls update its status; a finished batch's output and error files go into the ledger, then the
   batch is marked `collected`. Requests an expired batch did not answer are sent in a new batch.
A crash anywhere resumes from the ledger: an intent finds its file and batch by name and key, an
open batch is polled by its stored id. No step creates a second batch for the same requests.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
from pathlib import Path

import openai

from schemas.config import TeacherConfig
from schemas.teacher import TeacherResponse
from storage import atomic
from storage.ledger import Ledger
from tasks.teachers.cost import Budget, estimate_cost, prompt_tokens, tokens_cost
from tasks.teachers.llm import CLIENT_ERRORS, LlmTeacher, is_transient, parse_message, retry_after_s
from tasks.teachers.runner import RunResult, Work, backoff_s

log = logging.getLogger("gemflow.teachers.batch")
INTENT = "intent-"
TERMINAL = ("completed", "failed", "expired", "cancelled")
MAX_FILE_BYTES = 190 * 1024 * 1024  # OpenAI accepts 200 MB per input file


def api_model(model: str) -> str:
    """The model name the Batch API expects: litellm's `openai/` prefix removed; other providers refused."""
    provider, sep, name = model.partition("/")
    if not sep:
        return model
    if provider == "openai":
        return name
    raise ValueError(f"batch mode needs an OpenAI-compatible Batch API; model {model!r} is not an openai/ model")


class BatchClient:
    """The OpenAI files and batches endpoints, each call retried here only (the SDK's retries are off)."""

    def __init__(self, tcfg: TeacherConfig, api_key: str | None, sleep=time.sleep):
        key = api_key or "EMPTY"
        self.tcfg = tcfg
        self.client = openai.OpenAI(base_url=tcfg.api_base or None, api_key=key, max_retries=0, timeout=tcfg.timeout_s)
        self._sleep = sleep
        self._rng = random.Random()

    def _call(self, fn, *args, **kwargs):
        for attempt in range(1, self.tcfg.max_attempts + 1):
            try:
                return fn(*args, **kwargs)
            except CLIENT_ERRORS as exc:
                if not is_transient(exc) or attempt == self.tcfg.max_attempts:
                    raise
                wait = retry_after_s(exc)
                self._sleep(wait if wait is not None else backoff_s(self.tcfg, attempt, self._rng))
        raise AssertionError("unreachable")

    def find_file(self, filename: str) -> str | None:
        for f in self._call(self.client.files.list, purpose="batch"):
            if f.filename == filename:
                return f.id
        return None

    def upload(self, filename: str, content: bytes) -> str:
        return self._call(self.client.files.create, file=(filename, content), purpose="batch").id

    def find_batch(self, key: str, since: float):
        for b in self._call(self.client.batches.list, limit=100):
            if (b.metadata or {}).get("gemflow_key") == key:
                return b
            if b.created_at < since - 3600:
                break
        return None

    def create(self, file_id: str, key: str):
        return self._call(self.client.batches.create, input_file_id=file_id, endpoint="/v1/chat/completions",
                          completion_window="24h", metadata={"gemflow_key": key})

    def retrieve(self, batch_id: str):
        return self._call(self.client.batches.retrieve, batch_id)

    def content(self, file_id: str) -> str:
        return self._call(self.client.files.content, file_id).text


def batch_lines(work: list[Work], teacher: LlmTeacher) -> list[str]:
    """One JSONL line per request: custom_id = request_id, the body a plain chat completion."""
    model = api_model(teacher.config.model)
    return [json.dumps({"custom_id": req.request_id, "method": "POST", "url": "/v1/chat/completions",
                        "body": {"model": model, "messages": teacher.messages(req, ctx), **req.params}},
                       ensure_ascii=False) + "\n" for req, ctx in work]


def response_from_line(line: dict, tcfg: TeacherConfig) -> TeacherResponse:
    """A ledger outcome from one output- or error-file line; empty or truncated answers are failures."""
    rid = line["custom_id"]
    resp = line.get("response") or {}
    body = resp.get("body") or {}
    if line.get("error") or resp.get("status_code") != 200:
        err = line.get("error") or body.get("error") or {"status_code": resp.get("status_code")}
        return TeacherResponse(request_id=rid, status="failed", error=f"batch: {json.dumps(err)[:500]}")
    choice = body["choices"][0]
    text, reasoning, finish = parse_message(choice["message"], choice.get("finish_reason"))
    usage = body.get("usage") or {}
    n_in, n_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cost = tokens_cost(tcfg, n_in, n_out, batch=True)
    problem = "empty output" if not text.strip() else "output truncated at max_tokens" if finish == "length" else None
    return TeacherResponse(request_id=rid, status="failed" if problem else "ok", text=text, reasoning=reasoning,
                           finish_reason=finish, input_tokens=n_in, output_tokens=n_out, cost_usd=cost,
                           error=f"batch: {problem}" if problem else None)


class BatchRun:
    """The batches of one teacher in one dataset root: submit, resume, poll and collect."""

    def __init__(self, ledger: Ledger, teacher: str, tcfg: TeacherConfig, client: BatchClient, folder: Path):
        self.ledger = ledger
        self.teacher = teacher
        self.tcfg = tcfg
        self.client = client
        self.folder = folder
        self.result = RunResult()

    def _jsonl_path(self, key: str) -> Path:
        return self.folder / f"gemflow-{key}.jsonl"

    def submit(self, lines: list[str], ids: list[str], est_usd: float) -> str:
        """Journal an intent, write its JSONL, then upload and create (see `finish_intent`); returns the batch id."""
        key = uuid.uuid4().hex
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._jsonl_path(key)
        atomic.write_text(path, "".join(lines))
        detail = {"key": key, "request_ids": ids, "est_usd": est_usd, "since": time.time()}
        self.ledger.batch_upsert(INTENT + key, self.teacher, "uploading", detail=detail)
        return self.finish_intent(INTENT + key, None, detail)

    def finish_intent(self, intent: str, file_id: str | None, detail: dict) -> str:
        """Upload (unless already there) and create (unless already created) an intent's batch; idempotent."""
        key, ids = detail["key"], detail["request_ids"]
        name = self._jsonl_path(key).name
        file_id = file_id or self.client.find_file(name)
        if file_id is None:
            file_id = self.client.upload(name, self._jsonl_path(key).read_bytes())
            self.ledger.batch_upsert(intent, self.teacher, "creating", input_file_id=file_id)
        batch = self.client.find_batch(key, detail["since"]) or self.client.create(file_id, key)
        self.ledger.batch_upsert(batch.id, self.teacher, batch.status if batch.status not in TERMINAL else "in_progress",
                                 input_file_id=file_id, detail={"key": key, "est_usd": detail["est_usd"]})
        self.ledger.set_batch(ids, batch.id)
        self.ledger.batch_upsert(intent, self.teacher, "completed", detail={**detail, "batch_id": batch.id})
        self._jsonl_path(key).unlink(missing_ok=True)
        log.info("teacher %s: batch %s holds %d requests", self.teacher, batch.id, len(ids))
        return batch.id

    def resume_intents(self) -> None:
        for row in self.ledger.batch_open(self.teacher):
            if row["batch_id"].startswith(INTENT):
                self.finish_intent(row["batch_id"], row["input_file_id"], row["detail"])

    def open_batches(self) -> list[dict]:
        return [r for r in self.ledger.batch_open(self.teacher) if not r["batch_id"].startswith(INTENT)]

    def collect(self, batch) -> None:
        """Write a finished batch's answers and errors into the ledger, then mark it collected."""
        ids = set(self.ledger.batch_requests(batch.id))
        responses = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                for raw in self.client.content(file_id).splitlines():
                    if raw.strip():
                        line = json.loads(raw)
                        if line.get("custom_id") in ids:
                            responses.append(response_from_line(line, self.tcfg))
        answered = {r.request_id for r in responses}
        if batch.status == "failed":
            why = json.dumps(batch.errors.model_dump() if batch.errors else None)[:500]
            responses += [TeacherResponse(request_id=rid, status="failed", error=f"batch failed: {why}")
                          for rid in sorted(ids - answered)]
        self.ledger.record_many(responses)
        self.result.done += sum(r.status == "ok" for r in responses)
        self.result.failed += sum(r.status != "ok" for r in responses)
        self.result.spent_usd += sum(r.cost_usd for r in responses)
        self.ledger.batch_upsert(batch.id, self.teacher, "collected",
                                 detail={"final_status": batch.status, "answered": len(answered), "sent": len(ids)})

    def poll(self) -> int:
        """Poll every open batch once and collect the finished ones; returns the requests still waiting."""
        waiting = 0
        for row in self.open_batches():
            batch = self.client.retrieve(row["batch_id"])
            if batch.status in TERMINAL:
                self.collect(batch)
            else:
                self.ledger.batch_upsert(batch.id, self.teacher, batch.status)
                waiting += len(self.ledger.batch_requests(batch.id))
        return waiting

    def reserved_usd(self) -> float:
        return sum(float(r["detail"].get("est_usd") or 0) for r in self.ledger.batch_open(self.teacher))


def _chunks(work: list[Work], lines: list[str], tcfg: TeacherConfig):
    start, size = 0, 0
    for i, line in enumerate(lines):
        if i > start and (i - start >= tcfg.batch_max_requests or size + len(line.encode()) > MAX_FILE_BYTES):
            yield work[start:i], lines[start:i]
            start, size = i, 0
        size += len(line.encode())
    if start < len(lines):
        yield work[start:], lines[start:]


def _affordable(run: BatchRun, fresh: list[Work], budget_usd: float | None) -> tuple[list[Work], list[float]]:
    budget = Budget(budget_usd, spent_usd=run.ledger.spent_usd(), reserved_usd=run.reserved_usd())
    kept, costs = [], []
    for req, ctx in fresh:
        est = estimate_cost(run.tcfg, prompt_tokens(req.messages, images=int(run.tcfg.vision)), batch=True)
        if not budget.try_reserve(est):
            run.result.not_sent_budget = len(fresh) - len(kept)
            run.result.message = budget.stop_message(est, run.result.not_sent_budget)
            log.warning("teacher %s: %s", run.teacher, run.result.message)
            break
        kept.append((req, ctx))
        costs.append(est)
    return kept, costs


def _batch_run(ledger: Ledger, teacher: str, tcfg: TeacherConfig, api_key: str | None, data_root) -> BatchRun:
    root = Path(data_root) if data_root is not None else ledger.path.parent
    return BatchRun(ledger, teacher, tcfg, BatchClient(tcfg, api_key), root / "batches")


def submit_batches(todo: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig, *,
                   budget_usd: float | None = None, api_key: str | None = None, data_root=None) -> RunResult:
    """Resume half-made batches, batch the requests not in any open batch, poll once. Does not wait."""
    run = _batch_run(ledger, teacher, tcfg, api_key, data_root)
    run.resume_intents()
    busy = {rid for row in run.open_batches() for rid in ledger.batch_requests(row["batch_id"])}
    states = ledger.states(r.request_id for r, _ in todo)
    fresh = [(r, c) for r, c in todo if r.request_id not in busy and states.get(r.request_id) != "done"]
    kept, costs = _affordable(run, fresh, budget_usd)
    impl = LlmTeacher(teacher, tcfg, api_key=api_key, data_root=data_root or ledger.path.parent)
    lines = batch_lines(kept, impl)
    offset = 0
    for work, chunk in _chunks(kept, lines, tcfg):
        run.submit(chunk, [r.request_id for r, _ in work], sum(costs[offset:offset + len(work)]))
        offset += len(work)
        run.result.sent += len(work)
    run.result.waiting_in_batch = run.poll()
    return run.result


def wait_for_batches(ledger: Ledger, teacher: str, tcfg: TeacherConfig, *, api_key: str | None = None,
                     data_root=None, wait_s: float | None = None, sleep=time.sleep,
                     clock=time.monotonic) -> RunResult:
    """Poll the teacher's open batches every `batch_poll_s` until none is open or `wait_s` has passed."""
    run = _batch_run(ledger, teacher, tcfg, api_key, data_root)
    run.resume_intents()
    deadline = clock() + (tcfg.batch_wait_s if wait_s is None else wait_s)
    while True:
        run.result.waiting_in_batch = run.poll()
        if not run.result.waiting_in_batch or clock() >= deadline:
            return run.result
        sleep(min(tcfg.batch_poll_s, max(0.0, deadline - clock())))
