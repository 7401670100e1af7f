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
from dataclasses import astuple, dataclass, field, fields
from typing import Any

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


@dataclass
class BatchDetail:
    """A `batches` row's JSON `detail`, typed; which row kinds set a field is said beside it.

    `dump()` writes the same JSON keys the journal always held (None fields left out), and `of()`
    reads any row written before; keys it does not know are kept in `extra` and written back."""

    items: list[Item] = field(default_factory=list)  # queue, intent and batch rows: the requests
    key: str | None = None  # intent and batch rows: the JSONL's key (the batch's metadata too)
    since: float | None = None  # intent rows: when the upload began (to find it again after a crash)
    tokens: int | None = None  # batch rows: estimated prompt tokens
    batch_id: str | None = None  # a completed intent: the batch it created
    kind: str | None = None  # file rows: input | output | error
    owner: str | None = None  # file rows: the batch or intent the file belongs to
    final_status: str | None = None  # collected batch rows: the provider's last status
    answered: int | None = None  # collected batch rows
    requeued: int | None = None  # collected batch rows: requests put back in the queue
    dropped: str | None = None  # queue rows dropped when the teacher went synchronous ("sync")
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: dict) -> "BatchDetail":
        known = {f.name for f in fields(cls)} - {"items", "extra"}
        return cls(items=[Item.of(x) for x in raw.get("items", [])],
                   extra={k: v for k, v in raw.items() if k not in known and k != "items"},
                   **{k: v for k, v in raw.items() if k in known})

    def dump(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("items", "extra")
               and getattr(self, f.name) is not None}
        if self.items:
            out["items"] = [list(astuple(i)) for i in self.items]
        return {**self.extra, **out}


@dataclass(frozen=True)
class BatchRow:
    """One open row of the `batches` table, its detail typed."""

    batch_id: str
    input_file_id: str | None
    status: str
    detail: BatchDetail


def open_rows(ledger: Ledger, teacher: str, prefix: str | None = None) -> list[BatchRow]:
    """Open rows of one kind: `QUEUE`, `INTENT`, `FILE`, or None for provider batches."""
    rows = [BatchRow(r["batch_id"], r["input_file_id"], r["status"], BatchDetail.of(r["detail"]))
            for r in ledger.batch_open(teacher)]
    if prefix is None:
        return [r for r in rows if not r.batch_id.startswith((QUEUE, INTENT, FILE))]
    return [r for r in rows if r.batch_id.startswith(prefix)]


def add_queue(ledger: Ledger, teacher: str, items: list[Item]) -> str | None:
    """Journal requests as waiting for a wave (one transaction); returns the queue row id."""
    if not items:
        return None
    qid = QUEUE + uuid.uuid4().hex
    ledger.batch_upsert(qid, teacher, "queued", detail=BatchDetail(items=items).dump())
    return qid


def busy_ids(ledger: Ledger, teacher: str) -> set[str]:
    """Requests in this teacher's intents and open provider batches (at the provider, or about to be)."""
    out: set[str] = set()
    for row in open_rows(ledger, teacher, INTENT) + open_rows(ledger, teacher):
        out.update(i.request_id for i in row.detail.items)
        out.update(ledger.batch_requests(row.batch_id))
    return out


def open_request_ids(ledger: Ledger, teacher: str) -> set[str]:
    """Requests a batch holds or will hold: queued, in an intent, or in an open provider batch (ledger only)."""
    queued = {i.request_id for row in open_rows(ledger, teacher, QUEUE) for i in row.detail.items}
    return queued | busy_ids(ledger, teacher)


def note_file(ledger: Ledger, teacher: str, file_id: str | None, kind: str, owner: str) -> None:
    """Journal a file that exists at the provider, owned by a batch or intent (idempotent; deleted stays deleted)."""
    if not file_id:
        return
    live = {r.batch_id: r.detail for r in open_rows(ledger, teacher, FILE)}
    if live.get(FILE + file_id, BatchDetail()).owner == owner or _is_deleted(ledger, file_id):
        return
    ledger.batch_upsert(FILE + file_id, teacher, FILE_LIVE, input_file_id=file_id,
                        detail=BatchDetail(kind=kind, owner=owner).dump())


def _is_deleted(ledger: Ledger, file_id: str) -> bool:
    return ledger.batch_has_status(FILE + file_id, FILE_DELETED)


def mark_deleted(ledger: Ledger, teacher: str, file_id: str) -> None:
    ledger.batch_upsert(FILE + file_id, teacher, FILE_DELETED)


def leftover_files(ledger: Ledger) -> list[LeftoverFile]:
    """Every journaled provider file not deleted yet, all teachers (the ledger's record; no network)."""
    teachers = sorted({t for t, _ in ledger.counts()})
    return [LeftoverFile(t, r.input_file_id, r.detail.kind or "?", r.detail.owner or "?")
            for t in teachers for r in open_rows(ledger, t, FILE)]
