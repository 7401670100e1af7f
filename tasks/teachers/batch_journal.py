"""The Batch API's rows in the ledger's `batches` table: queued requests, intents, batches and uploaded files.

Row ids by kind (one table, one writer API: `Ledger.batch_upsert` / `Ledger.batch_open`):
- `queue-<uuid>` (`queued`): requests waiting for a wave, with what a wave needs to build their lines;
- `intent-<key>` (`uploading` -> `creating` -> `completed`): a batch being made (see `batch.BatchRun`);
- `<provider batch id>` (its provider status, then `collected`): a batch and the requests in it;
- `file-<provider file id>` (`uploaded`, then `completed` once deleted): every file gemflow put at, or
  was given by, the provider. `gemflow status` lists the ones not deleted from these rows alone.
"""
from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass

from storage.ledger import Ledger

QUEUE, INTENT, FILE = "queue-", "intent-", "file-"
FILE_LIVE, FILE_DELETED = "uploaded", "completed"  # `completed` is a closed status for Ledger.batch_open


@dataclass(frozen=True)
class Item:
    """One request as a wave needs it: its id, its page (relative to the data root) and estimates."""

    request_id: str
    image: str | None
    tokens: int  # estimated prompt tokens (text + billed image tokens)
    est_usd: float  # worst-case cost at batch prices

    @classmethod
    def of(cls, raw) -> "Item":
        return cls(str(raw[0]), raw[1], int(raw[2]), float(raw[3]))


@dataclass(frozen=True)
class LeftoverFile:
    """A file uploaded to (or produced at) the provider that gemflow has not deleted yet."""

    teacher: str
    file_id: str
    kind: str  # input | output | error
    owner: str  # the batch (or intent) it belongs to


def items_of(detail: dict) -> list[Item]:
    return [Item.of(x) for x in detail.get("items", [])]


def dump_items(items: list[Item]) -> list[list]:
    return [list(astuple(i)) for i in items]


def open_rows(ledger: Ledger, teacher: str, prefix: str | None = None) -> list[dict]:
    """Open rows of one kind: `QUEUE`, `INTENT`, `FILE`, or None for provider batches."""
    rows = ledger.batch_open(teacher)
    if prefix is None:
        return [r for r in rows if not r["batch_id"].startswith((QUEUE, INTENT, FILE))]
    return [r for r in rows if r["batch_id"].startswith(prefix)]


def add_queue(ledger: Ledger, teacher: str, items: list[Item]) -> str | None:
    """Journal requests as waiting for a wave (one transaction); returns the queue row id."""
    if not items:
        return None
    qid = QUEUE + uuid.uuid4().hex
    ledger.batch_upsert(qid, teacher, "queued", detail={"items": dump_items(items)})
    return qid


def busy_ids(ledger: Ledger, teacher: str) -> set[str]:
    """Requests in this teacher's intents and open provider batches (at the provider, or about to be)."""
    out: set[str] = set()
    for row in open_rows(ledger, teacher, INTENT) + open_rows(ledger, teacher):
        out.update(i.request_id for i in items_of(row["detail"]))
        out.update(ledger.batch_requests(row["batch_id"]))
    return out


def open_request_ids(ledger: Ledger, teacher: str) -> set[str]:
    """Requests a batch holds or will hold: queued, in an intent, or in an open provider batch (ledger only)."""
    queued = {i.request_id for row in open_rows(ledger, teacher, QUEUE) for i in items_of(row["detail"])}
    return queued | busy_ids(ledger, teacher)


def note_file(ledger: Ledger, teacher: str, file_id: str | None, kind: str, owner: str) -> None:
    """Journal a file that exists at the provider, owned by a batch or intent (idempotent; deleted stays deleted)."""
    if not file_id:
        return
    live = {r["batch_id"]: r["detail"] for r in open_rows(ledger, teacher, FILE)}
    if live.get(FILE + file_id, {}).get("owner") == owner or _is_deleted(ledger, file_id):
        return
    ledger.batch_upsert(FILE + file_id, teacher, FILE_LIVE, input_file_id=file_id,
                        detail={"kind": kind, "owner": owner})


def _is_deleted(ledger: Ledger, file_id: str) -> bool:
    return ledger.batch_has_status(FILE + file_id, FILE_DELETED)


def mark_deleted(ledger: Ledger, teacher: str, file_id: str) -> None:
    ledger.batch_upsert(FILE + file_id, teacher, FILE_DELETED)


def leftover_files(ledger: Ledger) -> list[LeftoverFile]:
    """Every journaled provider file not deleted yet, all teachers (the ledger's record; no network)."""
    teachers = sorted({t for t, _ in ledger.counts()})
    return [LeftoverFile(t, r["input_file_id"], r["detail"].get("kind", "?"), r["detail"].get("owner", "?"))
            for t in teachers for r in open_rows(ledger, t, FILE)]
