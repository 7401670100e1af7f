"""The litellm teacher: one attempt of one chat call to any litellm model or OpenAI-compatible endpoint.

`LlmTeacher.acall` sends exactly one HTTP request (litellm's and the OpenAI SDK's own retries are
switched off) and returns a parsed `Completion`, or raises the client's exception. Retrying and
pacing belong to `tasks.teachers.runner`, the policy to `tasks.teachers.policy`, and asking a
teacher at all to `tasks.teachers.client` (governance, ledger, realtime or batch).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from tasks.offline import offline_defaults

offline_defaults()  # before litellm is imported: it reads its price map then

import litellm  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from schemas.config import TeacherConfig  # noqa: E402
from schemas.teacher import RecordContext, TeacherRequest  # noqa: E402
from tasks.teachers import vision  # noqa: E402
from tasks.teachers.cost import response_cost  # noqa: E402
from tasks.teachers.policy import (  # noqa: E402,F401  (re-exported for older importers)
    CLIENT_ERRORS, BadOutput, Completion, is_transient, retry_after_s)

litellm.suppress_debug_info = True  # no "Give Feedback" banners in the logs
REQUEST_ID_HEADER = "X-Gemflow-Request-Id"
RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


class MissingApiKey(RuntimeError):
    """The teacher's key is configured by name but not set."""


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


def image_part(ctx: RecordContext, data_root: Path | None) -> dict | None:
    """The record's rendered page as a base64 PNG content part, downscaled to the size the provider bills."""
    return vision.image_part(ctx, data_root)


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


_THINK = re.compile(r"^\s*(?:<think>)?(.*?)</think>\s*", re.DOTALL)


def split_think(text: str) -> tuple[str, str | None]:
    """(answer, reasoning) of a content that carries its chain of thought inline.

    `<think>...</think>answer`, and the lone closing tag R1 distills emit under vLLM or Ollama (the
    chat template opened it): `...reasoning...</think>answer`. Content without the tag is all answer.
    """
    m = _THINK.match(text)
    if not m or "</think>" not in text:
        return text, None
    reasoning = m.group(1).strip()
    return text[m.end():].replace("</think>", "").strip(), reasoning or None


def parse_message(choice_message, finish_reason: str | None) -> tuple[str, str | None, str | None]:
    """(text, reasoning, finish_reason) of a chat choice (object or dict); a chain of thought is kept apart.

    DeepSeek's `reasoning_content`, or `<think>` tags inside the content (see `split_think`).
    """
    get = choice_message.get if isinstance(choice_message, dict) else lambda k: getattr(choice_message, k, None)
    content = get("content")
    text = content if isinstance(content, str) else ""
    reasoning = get("reasoning_content")
    text, inline = split_think(text)
    if inline and not reasoning:
        reasoning = inline
    reasoning = reasoning if isinstance(reasoning, str) and reasoning else None
    return (text.strip() if reasoning else text), reasoning, finish_reason


def check_output(completion: Completion) -> Completion:
    """Raise BadOutput for an empty answer or one cut at max_tokens."""
    if completion.finish_reason == "length":
        raise BadOutput("output truncated at max_tokens (finish_reason=length)", completion)
    if not completion.text.strip():
        raise BadOutput("empty output", completion)
    return completion


def rate_headers(resp) -> dict:
    """The x-ratelimit-* headers of a litellm response (litellm keeps them in its hidden params)."""
    hidden = getattr(resp, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") or {}
    out = {}
    for name in RATE_HEADERS:
        value = headers.get(name, headers.get(f"llm_provider-{name}"))
        if value is not None:
            out[name] = str(value)
    return out


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

    def call_kwargs(self, request: TeacherRequest, ctx: RecordContext | None, max_tokens: int | None = None) -> dict:
        params = {**request.params, **({"max_tokens": max_tokens} if max_tokens else {})}
        kwargs = {"model": self.config.model, "messages": self.messages(request, ctx), **params,
                  "timeout": self.config.timeout_s, "max_retries": 0, "num_retries": 0,
                  "extra_headers": {REQUEST_ID_HEADER: request.request_id}}
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self._key is not None:
            kwargs["api_key"] = self._key.get_secret_value()
        return kwargs

    async def acall(self, request: TeacherRequest, ctx: RecordContext | None, max_tokens: int | None = None) -> Completion:
        """One HTTP attempt (optionally with a larger max_tokens); raises the client's exception or BadOutput."""
        resp = await litellm.acompletion(**self.call_kwargs(request, ctx, max_tokens))
        choice = resp.choices[0]
        text, reasoning, finish = parse_message(choice.message, choice.finish_reason)
        usage = getattr(resp, "usage", None)
        n_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        n_out = int(getattr(usage, "completion_tokens", 0) or 0)
        return check_output(Completion(text, reasoning, finish, n_in, n_out,
                                       response_cost(self.config, resp, n_in, n_out), rate_headers(resp)))
