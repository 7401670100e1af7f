"""The OpenAI files and batches endpoints, one attempt per call, with the sync path's key.

No call here retries: a transient failure is raised, the batch journal keeps the step, and the next
poll tick of `batch.wait_for_batches` takes it again (the one place a batch step is repeated).
Account-wide failures (401, 402, 403, insufficient_quota, model_not_found) are raised as the retry
policy's `AccountError`, so the run stops with one line instead of failing requests.
No call lists the organisation's files: uploaded ids are journaled; only a resumed upload whose
outcome a crash hid looks at one page of the newest batch files, back to the intent's start.
"""
from __future__ import annotations

import logging

import openai

from schemas.config import TeacherConfig
from tasks.teachers.llm import MissingApiKey, resolve_api_key
from tasks.teachers.policy import CLIENT_ERRORS, account_error

log = logging.getLogger("gemflow.teachers.batch")
FIND_PAGE = 100  # newest batch files looked at when a crash hid an upload's file id
ENDPOINT = "/v1/chat/completions"


def api_model(model: str) -> str:
    """The model name the Batch API expects: litellm's `openai/` prefix removed; other providers refused."""
    provider, sep, name = model.partition("/")
    if not sep:
        return model
    if provider == "openai":
        return name
    raise ValueError(f"batch mode needs an OpenAI-compatible Batch API; model {model!r} is not an openai/ model")


class BatchClient:
    """Files and batches of one teacher's endpoint; the key is resolved exactly as for sync calls."""

    def __init__(self, teacher: str, tcfg: TeacherConfig, api_key: str | None = None):
        self.teacher = teacher
        self.tcfg = tcfg
        key = resolve_api_key(tcfg, api_key)
        secret = key.get_secret_value() if key is not None else ""
        self._redact = (lambda text: text.replace(secret, "***")) if len(secret) >= 8 else (lambda text: text)
        try:
            self.client = openai.OpenAI(base_url=tcfg.api_base or None,
                                        api_key=key.get_secret_value() if key is not None else None,
                                        max_retries=0, timeout=tcfg.timeout_s)
        except openai.OpenAIError as exc:  # no key given and none in $OPENAI_API_KEY
            raise MissingApiKey(f"teacher {teacher!r} ({tcfg.model}) needs an API key: set api_key_env or"
                                f" api_key_secret_block in gemflow.yaml ({exc})") from None

    def _call(self, fn, *args, missing_ok: bool = False, **kwargs):
        """One attempt; account-wide errors become AccountError, the rest propagate.

        With `missing_ok`, a 404 (the object is gone, e.g. a file already deleted) returns None.
        """
        try:
            return fn(*args, **kwargs)
        except CLIENT_ERRORS as exc:
            if missing_ok and isinstance(exc, openai.NotFoundError):
                return None
            err = account_error(exc, self.teacher, redact=self._redact)
            if err is not None:
                raise err from exc
            raise

    def upload(self, filename: str, content: bytes) -> str:
        return self._call(self.client.files.create, file=(filename, content), purpose="batch").id

    def find_recent_file(self, filename: str, since: float) -> str | None:
        """A batch file of this name uploaded since `since`, from ONE page of the newest files (never all)."""
        page = self._call(self.client.files.list, purpose="batch", order="desc", limit=FIND_PAGE)
        for f in page.data:  # `.data` only: iterating the page would fetch every further page
            if f.filename == filename and f.created_at >= int(since) - 60:
                return f.id
        return None

    def delete(self, file_id: str) -> bool:
        """Delete a file; False when the provider no longer has it (already deleted)."""
        return self._call(self.client.files.delete, file_id, missing_ok=True) is not None

    def create(self, file_id: str, key: str):
        return self._call(self.client.batches.create, input_file_id=file_id, endpoint=ENDPOINT,
                          completion_window="24h", metadata={"gemflow_key": key})

    def find_batch(self, key: str, since: float):
        """The batch created with `metadata.gemflow_key == key`, among the newest ones back to `since`."""
        for b in self._call(self.client.batches.list, limit=100).data:
            if (b.metadata or {}).get("gemflow_key") == key:
                return b
            if b.created_at < since - 3600:
                break
        return None

    def retrieve(self, batch_id: str):
        return self._call(self.client.batches.retrieve, batch_id)

    def cancel(self, batch_id: str):
        return self._call(self.client.batches.cancel, batch_id)

    def content(self, file_id: str) -> str:
        return self._call(self.client.files.content, file_id).text
