"""The files and batches half of the local OpenAI-compatible server (tests/openai_server.py).

`BatchRoutes` is a mixin of `FakeOpenAI`: `/v1/files` (upload, list, content, delete) and `/v1/batches`
(create, retrieve, list, cancel), whose lines run through the chat logic (`self.answer`) after a few
polls, with OpenAI's validation limits (lines per file, enqueued tokens) and injected create faults.
It needs from its host: `settings`, `counters`, `files`, `batches`, `batch_log`, `answer(body, key)`
and `prompt_tokens(messages)`. Import the server from tests/openai_server.py; this module only holds
what it serves for batches.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse


class BatchRoutes:
    """Files and batches state changes and routes, mixed into `FakeOpenAI`."""

    def add_file(self, filename: str, purpose: str, content: bytes) -> dict:
        fid = f"file-{hashlib.sha1(content + filename.encode()).hexdigest()[:12]}-{len(self.files)}"
        meta = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[fid] = {**meta, "content": content}
        return meta

    def _run_batch(self, batch: dict, limit: int | None, final: str) -> None:
        """Answer the first `limit` lines (all when None) through the chat logic; write output and error files."""
        lines = _batch_lines(self.files[batch["input_file_id"]]["content"])
        out, err = [], []
        for i, line in enumerate(lines):
            if limit is not None and i >= limit:
                break
            status, body, _ = self.answer(line["body"], line["custom_id"])
            row = {"id": f"batch_req_{i}", "custom_id": line["custom_id"],
                   "response": {"status_code": status, "request_id": f"req_{i}", "body": body}, "error": None}
            (out if status == 200 else err).append(row)
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                content = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = self.add_file(f"{batch['id']}_{name}.jsonl", "batch_output", content)["id"]
        batch["status"] = final
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}

    def _fail_batch(self, batch: dict, code: str, message: str) -> None:
        batch["status"] = "failed"
        batch["errors"] = {"object": "list", "data": [{"code": code, "message": message, "line": None, "param": None}]}

    def _validate_batch(self, batch: dict) -> None:
        """OpenAI's checks at validation: lines per file, and enqueued prompt tokens over the open batches."""
        s, lines = self.settings, _batch_lines(self.files[batch["input_file_id"]]["content"])
        batch["_tokens"] = sum(_line_tokens(self, x) for x in lines)
        batch["request_counts"] = {"total": len(lines), "completed": 0, "failed": 0}
        if len(lines) > s.batch_max_lines:
            return self._fail_batch(batch, "too_many_requests", f"{len(lines)} requests > {s.batch_max_lines}")
        enqueued = sum(b["_tokens"] for b in self.batches.values()
                       if b is not batch and b["status"] in ("validating", "in_progress", "finalizing", "cancelling"))
        if s.batch_token_limit is not None and enqueued + batch["_tokens"] > s.batch_token_limit:
            self.batch_log.token_limit_failures += 1
            return self._fail_batch(batch, "token_limit_exceeded",
                                    f"Enqueued token limit reached: {enqueued} + {batch['_tokens']} > {s.batch_token_limit}")
        self.batch_log.peak_enqueued_tokens = max(self.batch_log.peak_enqueued_tokens, enqueued + batch["_tokens"])
        self.batch_log.peak_open = max(self.batch_log.peak_open, 1 + sum(
            b["status"] in ("validating", "in_progress") for b in self.batches.values() if b is not batch))

    def poll_batch(self, batch_id: str) -> dict:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise HTTPException(404, f"no batch {batch_id}")
        if batch["status"] == "cancelling":
            batch["_cancel_polls"] += 1
            if batch["_cancel_polls"] >= self.settings.batch_cancel_polls:
                self._run_batch(batch, self.settings.batch_cancel_answers, "cancelled")
        if batch["status"] in ("validating", "in_progress"):
            batch["_polls"] += 1
            batch["status"] = "in_progress"
            if batch["_polls"] >= self.settings.batch_polls:
                limit = self.settings.batch_expire_after
                n = batch["request_counts"]["total"]
                self._run_batch(batch, limit, "expired" if limit is not None and limit < n else "completed")
        return _public(batch)

    def _add_batch_routes(self, app: FastAPI) -> None:
        """`/v1/files` (upload, list, content, delete) and `/v1/batches` (create, retrieve, list, cancel); all keyed."""
        log = lambda: self.batch_log  # noqa: E731  (reset() replaces the log)

        @app.post("/v1/files")
        async def upload(request: Request) -> dict:
            require_key(self, request)
            fields = parse_multipart(await request.body(), request.headers.get("content-type", ""))
            filename, content = fields["file"]
            if len(content) > self.settings.batch_max_bytes:
                raise HTTPException(413, f"file of {len(content)} bytes exceeds {self.settings.batch_max_bytes}")
            log().uploads.append((filename, len(content)))
            return self.add_file(filename, fields.get("purpose", ("", b"batch"))[1].decode(), content)

        @app.get("/v1/files")
        def list_files(request: Request, purpose: str | None = None, limit: int = 10_000, order: str = "desc",
                       after: str | None = None) -> dict:
            require_key(self, request)
            log().list_calls.append({"purpose": purpose, "limit": limit, "order": order, "after": after})
            files = [f for f in self.files.values() if purpose is None or f["purpose"] == purpose]
            files = list(reversed(files)) if order == "desc" else files
            if after is not None:
                ids = [f["id"] for f in files]
                files = files[ids.index(after) + 1:] if after in ids else []
            data = [{k: v for k, v in f.items() if k != "content"} for f in files[:limit]]
            return {"object": "list", "data": data, "has_more": len(files) > limit,
                    "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

        @app.get("/v1/files/{file_id}/content")
        def file_content(request: Request, file_id: str) -> PlainTextResponse:
            require_key(self, request)
            if file_id not in self.files:
                raise HTTPException(404, f"no file {file_id}")
            return PlainTextResponse(self.files[file_id]["content"].decode())

        @app.delete("/v1/files/{file_id}")
        def delete_file(request: Request, file_id: str) -> dict:
            require_key(self, request)
            if self.files.pop(file_id, None) is None:
                raise HTTPException(404, f"no file {file_id}")
            log().deleted.append(file_id)
            return {"id": file_id, "object": "file", "deleted": True}

        @app.post("/v1/batches")
        async def create_batch(request: Request) -> dict:
            require_key(self, request)
            body = await request.json()
            if log().create_calls < self.settings.batch_create_faults:
                log().create_calls += 1
                raise HTTPException(503, {"error": {"message": "injected 503", "type": "server_error"}})
            log().create_calls += 1
            if body.get("input_file_id") not in self.files:
                raise HTTPException(400, "unknown input_file_id")
            bid = f"batch_{len(self.batches):04d}_{hashlib.sha1(body['input_file_id'].encode()).hexdigest()[:8]}"
            batch = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
                     "input_file_id": body["input_file_id"], "completion_window": "24h",
                     "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(time.time()), "metadata": body.get("metadata"),
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}, "_polls": 0, "_tokens": 0}
            self._validate_batch(batch)
            self.batches[bid] = batch
            log().created.append((bid, batch["request_counts"]["total"], batch["_tokens"]))
            return _public(batch)

        @app.get("/v1/batches/{batch_id}")
        def get_batch(request: Request, batch_id: str) -> dict:
            require_key(self, request)
            return self.poll_batch(batch_id)

        @app.get("/v1/batches")
        def list_batches(request: Request, limit: int = 20) -> dict:
            require_key(self, request)
            data = [_public(b) for b in reversed(list(self.batches.values()))][:limit]
            return {"object": "list", "data": data, "has_more": len(self.batches) > limit}

        @app.post("/v1/batches/{batch_id}/cancel")
        def cancel(request: Request, batch_id: str) -> dict:
            require_key(self, request)
            batch = self.batches.get(batch_id)
            if batch is None:
                raise HTTPException(404, f"no batch {batch_id}")
            if batch["status"] in ("validating", "in_progress"):
                batch["status"], batch["_cancel_polls"] = "cancelling", 0
                if self.settings.batch_cancel_polls <= 0:
                    self._run_batch(batch, self.settings.batch_cancel_answers, "cancelled")
            log().cancelled.append(batch_id)
            return _public(batch)


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename, content)."""
    boundary = re.search(r"boundary=\"?([^\";]+)", content_type)
    if not boundary:
        raise HTTPException(400, "multipart body without a boundary")
    out = {}
    for part in body.split(b"--" + boundary.group(1).encode()):
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        disp = head.decode(errors="replace")
        name = re.search(r'name="([^"]*)"', disp)
        filename = re.search(r'filename="([^"]*)"', disp)
        if name:
            out[name.group(1)] = (filename.group(1) if filename else "", content.removesuffix(b"\r\n"))
    return out


@dataclass
class BatchLog:
    """What the files and batches routes were asked: for tests that assert on the provider's side."""

    uploads: list = field(default_factory=list)  # (filename, bytes)
    list_calls: list = field(default_factory=list)  # query of every GET /v1/files
    deleted: list = field(default_factory=list)  # file ids
    created: list = field(default_factory=list)  # (batch id, lines, prompt tokens)
    cancelled: list = field(default_factory=list)
    token_limit_failures: int = 0
    create_calls: int = 0
    peak_enqueued_tokens: int = 0  # over the batches accepted
    peak_open: int = 0


def require_key(fake, request: Request) -> None:
    """401 unless the request carries the expected key (any key but a missing one or "EMPTY" when none is set)."""
    header = request.headers.get("authorization", "")
    fake.counters.auth.add(header)
    key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    expected = fake.settings.api_key
    if (expected is not None and key != expected) or not key or key == "EMPTY":
        raise HTTPException(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                            "code": "invalid_api_key"}})


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _batch_lines(content: bytes) -> list[dict]:
    return [json.loads(x) for x in content.decode().splitlines() if x.strip()]


def _line_tokens(fake, line: dict) -> int:
    """Prompt tokens of one batch line, counted as the chat route bills them (plus 765 per image)."""
    messages = (line.get("body") or {}).get("messages") or []
    images = sum(1 for m in messages if isinstance(m.get("content"), list)
                 for p in m["content"] if p.get("type") == "image_url")
    return fake.prompt_tokens(messages) + 765 * images
