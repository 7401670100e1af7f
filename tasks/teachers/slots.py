"""The cross-process in-flight cap of a teacher: slot leases in a small SQLite file, reclaimed when their holder dies.

Why not a Prefect global concurrency limit: `concurrency()` holds its slots under a lease that only
the Prefect server's repossessor expires. In ephemeral mode (no `prefect server start`) nothing
runs it, so the slots of a process killed with SIGKILL stay taken and the next run waits forever.

Here each slot is a row (limit name, holder, pid, host, expiry). A holder renews its rows every
`renew_s` from a daemon thread; a row is free again as soon as
- its expiry has passed (a holder on another host that died, or a hung one), or
- its holder ran on this host and its pid is gone (a SIGKILLed process: reclaimed at once).
Every acquisition reaps such rows first, in the same transaction that counts and inserts.
"""
from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from storage.atomic import pid_alive

_DDL = """
CREATE TABLE IF NOT EXISTS slots (
    slot_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS slots_name ON slots(name);
"""


class SlotFile:
    """The slot leases of every teacher sharing one file (one per Prefect home); one object per process."""

    def __init__(self, path: str | Path, lease_s: float = 30.0, renew_s: float = 5.0, poll_s: float = 0.05):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_s, self.renew_s, self.poll_s = lease_s, renew_s, poll_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._con = self._connect()
        self._renewer: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_DDL)
        return con

    def _reap(self, con: sqlite3.Connection, now: float) -> int:
        dead = [(sid,) for sid, pid in con.execute("SELECT slot_id, pid FROM slots WHERE host=?", (self.host,))
                if pid != self.pid and not pid_alive(pid)]
        con.executemany("DELETE FROM slots WHERE slot_id=?", dead)
        return len(dead) + con.execute("DELETE FROM slots WHERE expires_at < ?", (now,)).rowcount

    def reap(self) -> int:
        """Free the slots of dead or expired holders now; returns how many (also done by every acquisition)."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                n = self._reap(self._con, time.time())
            finally:
                self._con.execute("COMMIT")
        return n

    def try_acquire(self, name: str, limit: int) -> str | None:
        """One slot of `name` if fewer than `limit` are held (after reaping); its id, else None."""
        now = time.time()
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._reap(self._con, now)
                held = self._con.execute("SELECT COUNT(*) FROM slots WHERE name=?", (name,)).fetchone()[0]
                if held >= limit:
                    return None
                sid = uuid.uuid4().hex
                self._con.execute("INSERT INTO slots VALUES (?,?,?,?,?,?)",
                                  (sid, name, self.holder, self.pid, self.host, now + self.lease_s))
                self._held.add(sid)
            finally:
                self._con.execute("COMMIT")
        self._start_renewer()
        return sid

    def release(self, slot_id: str) -> None:
        with self._lock:
            self._held.discard(slot_id)
            self._con.execute("DELETE FROM slots WHERE slot_id=?", (slot_id,))

    def held(self, name: str) -> int:
        """Slots of `name` taken right now by any live holder."""
        self.reap()
        return int(self._con.execute("SELECT COUNT(*) FROM slots WHERE name=?", (name,)).fetchone()[0])

    def renew(self) -> None:
        with self._lock:
            ids = list(self._held)
            if ids:
                self._con.executemany("UPDATE slots SET expires_at=? WHERE slot_id=?",
                                      [(time.time() + self.lease_s, sid) for sid in ids])

    def _start_renewer(self) -> None:
        if self._renewer is not None and self._renewer.is_alive():
            return

        def loop() -> None:
            while True:
                time.sleep(self.renew_s)
                try:
                    self.renew()
                except sqlite3.Error:
                    pass  # a busy file: the next renewal, well within the lease, tries again

        self._renewer = threading.Thread(target=loop, name="gemflow-slot-renewer", daemon=True)
        self._renewer.start()

    @asynccontextmanager
    async def slot(self, name: str, limit: int) -> AsyncIterator[None]:
        """Hold one slot of `name` while the body runs (waits, polling, until one is free)."""
        sid = self.try_acquire(name, limit)
        while sid is None:
            await asyncio.sleep(self.poll_s)
            sid = self.try_acquire(name, limit)
        try:
            yield
        finally:
            self.release(sid)
