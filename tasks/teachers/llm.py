"""The litellm teacher: one attempt of one chat call to any litellm model or OpenAI-compatible endpoint.

`LlmTeacher.acall` sends exactly one HTTP request (litellm's and the OpenAI SDK's own retries are
switched off) and returns a parsed `Completion`, or raises the client's exception. Retrying,
pacing, budget and journaling belong to `tasks.teachers.runner`, the one retry layer.
"""
from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.offline import offline_defaults

offline_defaults()  # before litellm is imported: it reads its price map then

import httpx  # noqa: E402
import litellm  # noqa: E402
import openai  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from schemas.config import TeacherConfig  # noqa: E402
from schemas.teacher import RecordContext, TeacherRequest, TeacherResponse  # noqa: E402
from tasks.teachers.cost import response_cost  # noqa: E402

litellm.suppress_debug_info = True  # no "Give Feedback" banners in the logs
REQUEST_ID_HEADER = "X-Gemflow-Request-Id"
_TRANSIENT_STATUS = {408, 409, 425, 429}  # and every 5xx
CLIENT_ERRORS = (openai.APIError, httpx.HTTPError, asyncio.TimeoutError, json.JSONDecodeError)


class MissingApiKey(RuntimeError):
    """The teacher's key is configured by name but not set."""


class BadOutput(RuntimeError):
    """A 200 answer that is empty or cut at max_tokens: transient, it counts as an attempt."""

    def __init__(self, reason: str, completion: "Completion"):
        super().__init__(reason)
        self.completion = completion


@dataclass
class Completion:
    text: str
    reasoning: str | None
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


def resolve_api_key(config: TeacherConfig, api_key: str | None = None) -> SecretStr | None:
    """The key given (e.g. from a Prefect Secret block), else $api_key_env; None lets litellm decide."""
    if api_key:
        return SecretStr(api_key)
    if config.api_key_env:
        value = os.environ.get(config.api_key_env)
        if not value:
            raise MissingApiKey(f"teacher model {config.model!r} needs an API key: set ${config.api_key_env}"
                                " or teachers.<name>.api_key_secret_block in gemflow.yaml")
        return SecretStr(value)
    if config.api_base:
        return SecretStr("EMPTY")  # local OpenAI-compatible servers (vLLM, Ollama) accept any key
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
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def image_part(ctx: RecordContext, data_root: Path | None) -> dict | None:
    """The record's rendered page as a base64 PNG content part (image paths are relative to the data root)."""
    if not ctx.image_path:
        return None
    path = Path(ctx.image_path)
    if not path.is_absolute():
        if data_root is None:
            raise ValueError(f"record {ctx.record_id}: image path {path} is relative and no data root was given")
        path = Path(data_root) / path
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def messages_with_image(messages: list[dict], image: dict | None) -> list[dict]:
    """The request's messages with the image added to the last user turn (the prompt text is unchanged)."""
    if image is None:
        return messages
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m["role"] == "user":
            m["content"] = [{"type": "text", "text": m["content"]}, image]
            break
    return out


def parse_message(choice_message, finish_reason: str | None) -> tuple[str, str | None, str | None]:
    """(text, reasoning, finish_reason) of a chat choice (object or dict); DeepSeek-R1's chain of thought kept apart."""
    get = choice_message.get if isinstance(choice_message, dict) else lambda k: getattr(choice_message, k, None)
    reasoning = get("reasoning_content")
    return get("content") or "", reasoning or None, finish_reason


def check_output(completion: Completion) -> Completion:
    """Raise BadOutput for an empty answer or one cut at max_tokens."""
    if not completion.text.strip():
        raise BadOutput("empty output", completion)
    if completion.finish_reason == "length":
        raise BadOutput("output truncated at max_tokens (finish_reason=length)", completion)
    return completion


class LlmTeacher:
    """A litellm model; `api_base` points it at any OpenAI-compatible server."""

    def __init__(self, name: str, config: TeacherConfig, api_key: str | None = None,
                 data_root: str | Path | None = None):
        self.name = name
        self.config = config
        self._key = resolve_api_key(config, api_key)
        self.data_root = Path(data_root) if data_root else None

    def redact(self, text: str) -> str:
        """Error text with the API key masked (defence in depth: it goes to the ledger)."""
        key = self._key.get_secret_value() if self._key else ""
        return text.replace(key, "***") if len(key) >= 8 else text

    def messages(self, request: TeacherRequest, ctx: RecordContext | None) -> list[dict]:
        image = image_part(ctx, self.data_root) if self.config.vision and ctx is not None else None
        return messages_with_image(request.messages, image)

    def call_kwargs(self, request: TeacherRequest, ctx: RecordContext | None) -> dict:
        kwargs = {"model": self.config.model, "messages": self.messages(request, ctx), **request.params,
                  "timeout": self.config.timeout_s, "max_retries": 0, "num_retries": 0,
                  "extra_headers": {REQUEST_ID_HEADER: request.request_id}}
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self._key is not None:
            kwargs["api_key"] = self._key.get_secret_value()
        return kwargs

    async def acall(self, request: TeacherRequest, ctx: RecordContext | None) -> Completion:
        """One HTTP attempt; raises the client's exception or BadOutput."""
        resp = await litellm.acompletion(**self.call_kwargs(request, ctx))
        choice = resp.choices[0]
        text, reasoning, finish = parse_message(choice.message, choice.finish_reason)
        usage = getattr(resp, "usage", None)
        n_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        n_out = int(getattr(usage, "completion_tokens", 0) or 0)
        return check_output(Completion(text, reasoning, finish, n_in, n_out,
                                       response_cost(self.config, resp, n_in, n_out)))

    def complete(self, request: TeacherRequest, context: RecordContext) -> TeacherResponse:
        """One request with the runner's retry layer and pacing, without a ledger (`gemflow interpret`)."""
        from tasks.teachers.runner import ask_once
        return ask_once(self, request, context)
