"""The teacher retry policy: what is transient, what stops the whole run, back-off, and the outcome types.

Imported by the sync runner, the Batch API mode and the façade (tasks/teachers/client.py); it imports
none of them, so there is no import cycle between them.
- transient (retried, counted as an attempt): 408/409/425/429, 5xx, timeouts, dropped connections,
  truncated bodies, empty answers, answers cut at max_tokens (retried with a larger limit);
- account-wide (`AccountError`: the run stops at once, nothing is marked failed): 401, 402, 403,
  `insufficient_quota`, `model_not_found`. Every other request would fail the same way and cost a
  round trip, so none is sent after the first such answer;
- anything else (a 400 for this request): the request fails with its reason.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from dataclasses import dataclass, field

import httpx
import openai

from schemas.config import TeacherConfig
from schemas.teacher import RecordContext, TeacherRequest
from tasks.shards import Counts

Work = tuple[TeacherRequest, RecordContext | None]
_TRANSIENT_STATUS = {408, 409, 425, 429}  # and every 5xx
_ACCOUNT_STATUS = {401: "the API key was refused (401)", 402: "the account cannot pay (402)",
                   403: "the account may not use this model or endpoint (403)",
                   404: "the model or endpoint does not exist for this account (404, model_not_found)"}
_ACCOUNT_CODES = {"insufficient_quota": "the account's quota is used up (insufficient_quota)",
                  "model_not_found": "the model does not exist or the account cannot use it (model_not_found)"}
CLIENT_ERRORS = (openai.APIError, httpx.HTTPError, asyncio.TimeoutError, json.JSONDecodeError)


@dataclass
class Completion:
    text: str
    reasoning: str | None
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    headers: dict = field(default_factory=dict)  # rate-limit headers of the answer (x-ratelimit-*), if any


class BadOutput(RuntimeError):
    """A 200 answer that is empty or cut at max_tokens: transient, it counts as an attempt."""

    def __init__(self, reason: str, completion: Completion):
        super().__init__(reason)
        self.completion = completion

    @property
    def truncated(self) -> bool:
        return self.completion.finish_reason == "length"


class AccountError(RuntimeError):
    """The provider refused the account, not one request: the run stops and every request stays pending."""

    def __init__(self, teacher: str, cause: str, detail: str = ""):
        self.teacher, self.cause, self.detail = teacher, cause, detail
        msg = f"teacher {teacher!r} stopped: {cause}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg + ". Nothing was marked failed: fix the account or the config and rerun to resume.")


@dataclass
class CallCounts(Counts):
    """What teacher calls did, counted once for all: a run's `RunResult`, the façade's `Asked` and the
    generate stage's `GenerateCounts` all extend it (so `Asked.take` and the stage add the same fields)."""

    sent: int = 0
    done: int = 0
    failed: int = 0
    attempts: int = 0
    not_sent_budget: int = 0
    waiting_in_batch: int = 0
    exhausted: int = 0  # left failed: max_attempts_total reached over all runs


@dataclass
class RunResult(CallCounts):
    """What one run of the runner (or of the batch mode) did; `message` explains a budget stop."""

    rate_limited: int = 0
    spent_usd: float = 0.0
    message: str = ""
    errors: dict[str, int] = field(default_factory=dict)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    text = json.dumps(body) if isinstance(body, (dict, list)) else ""
    return f"{exc} {text}"


def account_error(exc: BaseException, teacher: str, redact=lambda s: s) -> AccountError | None:
    """The account-wide refusal this exception is, or None (a transient or per-request error)."""
    if isinstance(exc, BadOutput):
        return None
    text = _message(exc)
    detail = redact(re.sub(r"\s+", " ", str(exc)).strip())[:200]
    for code, cause in _ACCOUNT_CODES.items():
        if code in text:
            return AccountError(teacher, cause, detail)
    status = _status(exc)
    if status in _ACCOUNT_STATUS:
        return AccountError(teacher, _ACCOUNT_STATUS[status], detail)
    return None


def is_transient(exc: BaseException) -> bool:
    """429, 5xx, timeouts, dropped connections and unparsable (truncated) bodies; not 4xx mistakes."""
    if isinstance(exc, BadOutput):
        return True
    if isinstance(exc, (asyncio.TimeoutError, httpx.TransportError, json.JSONDecodeError,
                        openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS or status >= 500
    return isinstance(exc, openai.APIResponseValidationError)


def retry_after_s(exc: BaseException) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms of an error response, if any."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time()) if when else None


def backoff_s(tcfg: TeacherConfig, attempt: int, rng: random.Random) -> float:
    """Exponential back-off with jitter: base x 2^(attempt-1), capped, times U(0.5, 1)."""
    return min(tcfg.retry_max_s, tcfg.retry_base_s * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


def next_max_tokens(tcfg: TeacherConfig, current: int) -> int | None:
    """The larger limit to retry an answer cut at `current` max_tokens with; None when the ceiling is reached."""
    ceiling = tcfg.max_tokens_ceiling or 4 * tcfg.max_tokens
    if current >= ceiling:
        return None
    return min(ceiling, max(current + 1, int(current * tcfg.length_growth)))


def attempts_left(tcfg: TeacherConfig, previous: int) -> int:
    """Attempts this run may make for a request that has made `previous` over earlier runs."""
    return max(0, min(tcfg.max_attempts, tcfg.max_attempts_total - previous))
