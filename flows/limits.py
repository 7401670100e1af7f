"""Prefect global concurrency limits for teacher calls: created at startup (strict), used as a cross-process cap.

Per teacher, named `gemflow-teacher-<name>-{inflight,rpm,tpm}`:
- `inflight` (limit = max_concurrency): each worker coroutine holds one slot while it runs, so the
  workers of every process together never exceed max_concurrency. It is NOT a Prefect limit: a
  Prefect `concurrency()` slot is held under a lease that nothing expires in ephemeral mode, so a
  process killed with SIGKILL kept its slots for ever and the next run hung. It is a slot lease in
  `$PREFECT_HOME/gemflow-slots.sqlite` (tasks/teachers/slots.py), reclaimed as soon as its holder's
  pid is gone (or its 30 s lease lapses, for a holder on another host);
- `rpm` and `tpm` (Prefect limits) (slot decay = rpm/60 and tpm/60 per second): the account's rates, shared by every
  process. Each process takes them a block (one second's worth) at a time, one block ahead of its
  use, and spends them locally: one Prefect call serves many requests, and a single process pacing
  itself at the configured rate never waits on Prefect.
Why not one `rate_limit` slot per call: that runs at about half the rate when waiters queue (Prefect
issue #23183). The server decays `floor(decay x seconds since the last update)` and every
acquisition or denial is an update, so each one drops the decayed fraction of a slot. gemflow
therefore takes blocks (few updates), counts a request as 100 slots (a dropped fraction is 1/100 of
a request) and sets the decay 1 slot per block above the rate to give it back. The capacity is two
blocks (+2 of slack): processes together stay at the rate, plus at most two blocks (two seconds)
of burst when they start.
The precise pacing stays in `tasks.teachers.limiter.RateLimiter` (one per teacher per process).
"""
from __future__ import annotations

import asyncio
import math
import re
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import lru_cache

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import rate_limit
from prefect.settings import PREFECT_HOME

from schemas.config import TeacherConfig
from tasks.teachers.limiter import RateLimiter
from tasks.teachers.slots import SlotFile

BLOCK_S = 1.0  # seconds of rate per block
SLACK = 2  # requests (or tokens) of capacity beyond two blocks
REQUEST_SLOTS = 100  # Prefect slots per request on the rpm limit (the server drops < 1 slot per update)


@dataclass(frozen=True)
class TeacherLimits:
    inflight: str
    rpm: str
    tpm: str
    inflight_limit: int
    rpm_block: int  # requests
    rpm_limit: int  # slots: REQUEST_SLOTS per request
    rpm_decay: float  # slots per second
    tpm_block: int
    tpm_limit: int
    tpm_decay: float


def teacher_limits(teacher: str, tcfg: TeacherConfig) -> TeacherLimits:
    """Names and sizes of a teacher's three limits."""
    base = "gemflow-teacher-" + re.sub(r"[^A-Za-z0-9_-]+", "-", teacher)
    rpm_block = max(1, math.ceil(tcfg.rpm / 60 * BLOCK_S))
    tpm_block = max(tcfg.max_tokens, math.ceil(tcfg.tpm / 60 * BLOCK_S))
    return TeacherLimits(
        inflight=f"{base}-inflight", rpm=f"{base}-rpm", tpm=f"{base}-tpm", inflight_limit=tcfg.max_concurrency,
        rpm_block=rpm_block, rpm_limit=(2 * rpm_block + SLACK) * REQUEST_SLOTS,
        rpm_decay=tcfg.rpm / 60 * REQUEST_SLOTS * (1 + 1 / (rpm_block * REQUEST_SLOTS)),
        tpm_block=tpm_block, tpm_limit=2 * tpm_block + SLACK, tpm_decay=tcfg.tpm / 60 * (1 + 1 / tpm_block))


def ensure_teacher_limits(teacher: str, tcfg: TeacherConfig) -> TeacherLimits:
    """Create (or update to the config) the teacher's rate limits, and free dead holders' in-flight slots.

    Call at startup, before any `strict` use.
    """
    lim = teacher_limits(teacher, tcfg)
    slot_file().reap()
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(lim.rpm, lim.rpm_limit, slot_decay_per_second=lim.rpm_decay)
        client.upsert_global_concurrency_limit_by_name(lim.tpm, lim.tpm_limit, slot_decay_per_second=lim.tpm_decay)
    return lim


