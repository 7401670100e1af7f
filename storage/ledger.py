"""The request ledger: every teacher call journaled before and after it is sent (SQLite, WAL, durable).

Why SQLite and not a Parquet file: a request must be on disk *before* its HTTP call and its
result *right after*, from several processes at once, and survive `kill -9` at any instant.
SQLite's WAL journal does exactly that with one fsync per transaction. The `responses` Parquet
table (and the DuckDB catalog view) is a snapshot of this ledger, refreshed after every stage.

States: `pending` (registered, never sent) -> `sent` (a call is in flight) -> `done` | `failed`.
A `sent` row found at startup was in flight when a process died: it may be sent once more, and
`sends` counts how often that happened so it is reported, never hidden.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa

from schemas.teacher import RESPONSES_SCHEMA, FinishedCall, TeacherRequest, TeacherResponse

_DDL = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    teacher TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    parent_request_id TEXT,
    instruction TEXT,
    request_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER DEFAULT 0,
    output_tokens INTEGER DEFAULT 0,
    cost_usd REAL DEFAULT 0,
    latency_s REAL DEFAULT 0,
    finish_reason TEXT,
    text TEXT,
    reasoning TEXT,
    error TEXT,
    batch_id TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS requests_record ON requests(record_id);
CREATE INDEX IF NOT EXISTS requests_state ON requests(teacher, state);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    input_file_id TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    detail TEXT
);
"""


