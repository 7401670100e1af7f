"""Reading a finished batch: output and error lines into ledger outcomes, and what happens to unanswered requests."""
from __future__ import annotations

import json

from schemas.config import TeacherConfig
from schemas.teacher import TeacherResponse
from tasks.teachers.cost import tokens_cost
from tasks.teachers.llm import parse_message

REQUEUE_CODES = ("token_limit_exceeded",)  # a batch-level failure that says nothing about its requests


def response_from_line(line: dict, tcfg: TeacherConfig) -> TeacherResponse:
    """A ledger outcome from one output- or error-file line; empty or truncated answers are failures."""
    rid = line["custom_id"]
    resp = line.get("response") or {}
    body = resp.get("body") or {}
    if line.get("error") or resp.get("status_code") != 200:
        err = line.get("error") or body.get("error") or {"status_code": resp.get("status_code")}
        return TeacherResponse(request_id=rid, status="failed", error=f"batch: {json.dumps(err)[:500]}")
    try:
        choice = body["choices"][0]
        text, reasoning, finish = parse_message(choice["message"], choice.get("finish_reason"))
    except (KeyError, IndexError, TypeError) as exc:
        return TeacherResponse(request_id=rid, status="failed", error=f"batch: unreadable answer ({exc!r})"[:500])
    usage = body.get("usage") or {}
    n_in, n_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cost = tokens_cost(tcfg, n_in, n_out, batch=True)
    problem = "empty output" if not text.strip() else "output truncated at max_tokens" if finish == "length" else None
    return TeacherResponse(request_id=rid, status="failed" if problem else "ok", text=text, reasoning=reasoning,
                           finish_reason=finish, input_tokens=n_in, output_tokens=n_out, cost_usd=cost,
                           error=f"batch: {problem}" if problem else None)


def responses_of(texts: list[str], ids: set[str], tcfg: TeacherConfig) -> list[TeacherResponse]:
    """Outcomes of the lines (output and error files) that answer one of `ids`; one per request id."""
    out: dict[str, TeacherResponse] = {}
    for text in texts:
        for raw in text.splitlines():
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a line we cannot read answers nothing: its request is handled as unanswered
            if isinstance(line, dict) and line.get("custom_id") in ids:
                out[line["custom_id"]] = response_from_line(line, tcfg)
    return list(out.values())


def batch_error_codes(batch) -> list[str]:
    errors = getattr(batch, "errors", None)
    return [e.code for e in (getattr(errors, "data", None) or []) if getattr(e, "code", None)]


def unanswered_outcome(batch, missing: list[str]) -> tuple[list[str], list[TeacherResponse]]:
    """(ids back to pending, failed outcomes) for requests a terminal batch did not answer.

    Expired and cancelled batches, and a batch failed as `token_limit_exceeded`, say nothing against
    their requests: they go back to pending. Any other batch failure (a malformed file) fails them
    with the provider's reason, and so does a `completed` batch that left a request out.
    """
    codes = batch_error_codes(batch)
    if batch.status in ("expired", "cancelled") or (batch.status == "failed" and set(codes) & set(REQUEUE_CODES)):
        return list(missing), []
    if batch.status == "failed":
        why = json.dumps(batch.errors.model_dump() if batch.errors else None)[:500]
        reason = f"batch failed: {why}"
    else:
        reason = f"batch {batch.status} without an answer for this request"
    return [], [TeacherResponse(request_id=rid, status="failed", error=reason) for rid in missing]
