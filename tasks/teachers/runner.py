"""Send a shard's teacher requests exactly once: async workers, paced by the limiter, journaled in the ledger.

For each request, in order:
1. the budget: its worst-case cost (prompt tokens + max_tokens) must fit, or no further request starts;
2. the ledger: `mark_sent` commits (fsync) before the bytes leave;
3. per attempt, the gate (the cross-process cap) and the limiter (RPM + TPM, in-process and precise);
4. the call, retried here and only here on transient errors (429, 5xx, timeouts, truncated or empty
   output), honouring Retry-After; attempts are counted;
5. the ledger: `record` commits the outcome (text, reasoning, tokens, cost, attempts).
A crash between 2 and 5 leaves the row `sent`: the next run sends it again once and the ledger
counts it (`Ledger.resent`). A `done` row is never sent again. An account-wide refusal (401, 402,
403, insufficient_quota, model_not_found) stops the run: the rows go back to `pending`.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
from collections import deque
from typing import Any, Coroutine

from schemas.config import TeacherConfig
from schemas.teacher import RecordContext, TeacherRequest, TeacherResponse
from storage.ledger import Ledger
from tasks.teachers.cost import Budget, estimate_cost, prompt_tokens
from tasks.teachers.limiter import Gate, NoGate, RateLimiter
from tasks.teachers.llm import LlmTeacher
from tasks.teachers.policy import (  # noqa: F401  (RunResult, Work, backoff_s: re-exported for older importers)
    CLIENT_ERRORS, AccountError, BadOutput, RunResult, Work, account_error, backoff_s, is_transient,
    next_max_tokens, retry_after_s)

log = logging.getLogger("gemflow.teachers")


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


class Asker:
    """The one retry layer: paces each attempt, retries transient failures, counts attempts.

    An answer cut at max_tokens is retried with a larger limit (policy.next_max_tokens), never at the
    same one; at the ceiling the request fails with that reason. An account-wide refusal raises
    `AccountError` at once.
    """

    def __init__(self, teacher: LlmTeacher, limiter: RateLimiter, gate: Gate, seed: int | None = None):
        self.teacher = teacher
        self.tcfg = teacher.config
        self.limiter = limiter
        self.gate = gate
        self.rng = random.Random(seed)
        self.errors: dict[str, int] = {}

    async def _attempt(self, req: TeacherRequest, ctx: RecordContext | None, est_tokens: int, max_tokens: int):
        await self.gate.admit(est_tokens)  # the shared cap first: a wait there must not skew local pacing
        await self.limiter.acquire(est_tokens)
        used = est_tokens
        try:
            completion = await self.teacher.acall(req, ctx, max_tokens if max_tokens != self.tcfg.max_tokens else None)
            used = completion.input_tokens + completion.output_tokens
            self.limiter.observe(completion.headers)
            return completion
        except BadOutput as exc:
            used = exc.completion.input_tokens + exc.completion.output_tokens
            self.limiter.observe(exc.completion.headers)
            raise
        finally:
            self.limiter.settle(est_tokens, used)
            self.gate.settle(est_tokens, used)

    def _error(self, exc: BaseException) -> str:
        return self.teacher.redact(f"{type(exc).__name__}: {exc}")[:500]

    async def ask(self, req: TeacherRequest, ctx: RecordContext | None, est_tokens: int,
                  attempts: int | None = None) -> TeacherResponse:
        """The response after at most `attempts` attempts (default max_attempts); raises AccountError."""
        start, cost, last = time.perf_counter(), 0.0, ""
        limit = self.tcfg.max_attempts if attempts is None else attempts
        max_tokens = int(req.params.get("max_tokens") or self.tcfg.max_tokens)
        for attempt in range(1, limit + 1):
            est = est_tokens + max_tokens - self.tcfg.max_tokens
            try:
                c = await self._attempt(req, ctx, est, max_tokens)
            except BadOutput as exc:
                cost += exc.completion.cost_usd  # a billed answer we cannot use
                last, wait = str(exc), backoff_s(self.tcfg, attempt, self.rng)
                if exc.truncated:
                    bigger = next_max_tokens(self.tcfg, max_tokens)
                    if bigger is None:
                        return self._failed(req, attempt, cost, start, f"output truncated at max_tokens={max_tokens}"
                                            " (finish_reason=length), the ceiling: not retried at the same limit;"
                                            " raise max_tokens_ceiling", finish="length")
                    last, max_tokens, wait = f"{last}; retried with max_tokens={bigger}", bigger, 0.0
            except CLIENT_ERRORS as exc:
                stop = account_error(exc, self.teacher.name, self.teacher.redact)
                if stop is not None:
                    raise stop from None
                last = self._error(exc)
                if not is_transient(exc):
                    return self._failed(req, attempt, cost, start, last)
                wait = self._transient_wait(exc, attempt)
            else:
                self.limiter.on_success()
                return TeacherResponse(
                    request_id=req.request_id, status="ok", text=c.text, reasoning=c.reasoning,
                    finish_reason=c.finish_reason, input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                    cost_usd=cost + c.cost_usd, latency_s=time.perf_counter() - start, attempts=attempt)
            kind = last.split(":")[0]
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if attempt < limit and wait > 0:
                await asyncio.sleep(wait)
        return self._failed(req, limit, cost, start, f"{last} (after {limit} attempts)")

    def _transient_wait(self, exc: BaseException, attempt: int) -> float:
        ra = retry_after_s(exc)
        if getattr(exc, "status_code", None) == 429:
            self.limiter.on_rate_limited(ra, backoff_s(self.tcfg, attempt, self.rng))
            return 0.0  # the limiter holds everyone until Retry-After has passed
        return ra if ra is not None else backoff_s(self.tcfg, attempt, self.rng)

    @staticmethod
    def _failed(req: TeacherRequest, attempts: int, cost: float, start: float, error: str,
                finish: str | None = None) -> TeacherResponse:
        return TeacherResponse(request_id=req.request_id, status="failed", error=error, attempts=attempts,
                               cost_usd=cost, latency_s=time.perf_counter() - start, finish_reason=finish)


class ShardRun:
    """Workers (up to max_concurrency) that take requests from a queue, within the budget, journaling each.

    An `AccountError` stops every worker: the request that met it and those in flight go back to
    `pending`, the queue is dropped, and the error is raised once all workers have stopped.
    """

    def __init__(self, asker: Asker, ledger: Ledger, budget: Budget, attempts_left: dict[str, int] | None = None):
        self.asker = asker
        self.tcfg = asker.tcfg
        self.ledger = ledger
        self.budget = budget
        self.attempts_left = attempts_left or {}
        self.result = RunResult()
        self.queue: deque[Work] = deque()
        self.stopped = False
        self.account: AccountError | None = None

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
            resp = await self.asker.ask(req, ctx, est_tokens, self.attempts_left.get(req.request_id))
        except AccountError as exc:
            self.ledger.return_to_pending([req.request_id], attempts=1)
            self.account = self.account or exc
            self.stopped = True
            self.queue.clear()
            return
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
        if self.account is not None:
            raise self.account
        return self.result


def run_llm_requests(todo: list[Work], ledger: Ledger, teacher: str, tcfg: TeacherConfig, *,
                     budget_usd: float | None = None, api_key: str | None = None, data_root=None,
                     gate: Gate | None = None, limiter: RateLimiter | None = None,
                     attempts_left: dict[str, int] | None = None) -> RunResult:
    """Send these requests in realtime (sync API; the async work runs on its own event loop).

    Callers go through `tasks.teachers.client.ask`, which decides what is sent (ledger, governance,
    attempts over all runs, batch or realtime); raises `AccountError` after journaling.
    """
    if not todo:
        return RunResult()
    root = data_root if data_root is not None else ledger.path.parent
    impl = LlmTeacher(teacher, tcfg, api_key=api_key, data_root=root)
    asker = Asker(impl, limiter or RateLimiter(tcfg.rpm, tcfg.tpm), gate or NoGate())
    run = ShardRun(asker, ledger, Budget(budget_usd, spent_usd=ledger.spent_usd()), attempts_left)
    result = run_sync(run.run(todo))
    if result.message:
        log.warning("teacher %s: %s", teacher, result.message)
    return result


def ask_unjournaled(teacher: LlmTeacher, request: TeacherRequest, ctx: RecordContext | None) -> TeacherResponse:
    """One request with retries and pacing but no ledger or budget (`gemflow interpret`); raises AccountError."""
    tcfg = teacher.config
    asker = Asker(teacher, RateLimiter(tcfg.rpm, tcfg.tpm), NoGate())
    est = prompt_tokens(request.messages, images=int(tcfg.vision)) + tcfg.max_tokens
    return run_sync(asker.ask(request, ctx, est))