@lru_cache(maxsize=None)
def process_limiter(teacher: str, rpm: int, tpm: int) -> RateLimiter:
    """The one in-process limiter of a teacher, kept across shards so pacing continues between them."""
    return RateLimiter(rpm, tpm)


class Credit:
    """Local credit on one Prefect rate limit, fetched on the server's decay schedule, two blocks ahead.

    It models the server's count as if this process were alone: `acquired` slots since `anchor`,
    decaying at `decay` per second. A block is fetched when the server will have room for it (plus
    a small margin for the server's floor()), and when under a block of credit is left, so a process
    at the configured rate never waits, and never asks early enough to be denied or lose a fraction.
    """

    MARGIN_S = 0.005

    def __init__(self, name: str, block: int, capacity: int, decay: float, slots: int = 1):
        self.name, self.block, self.slots = name, block, slots  # `slots` Prefect slots per unit of credit
        self.decay = decay / slots  # units per second
        self.hold = capacity // slots - SLACK  # what we may hold on the server: two blocks
        self.credit = 0
        self.acquired = 0.0
        self.anchor: float | None = None
        self._fetch: asyncio.Task | None = None

    def _due(self, n: int) -> float:
        now = time.monotonic()
        if self.anchor is None:
            return now
        self.acquired = max(self.acquired, self.decay * (now - self.anchor))  # the server cannot go below 0
        return self.anchor + (self.acquired + n - self.hold) / self.decay + self.MARGIN_S

    async def _get(self, n: int, scheduled: bool) -> None:
        try:
            await asyncio.sleep(max(0.0, self._due(n) - time.monotonic()))
            if scheduled and self.credit >= self.block:
                return  # refunds made the scheduled block unnecessary
            if self.anchor is None:
                self.anchor = time.monotonic()
            await rate_limit(self.name, occupy=n * self.slots, strict=True)
            self.credit += n
            self.acquired += n
        finally:
            self._fetch = None

    async def take(self, n: int) -> None:
        """Spend n in full: parts of at most two blocks, each waiting for the block in flight or due.

        A request's whole estimate is charged (prompt + max_tokens), however many blocks it spans, so
        processes together never exceed the shared rate by under-counting large requests.
        """
        while n > 0:
            part = min(n, self.hold)
            await self._take(part)
            n -= part

    async def _take(self, n: int) -> None:
        while self.credit < n:
            if self._fetch is None:
                size = self.hold if self.anchor is None else min(self.hold, max(self.block, n - self.credit))
                self._fetch = asyncio.create_task(self._get(size, scheduled=False))
            await asyncio.shield(self._fetch)
        self.credit -= n

    def keep_ahead(self) -> None:
        """Schedule the next block once under a block of credit is left."""
        if self._fetch is None and self.anchor is not None and self.credit < self.block:
            self._fetch = asyncio.create_task(self._get(self.block, scheduled=True))


class PrefectGate:
    """The cross-process cap (implements `tasks.teachers.limiter.Gate`); one per teacher per process."""

    def __init__(self, limits: TeacherLimits):
        self.limits = limits
        self.requests = Credit(limits.rpm, limits.rpm_block, limits.rpm_limit, limits.rpm_decay, REQUEST_SLOTS)
        self.tokens = Credit(limits.tpm, limits.tpm_block, limits.tpm_limit, limits.tpm_decay)

    async def admit(self, tokens: int) -> None:
        await self.requests.take(1)
        await self.tokens.take(tokens)
        self.requests.keep_ahead()
        self.tokens.keep_ahead()

    def settle(self, reserved: int, used: int) -> None:
        """Give back the reserved tokens the call did not use (its whole estimate was charged)."""
        self.tokens.credit += max(0, reserved - used)

    def worker(self) -> AbstractAsyncContextManager:
        return slot_file().slot(self.limits.inflight, self.limits.inflight_limit)


@lru_cache(maxsize=None)
def slot_file() -> SlotFile:
    """This process's handle on the in-flight slot leases of the current Prefect home."""
    return SlotFile(PREFECT_HOME.value() / "gemflow-slots.sqlite")


@lru_cache(maxsize=None)
def process_gate(limits: TeacherLimits) -> PrefectGate:
    """The one gate of a teacher per process: its credit and schedule carry across shards (event loops)."""
    return PrefectGate(limits)
