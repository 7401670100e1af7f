"""The in-process RPM/TPM limiter: even spacing, windows that hold, refunds, and 429 back-off (fake clock)."""
from __future__ import annotations

import asyncio
import time

import pytest

from tasks.teachers.limiter import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def max_in_window(starts: list[float], weights: list[float], window: float = 60.0) -> float:
    """The largest weight sum over any `window`-second interval that begins at a start."""
    best = 0.0
    for i, s in enumerate(starts):
        best = max(best, sum(w for t, w in zip(starts[i:], weights[i:]) if t < s + window))
    return best


def test_requests_are_spaced_evenly_at_the_configured_rpm():
    clock = Clock()
    lim = RateLimiter(rpm=600, tpm=10**9, clock=clock)
    starts = [lim.reserve(tokens=10) for _ in range(1500)]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) == pytest.approx(0.1) and max(gaps) == pytest.approx(0.1)
    assert max_in_window(starts, [1] * len(starts)) <= 600 + 1


def test_tokens_per_minute_hold_and_unused_tokens_are_refunded():
    clock = Clock()
    lim = RateLimiter(rpm=10**6, tpm=60_000, clock=clock)  # 1000 tokens per second
    starts, used = [], []
    for _ in range(300):
        start = lim.reserve(tokens=2000)
        clock.t = start  # the call goes out at its time and answers at once
        lim.settle(reserved=2000, used=500)  # a short answer: most of max_tokens comes back
        starts.append(start)
        used.append(500)
    assert max_in_window(starts, used) <= 60_000 + 2000
    rate = sum(used[:-1]) / (starts[-1] - starts[0]) * 60
    assert rate == pytest.approx(60_000, rel=0.02)  # pacing follows the tokens really used


def test_a_429_pauses_every_caller_until_retry_after_and_slows_the_pace():
    clock = Clock()
    lim = RateLimiter(rpm=600, tpm=10**9, clock=clock)
    lim.reserve(1)
    lim.on_rate_limited(retry_after_s=5.0)
    nxt = lim.reserve(1)
    assert nxt >= clock.t + 5.0
    after = lim.reserve(1)
    assert after - nxt == pytest.approx(0.2)  # twice the normal 0.1 s spacing
    for _ in range(50):
        lim.on_success()
    assert lim.slowdown == 1.0 and lim.rate_limited == 1


def test_async_acquire_never_runs_faster_than_the_limit():
    lim = RateLimiter(rpm=1200, tpm=10**9)  # 20 per second

    async def go() -> float:
        t0 = time.monotonic()
        await asyncio.gather(*[lim.acquire(1) for _ in range(21)])
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.99  # 21 starts span at least 20 intervals of 50 ms


def test_rates_must_be_positive():
    with pytest.raises(ValueError, match="rpm and tpm"):
        RateLimiter(rpm=0, tpm=10)