class Ledger:
    """One SQLite file per dataset root; safe for several processes, one short transaction per change."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(_DDL)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def register(self, requests: Iterable[TeacherRequest]) -> int:
        """Journal requests before any is sent; an id already there is left as it is. Returns how many are new."""
        now = time.time()
        rows = [(r.request_id, r.record_id, r.teacher, r.model, r.prompt_version, r.round,
                 r.parent_request_id, r.instruction, r.model_dump_json(), now) for r in requests]
        with self._tx() as con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO requests (request_id, record_id, teacher, model, prompt_version, round,"
                " parent_request_id, instruction, request_json, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            return con.total_changes - before

    def mark_sent(self, request_id: str) -> None:
        """Journal that a call is about to go out (durably, before the bytes leave).

        `sends` counts first sends and sends after a crash (a row still `sent`); a deliberate retry of a
        `failed` request on a later run is not a resend and leaves it unchanged.
        """
        with self._tx() as con:
            con.execute("UPDATE requests SET state='sent', sends=sends+(state!='failed'), sent_at=?"
                        " WHERE request_id=?", (time.time(), request_id))

    def record(self, resp: TeacherResponse) -> None:
        """Journal a call's outcome; `done` rows are never sent again. Cost adds up over a request's sends."""
        state = "done" if resp.status == "ok" else "failed"
        with self._tx() as con:
            con.execute(
                "UPDATE requests SET state=?, attempts=attempts+?, input_tokens=?, output_tokens=?, cost_usd=cost_usd+?,"
                " latency_s=?, finish_reason=?, text=?, reasoning=?, error=?, done_at=? WHERE request_id=?",
                (state, resp.attempts, resp.input_tokens, resp.output_tokens, resp.cost_usd, resp.latency_s,
                 resp.finish_reason, resp.text, resp.reasoning, resp.error, time.time(), resp.request_id))

    def record_many(self, responses: Iterable[TeacherResponse]) -> int:
        """Journal many outcomes in one transaction (Batch API results); rows already `done` are kept."""
        rows = [("done" if r.status == "ok" else "failed", r.attempts, r.input_tokens, r.output_tokens, r.cost_usd,
                 r.latency_s, r.finish_reason, r.text, r.reasoning, r.error, time.time(), r.request_id)
                for r in responses]
        with self._tx() as con:
            before = con.total_changes
            con.executemany(
                "UPDATE requests SET state=?, attempts=attempts+?, input_tokens=?, output_tokens=?, cost_usd=cost_usd+?,"
                " latency_s=?, finish_reason=?, text=?, reasoning=?, error=?, done_at=? WHERE request_id=?"
                " AND state!='done'", rows)
            return con.total_changes - before

    def set_batch(self, request_ids: Iterable[str], batch_id: str) -> None:
        """Journal that requests went out in a Batch API batch (counted like `mark_sent`; idempotent per batch)."""
        with self._tx() as con:
            con.executemany("UPDATE requests SET sends=sends+(state!='failed'), batch_id=?, state='sent', sent_at=?"
                            " WHERE request_id=? AND COALESCE(batch_id,'')!=? AND state!='done'",
                            [(batch_id, time.time(), rid, batch_id) for rid in request_ids])

    def states(self, request_ids: Iterable[str]) -> dict[str, str]:
        return self._column_by_id("state", request_ids)

    def _column_by_id(self, column: str, request_ids: Iterable[str]) -> dict:
        """request id -> one column of `requests` (a fixed column name), read 500 ids at a time."""
        ids = list(request_ids)
        out: dict = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"SELECT request_id, {column} FROM requests WHERE request_id IN ({','.join('?' * len(part))})"
            out.update(dict(self._con.execute(q, part).fetchall()))
        return out

    def requests_by_id(self, request_ids: Iterable[str]) -> dict[str, TeacherRequest]:
        """The journaled requests of these ids (those the ledger knows)."""
        return {rid: TeacherRequest.model_validate_json(js)
                for rid, js in self._column_by_id("request_json", request_ids).items()}

    def unfinished(self, teacher: str | None = None) -> list[TeacherRequest]:
        """Requests registered but not done (pending, in flight at a crash, or failed), oldest first."""
        q = "SELECT request_json FROM requests WHERE state != 'done'"
        args: tuple = ()
        if teacher:
            q += " AND teacher=?"
            args = (teacher,)
        return [TeacherRequest.model_validate_json(r[0]) for r in self._con.execute(q + " ORDER BY created_at", args)]

    def records_with(self, teacher: str, prompt_version: str, rounds: tuple[int, ...] | None = None,
                     states: tuple[str, ...] | None = None) -> set[str]:
        """Record ids that have a request for this teacher and prompt version (optionally by round/state)."""
        q = "SELECT DISTINCT record_id FROM requests WHERE teacher=? AND prompt_version=?"
        args: list = [teacher, prompt_version]
        if rounds is not None:
            q += f" AND round IN ({','.join('?' * len(rounds))})"
            args += list(rounds)
        if states is not None:
            q += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        return {r[0] for r in self._con.execute(q, args)}

    _FINISHED = ("SELECT request_json, state, text, reasoning, finish_reason, error, input_tokens, output_tokens,"
                 " cost_usd, latency_s, attempts FROM requests WHERE state IN ('done','failed')")

    @staticmethod
    def _call(row: tuple) -> FinishedCall:
        raw, state, text, reasoning, finish, error, n_in, n_out, cost, latency, attempts = row
        req = TeacherRequest.model_validate_json(raw)
        resp = TeacherResponse(request_id=req.request_id, status="ok" if state == "done" else "failed",
                               text=text or "", reasoning=reasoning, finish_reason=finish, error=error,
                               input_tokens=n_in or 0, output_tokens=n_out or 0, cost_usd=cost or 0.0,
                               latency_s=latency or 0.0, attempts=attempts or 0)
        return FinishedCall(request=req, response=resp)

    def finished(self, teacher: str | None = None, prompt_version: str | None = None) -> list[FinishedCall]:
        """Finished requests (done or failed), each with its request and its outcome, oldest first."""
        q, args = self._FINISHED, []
        if teacher:
            q, args = q + " AND teacher=?", args + [teacher]
        if prompt_version:
            q, args = q + " AND prompt_version=?", args + [prompt_version]
        return [self._call(r) for r in self._con.execute(q + " ORDER BY created_at", args)]

    def finished_by_id(self, request_ids: Iterable[str]) -> dict[str, FinishedCall]:
        """The finished calls among these request ids."""
        ids, out = list(request_ids), {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"{self._FINISHED} AND request_id IN ({','.join('?' * len(part))})"
            out.update((c.request.request_id, c) for c in map(self._call, self._con.execute(q, part)))
        return out

    def adopt_legacy(self, requests: list[TeacherRequest]) -> list[TeacherRequest]:
        """The requests, each under the id this ledger already knows it by (the compatibility rule for old ledgers).

        Ledgers written before request ids included the teacher name hold the teacher-less id
        (`legacy_request_id`). A request whose new id is absent but whose legacy id is there *for the
        same teacher* keeps the legacy id, so its answer is found and it is never sent again; a second
        teacher on the same model gets its own new id.
        """
        legacy = [r.legacy_request_id for r in requests if r.legacy_request_id]
        if not legacy:
            return requests
        have_new = set(self._existing(r.request_id for r in requests))
        old = self._existing_with_teacher(legacy)
        return [r.model_copy(update={"request_id": r.legacy_request_id})
                if r.request_id not in have_new and old.get(r.legacy_request_id) == r.teacher else r
                for r in requests]

    def _existing(self, request_ids: Iterable[str]) -> set[str]:
        return set(self._existing_with_teacher(request_ids))

    def _existing_with_teacher(self, request_ids: Iterable[str]) -> dict[str, str]:
        return self._column_by_id("teacher", request_ids)

    def attempts(self, request_ids: Iterable[str]) -> dict[str, int]:
        """Attempts made so far, over every run, per request id."""
        return self._column_by_id("attempts", request_ids)

    def return_to_pending(self, request_ids: Iterable[str], attempts: int = 0) -> None:
        """Put requests back to `pending` (not failed): an account-wide stop, or a batch that did not run them.

        `attempts` attempts are still counted (a billed call that was cut short counts towards the cap);
        the send is undone, so the next send is not counted as a resend after a crash.
        """
        with self._tx() as con:
            con.executemany("UPDATE requests SET sends=MAX(sends-(state='sent'), 0), state='pending', batch_id=NULL,"
                            " attempts=attempts+? WHERE request_id=? AND state!='done'",
                            [(attempts, rid) for rid in request_ids])

    def with_children(self, request_ids: Iterable[str]) -> set[str]:
        """The given requests that already have a regeneration (a request naming them as parent)."""
        ids = list(request_ids)
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"SELECT DISTINCT parent_request_id FROM requests WHERE parent_request_id IN ({','.join('?' * len(part))})"
            out |= {r[0] for r in self._con.execute(q, part)}
        return out

    def spent_usd(self, teacher: str | None = None) -> float:
        q, args = "SELECT COALESCE(SUM(cost_usd),0) FROM requests", ()
        if teacher:
            q, args = q + " WHERE teacher=?", (teacher,)
        return float(self._con.execute(q, args).fetchone()[0])

    def cost_by_teacher(self) -> list[tuple[str, float, int, float]]:
        """(teacher, spent USD, done requests, USD per done request) for cost-so-far and projections."""
        rows = self._con.execute(
            "SELECT teacher, COALESCE(SUM(cost_usd),0), SUM(state='done') FROM requests GROUP BY teacher ORDER BY 1")
        return [(t, float(c), int(n or 0), float(c) / n if n else 0.0) for t, c, n in rows]

    def cost_projection(self) -> list[dict]:
        """Per teacher: spent USD, done and not-done requests, USD per done request, and the projected total."""
        rows = self._con.execute(
            "SELECT teacher, COALESCE(SUM(cost_usd),0), SUM(state='done'), SUM(state!='done') FROM requests"
            " GROUP BY teacher ORDER BY 1").fetchall()
        out = []
        for teacher, spent, done, todo in rows:
            per = float(spent) / done if done else 0.0
            out.append({"teacher": teacher, "spent_usd": float(spent), "done": int(done or 0),
                        "pending": int(todo or 0), "usd_per_done": per,
                        "projected_usd": float(spent) + per * int(todo or 0)})
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        rows = self._con.execute("SELECT teacher, state, COUNT(*) FROM requests GROUP BY teacher, state")
        return {(t, s): n for t, s, n in rows}

    def resent(self) -> int:
        """How many requests went out more than once (in flight at a crash)."""
        return int(self._con.execute("SELECT COUNT(*) FROM requests WHERE sends > 1").fetchone()[0])

    def snapshot(self) -> pa.Table:
        """The whole ledger as the `responses` table."""
        cols = [f.name for f in RESPONSES_SCHEMA]
        sel = ", ".join("state AS status" if c == "status" else c for c in cols)
        cur = self._con.execute(f"SELECT {sel} FROM requests ORDER BY created_at, request_id")
        rows = cur.fetchall()
        data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        return pa.Table.from_pydict(data, schema=RESPONSES_SCHEMA)

    def batch_requests(self, batch_id: str) -> list[str]:
        """Request ids journaled as sent in a batch."""
        return [r[0] for r in self._con.execute("SELECT request_id FROM requests WHERE batch_id=?", (batch_id,))]

    def batch_has_status(self, batch_id: str, status: str) -> bool:
        """Whether the batches journal holds `batch_id` with exactly this status."""
        return self._con.execute("SELECT 1 FROM batches WHERE batch_id=? AND status=?",
                                 (batch_id, status)).fetchone() is not None

    def batch_open(self, teacher: str) -> list[dict]:
        rows = self._con.execute(
            "SELECT batch_id, input_file_id, status, detail FROM batches WHERE teacher=? AND status NOT IN"
            " ('completed','failed','expired','cancelled','collected')", (teacher,)).fetchall()
        return [{"batch_id": b, "input_file_id": f, "status": s, "detail": json.loads(d or "{}")} for b, f, s, d in rows]

    def batch_upsert(self, batch_id: str, teacher: str, status: str, input_file_id: str | None = None,
                     detail: dict | None = None) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO batches (batch_id, teacher, input_file_id, status, created_at, detail) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(batch_id) DO UPDATE SET status=excluded.status,"
                " input_file_id=COALESCE(excluded.input_file_id, batches.input_file_id),"
                " detail=COALESCE(excluded.detail, batches.detail)",
                (batch_id, teacher, input_file_id, status, time.time(), json.dumps(detail) if detail else None))
