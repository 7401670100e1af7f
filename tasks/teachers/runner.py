"""Send a shard's teacher requests exactly once: async workers, paced by the limiter, journaled in the ledger.

For each request, in order:
1. the budget: its worst-case cost (prompt tokens + max_tokens) must fit, or no further request starts;
2. the ledger: `mark_sent` commits (fsync) before the bytes leave;
3. per attempt, the gate (the cross-process cap) and the limiter (RPM + TPM, in-process and precise);
4. the call, retried here and only here on transient errors (429, 5xx, timeouts, truncated or empty
   output), honouring Retry-After; attempts are counted;
5. the ledger: `record` commits the outcome (text, reasoning, tokens, cost, attempts).
A crash between 2 and 5 leaves the row `sent`: the next run sends it again once and the ledger
counts it (`Ledger.resent`). A `done` row is never sent again.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Coroutine

from schemas.config import TeacherConfig
from schemas.teacher import RecordContext, TeacherRequest, TeacherResponse
from storage.ledger import Ledger
from tasks.teachers.cost import Budget, estimate_cost, prompt_tokens
from tasks.teachers.limiter import Gate, NoGate, RateLimiter
from tasks.teachers.llm import CLIENT_ERRORS, BadOutput, LlmTeacher, is_transient, retry_after_s

log = logging.getLogger("gemflow.teachers")
Work = tuple[TeacherRequest, RecordContext]


@dataclass
class RunResult:
    """What one run of the runner did; `message` explains a budget stop."""

    sent: int = 0
    done: int = 0
    failed: int = 0
    attempts: int = 0
    rate_limited: int = 0
    not_sent_budget: int = 0
    waiting_in_batch: int = 0
    spent_usd: float = 0.0
    message: str = ""
    errors: dict[str, int] = field(default_factory=dict)


def run_sync(coro: Coroutine) -> Any:
    """Run a coroutine to completion from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}
    context = contextvars.copy_context()  # Prefect's settings and run context travel with the call

    def target() -> None:
        try:
            box["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="gemflow-teacher-loop")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def backoff_s(tcfg: TeacherConfig, attempt: int, rng: random.Random) -> float:
    """Exponential back-off with jitter: base x 2^(attempt-1), capped, times U(0.5, 1)."""
    return min(tcfg.retry_max_s, tcfg.retry_base_s * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


class Asker:
    """The one retry layer: paces each attempt, retries transient failures, counts attempts."""

    def __init__(self, teacher: LlmTeacher, limiter: RateLimiter, gate: Gate, seed: int | None = None):
        self.teacher = teacher
        self.tcfg = teacher.config
        self.limiter = limiter
        self.gate = gate
        self.rng = random.Random(seed)
        self.errors: dict[str, int] = {}

    async def _attempt(self, req: TeacherRequest, ctx: RecordContext | None, est_tokens: int):
        await self.gate.admit(est_tokens)  # the shared cap first: a wait there must not skew local pacing
        await self.limiter.acquire(est_tokens)
        try:
            completion = await self.teacher.acall(req, ctx)
        except BadOutput as exc:
            used = exc.completion.input_tokens + exc.completion.output_tokens
            self.limiter.settle(est_tokens, used)
            self.gate.settle(est_tokens, used)
            raise
        except CLIENT_ERRORS:
            self.limiter.settle(est_tokens, est_tokens)
            self.gate.settle(est_tokens, est_tokens)
            raise
        used = completion.input_tokens + completion.output_tokens
        self.limiter.settle(est_tokens, used)
        self.gate.settle(est_tokens, used)
        return completion

    async def ask(self, req: TeacherRequest, ctx: RecordContext | None, est_tokens: int) -> TeacherResponse:
        start, cost, last = time.perf_counter(), 0.0, ""
        for attempt in range(1, self.tcfg.max_attempts + 1):
            try:
                c = await self._attempt(req, ctx, est_tokens)
            except BadOutput as exc:
                cost += exc.completion.cost_usd  # a billed answer we cannot use
                last, wait = str(exc), backoff_s(self.tcfg, attempt, self.rng)
            except CLIENT_ERRORS as exc:
                last = self.teacher.redact(f"{type(exc).__name__}: {exc}")[:500]
                if not is_transient(exc):
                    return self._failed(req, attempt, cost, start, last)
                ra = retry_after_s(exc)
                if getattr(exc, "status_code", None) == 429:
                    self.limiter.on_rate_limited(ra, backoff_s(self.tcfg, attempt, self.rng))
                    wait = 0.0  # the limiter holds everyone until Retry-After has passed
                else:
                    wait = ra if ra is not None else backoff_s(self.tcfg, attempt, self.rng)
            else:
                self.limiter.on_success()
                return TeacherResponse(
                    request_id=req.request_id, status="ok", text=c.text, reasoning=c.reasoning,
                    finish_reason=c.finish_reason, input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                    cost_usd=cost + c.cost_usd, latency_s=time.perf_counter() - start, attempts=attempt)
            kind = last.split(":")[0]
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if attempt < self.tcfg.max_attempts and wait > 0:
                await asyncio.sleep(wait)
        return self._failed(req, self.tcfg.max_attempts, cost, start, f"{last} (after {self.tcfg.max_attempts} attempts)")

    @staticmethod
    def _failed(req: TeacherRequest, attempts: int, cost: float, start: float, error: str) -> TeacherResponse:
        return TeacherResponse(request_id=req.request_id, status="failed", error=error, attempts=attempts,
                               cost_usd=cost, latency_s=time.perf_counter() - start)


class ShardRun:
    """Workers (up to max_concurrency) that take requests from a queue, within the budget, journaling each."""

    def __init__(self, asker: Asker, ledger: Ledger, budget: Budget):
        self.asker = asker
        self.tcfg = asker.tcfg
        self.ledger = ledger
        self.budget = budget
        self.result = RunResult()
        self.queue: deque[Work] = deque()
        self.stopped = False

    def _estimate(self, req: TeacherRequest) -> tuple[int, float]:
        n_prompt = prompt_tokens(req.messages, images=int(self.tcfg.vision))
        return n_prompt + self.tcfg.max_tokens, estimate_cost(self.tcfg, n_prompt)

    async def _one(self, req: TeacherRequest, ctx: RecordContext) -> None:
        est_tokens, est_cost = self._estimate(req)
        if not self.budget.try_reserve(est_cost):
            self.stopped = True
            self.result.not_sent_budget += 1 + len(self.queue)
            self.result.message = self.budget.stop_message(est_cost, 1 + len(self.queue))
            self.queue.clear()
            return
        self.ledger.mark_sent(req.request_id)
        self.result.sent += 1
        try:
            resp = await self.asker.ask(req, ctx, est_tokens)
        finally:
            self.budget.settle(est_cost, 0.0)
        self.budget.settle(0.0, resp.cost_usd)
        self.ledger.record(resp)
        self.result.attempts += resp.attempts
        self.result.spent_usd += resp.cost_usd
        self.result.done += resp.status == "ok"
        self.result.failed += resp.status != "ok"

    async def _worker(self) -> None:
        async with self.asker.gate.worker():
            while self.queue and not self.stopped:
                await self._one(*self.queue.popleft())

    async def run(self, todo: list[Work]) -> RunResult:
        self.queue.extend(todo)
        tasks = [asyncio.create_task(self._worker()) for _ in range(min(self.tcfg.max_concurrency, len(todo)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        self.result.rate_limited = self.asker.limiter.rate_limited
        self.result.errors = dict(self.asker.errors)
        return self.result


def run_llm_requests(todo: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig, *,
                     budget_usd: float | None = None, api_key: str | None = None, data_root=None,
                     gate: Gate | None = None, limiter: RateLimiter | None = None) -> RunResult:
    """Send the requests not done yet (sync API; the async work runs on its own event loop)."""
    root = data_root if data_root is not None else ledger.path.parent
    if tcfg.batch:
        from tasks.teachers.batch import submit_batches
        return submit_batches(todo, ledger, teacher, tcfg, budget_usd=budget_usd, api_key=api_key, data_root=root)
    if not todo:
        return RunResult()
    impl = LlmTeacher(teacher, tcfg, api_key=api_key, data_root=root)
    asker = Asker(impl, limiter or RateLimiter(tcfg.rpm, tcfg.tpm), gate or NoGate())
    run = ShardRun(asker, ledger, Budget(budget_usd, spent_usd=ledger.spent_usd()))
    result = run_sync(run.run(todo))
    if result.message:
        log.warning("teacher %s: %s", teacher, result.message)
    return result


def ask_once(teacher: LlmTeacher, request: TeacherRequest, ctx: RecordContext | None) -> TeacherResponse:
    """One request with retries and pacing but no ledger or budget (`gemflow interpret`)."""
    tcfg = teacher.config
    asker = Asker(teacher, RateLimiter(tcfg.rpm, tcfg.tpm), NoGate())
    est = prompt_tokens(request.messages, images=int(tcfg.vision)) + tcfg.max_tokens
    return run_sync(asker.ask(request, ctx, est))
