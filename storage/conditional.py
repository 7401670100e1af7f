"""Conditional S3 requests that name the object version they act on: ranged GETs, puts and deletes with If-Match.

s3fs exposes only `If-None-Match: *` (pipe_file mode="create"); these go through its client
(`_call_s3`, the same connection pool, endpoint and credentials) on its event loop. A failed
condition is `PreconditionFailed`, whatever s3fs or botocore would have called it. AWS S3 honours
If-Match on GET, PUT (since November 2024) and DELETE (general purpose buckets since 2025); MinIO
and moto do too.
"""
from __future__ import annotations

from typing import Any

from fsspec.asyn import sync


class PreconditionFailed(RuntimeError):
    """The object is not the version the request named (or, for a create, it already exists)."""


def _failed_condition(exc: BaseException) -> bool:
    for e in (exc, exc.__cause__, exc.__context__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            # 409 ConditionalRequestConflict: a concurrent conditional write to the key won
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict") or status in (409, 412):
                return True
    return False


def _call(fs: Any, method: str, key: str, **kw: Any) -> dict:
    """One S3 call on `key` through s3fs's client; the body, if any, read whole. Missing key: FileNotFoundError."""
    bucket, obj, _ = fs.split_path(key)

    async def go() -> dict:
        resp = await fs._call_s3(method, Bucket=bucket, Key=obj, **kw)
        body = resp.get("Body")
        if body is not None:
            try:
                resp["Body"] = await body.read()
            finally:
                body.close()
        return resp
    try:
        return sync(fs.loop, go)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated below or re-raised as it was
        if _failed_condition(exc):
            raise PreconditionFailed(f"{key}: {method} condition failed") from exc
        raise


def get_range(fs: Any, key: str, start: int, end: int, etag: str) -> bytes:
    """Bytes [start, end) of `key`, only if its ETag is still `etag`."""
    return _call(fs, "get_object", key, IfMatch=etag, Range=f"bytes={start}-{end - 1}")["Body"]


def get_versioned(fs: Any, key: str) -> tuple[bytes, str] | None:
    """The object's bytes and the ETag of exactly that version, or None when there is no such object."""
    try:
        resp = _call(fs, "get_object", key)
    except FileNotFoundError:
        return None
    return resp["Body"], str(resp["ETag"])


def put_if_absent(fs: Any, key: str, data: bytes) -> str:
    """Create `key` only if no object has that key (If-None-Match: *); returns the new ETag."""
    return str(_call(fs, "put_object", key, Body=data, IfNoneMatch="*")["ETag"])


def put_if_match(fs: Any, key: str, data: bytes, etag: str) -> str:
    """Replace `key` only if it is still version `etag`; returns the new ETag."""
    return str(_call(fs, "put_object", key, Body=data, IfMatch=etag)["ETag"])


def delete_if_match(fs: Any, key: str, etag: str) -> None:
    """Delete `key` only if it is still version `etag` (already gone: nothing to do)."""
    try:
        _call(fs, "delete_object", key, IfMatch=etag)
    except FileNotFoundError:
        pass
