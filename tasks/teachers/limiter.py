"""Precise in-process rate limiting of teacher calls: RPM and TPM pacing, 429 back-off, and the cross-process gate.

The limiter is a generic cell rate algorithm (GCRA) on two resources at once. Each call reserves
one request and its estimated tokens (prompt + max_tokens); its start time is the earliest at which
both "theoretical arrival times" allow it, and it pushes both forward by its own cost. Calls are
therefore spaced evenly: over any 60 s window at most `rpm` requests (+1) and `tpm` tokens (+ one
request's tokens) go out, with no burst at the start of a minute, and a steady stream reaches the
configured rate exactly. After the answer, `settle` corrects the token reservation to the tokens
really used (refunding most of `max_tokens`), so TPM pacing follows real usage. Waiters queue in
order; the head reserves its slot only within `HORIZON_S` of its start, so refunds that arrive
meanwhile still count, and a late wake-up on a busy machine does not lose the slot.

The provider's `x-ratelimit-*` headers (`observe`) only ever lower the pace: a limit below the
configured one becomes the pace, and an exhausted `remaining` holds everyone until its reset.
A 429 pauses every caller until its Retry-After has passed and slows the pace (x2, up to x8); each
success brings the pace back towards normal (x0.9).

`Gate` is the hook for a cross-process cap (flows/limits.py implements it with Prefect global
concurrency limits); this module does not import Prefect.
"""
from __future__ import annotations

import asyncio
import re
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Callable, Protocol


class Gate(Protocol):
    """A cap shared by several processes; it may wait, and must not be slower than the local limiter."""

    async def admit(self, tokens: int) -> None:
        """Wait for one request and `tokens` tokens of the shared budget."""

    def settle(self, reserved: int, used: int) -> None:
        """Return tokens reserved by `admit` but not used."""

    def worker(self) -> AbstractAsyncContextManager:
        """Held by each concurrent worker while it runs (the shared in-flight cap)."""


class NoGate:
    """The gate when no cross-process cap is configured."""

    async def admit(self, tokens: int) -> None:
        return None

    def settle(self, reserved: int, used: int) -> None:
        return None

    def worker(self) -> AbstractAsyncContextManager:
        return nullcontext()


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset_s(value) -> float | None:
    """Seconds of an OpenAI-style reset duration ("20ms", "1.5s", "6m0s", "1h2m3s", or plain seconds)."""
    if value is None:
        return None
    text = str(value).strip()
    plain = _number(text)
    if plain is not None:
        return max(0.0, plain)
    total, matched = 0.0, ""
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(num) * _UNITS[unit]
        matched += num + unit
    return total if matched and matched == text.replace(" ", "") else None


class RateLimiter:
    """RPM + TPM pacing (GCRA) shared by every coroutine of one event loop."""

    MAX_SLOWDOWN = 8.0
    HORIZON_S = 0.25

    def __init__(self, rpm: float, tpm: float, clock: Callable[[], float] = time.monotonic):
        if rpm <= 0 or tpm <= 0:
            raise ValueError(f"rpm and tpm must be positive (rpm={rpm}, tpm={tpm})")
        self.request_s = 60.0 / rpm  # seconds one request occupies
        self.token_s = 60.0 / tpm  # seconds one token occupies
        self._clock = clock
        self._tat_req = 0.0  # theoretical arrival time of the next request
        self._tat_tok = 0.0
        self._paused_until = 0.0
        self.slowdown = 1.0
        self.rate_limited = 0  # 429s seen
        self.waited_s = 0.0
        self.adapted = False  # the provider's rate-limit headers lowered the pace
        self._lock: asyncio.Lock | None = None
        self._refunded: asyncio.Event | None = None  # set by a refund: the head waiter recomputes its start
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def reserve(self, tokens: int) -> float:
        """Reserve one request and `tokens` tokens; returns the time (clock) at which the call may start."""
        now = self._clock()
        start = max(now, self._tat_req, self._tat_tok, self._paused_until)
        self._tat_req = start + self.request_s * self.slowdown
        self._tat_tok = start + tokens * self.token_s * self.slowdown
        return start

    def next_start(self) -> float:
        return max(self._clock(), self._tat_req, self._tat_tok, self._paused_until)

    def _queue(self) -> asyncio.Lock:
        """The FIFO of waiters, one per event loop (the limiter outlives a shard's loop)."""
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:
            self._lock, self._lock_loop, self._refunded = asyncio.Lock(), loop, asyncio.Event()
        return self._lock

    async def _sleep(self, wait: float) -> None:
        """Sleep `wait` seconds, or less if a refund (settle) moved the next start earlier meanwhile."""
        event = self._refunded
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), wait)
        except asyncio.TimeoutError:
            pass

    async def acquire(self, tokens: int) -> None:
        """Wait until a call of `tokens` estimated tokens may start (re-queues if a 429 paused everyone).

        Waiters queue in order and only the head sleeps towards its slot, which it reserves within
        `HORIZON_S` of the start: refunds of calls that finish meanwhile still move it earlier, and a
        late wake-up on a busy machine is absorbed by the horizon.
        """
        while True:
            async with self._queue():
                wait = self.next_start() - self._clock() - self.HORIZON_S
                while wait > 0:
                    t0 = self._clock()
                    await self._sleep(wait)  # a refund wakes the head early: TPM pacing follows real usage
                    self.waited_s += self._clock() - t0
                    wait = self.next_start() - self._clock() - self.HORIZON_S
                start = self.reserve(tokens)
            delay = start - self._clock()
            if delay > 0:
                self.waited_s += delay
                await asyncio.sleep(delay)
            if self._clock() >= self._paused_until:
                return
            self.settle(tokens, 0)  # the reservation was not used: a 429 arrived while we slept

    def settle(self, reserved: int, used: int) -> None:
        """Correct a reservation of `reserved` tokens to the `used` ones (refund or extra charge)."""
        self._tat_tok += (used - reserved) * self.token_s * self.slowdown
        if used < reserved and self._refunded is not None:
            self._refunded.set()

    def on_rate_limited(self, retry_after_s: float | None, default_s: float = 1.0) -> None:
        """A 429: nobody starts a call before Retry-After has passed, and the pace slows down."""
        self.rate_limited += 1
        wait = retry_after_s if retry_after_s is not None else default_s
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, wait))
        self.slowdown = min(self.MAX_SLOWDOWN, self.slowdown * 2.0)

    def observe(self, headers: dict) -> None:
        """Adapt to the provider's x-ratelimit-* headers: only ever slower than configured, never faster.

        A `limit-requests`/`limit-tokens` below the configured RPM/TPM lowers the pace to it; a
        `remaining` of 0 holds every caller until its `reset` has passed.
        """
        if not headers:
            return
        limit_req = _number(headers.get("x-ratelimit-limit-requests"))
        limit_tok = _number(headers.get("x-ratelimit-limit-tokens"))
        if limit_req and 60.0 / limit_req > self.request_s:
            self._tat_req += (60.0 / limit_req - self.request_s) * self.slowdown  # the last reservation too
            self.request_s = 60.0 / limit_req
            self.adapted = True
        if limit_tok and 60.0 / limit_tok > self.token_s:
            self.token_s = 60.0 / limit_tok
            self.adapted = True
        for kind in ("requests", "tokens"):
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            reset = parse_reset_s(headers.get(f"x-ratelimit-reset-{kind}"))
            if remaining is not None and remaining <= 0 and reset:
                self._paused_until = max(self._paused_until, self._clock() + reset)

    def on_success(self) -> None:
        if self.slowdown > 1.0:
            self.slowdown = max(1.0, self.slowdown * 0.9)
