"""The writer lock of an s3:// root: an object created only if absent, held under a lease its holder renews.

The lock object (`<prefix>/.writer.lock`) says who holds it: machine (host name and boot id), pid,
what it runs, since when, a random token, and `expires`, the end of its lease (`lease_s` seconds
after the last renewal, on the holder's clock). While held, a daemon thread renews it every
`lease_s / 4`: a PUT with `If-Match: <the ETag of our last write>`, so a renewal can never
overwrite a lock someone else has taken.

Who may break a lock that is there:
- the same machine: only when the holder's pid is gone (`storage.atomic.pid_alive`), as before;
  a live process there is never broken, renewing or not;
- another machine: only once the lease is over, `expires + skew_s` on the breaker's clock
  (`skew_s` allows for clocks that differ between machines; keep `lease_s` and `skew_s` well above
  the clock error you have, NTP keeps it far below a second);
- a lock object that cannot be read, or one of an older version with no lease: never (the
  message names the key to delete by hand).

Breaking is itself one conditional request: the breaker PUTs its own lock body with `If-Match:
<the ETag of the stale body it read>`. Of two breakers that read the same stale lock, the store
accepts one PUT; the other gets 412 and reads the lock again, now a live holder. A holder that
could not renew for a whole lease (partitioned, suspended) finds its next renewal refused: it
stops renewing, records `lost`, and its release deletes nothing (it warns).

Fencing: a holder that lost its lease must not commit. Just before each commit (a shard's table
parts, a ledger snapshot, an export; `fence`), the lock object is read again: unless it still
carries the committing run's token *and* the lease it states has at least `margin_s` left, the
commit is refused with `LeaseLost` (the shard fails; the rerun takes the lock anew). The flow
process checks the lock it holds; a worker process (Dask, a process pool) checks the token the flow
handed it with the root (`DataRoot.handle()`, `check_lease`); a process with neither is refused
while any lock object is there. A breaker
on another machine waits for `expires + skew_s`, so a commit that passed the check and is sent
within `margin_s + skew_s` cannot land after the lock changed hands. That bound is what a
read-then-write check gives on a store without multi-object transactions: it assumes a commit's
PUTs take less than `margin_s + skew_s` (default 30 + 30 s) in all, that this process is not paused
between the check and the PUTs for that long, and (for a worker) that the worker's clock is within
`skew_s` of the holder's.

An `If-Match` or `If-None-Match` request that s3fs retried after a network error can fail its
own condition although its first try landed: every refused request is therefore followed by a
read, and a lock body carrying our token is ours.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import conditional
from storage.atomic import pid_alive

log = logging.getLogger(__name__)
DEFAULT_LEASE_S = 120.0
DEFAULT_SKEW_S = 30.0


def _seconds(env: str, default: float, least: float) -> float:
    """A duration from the environment; the default when it is unset, not a number, or below `least`."""
    try:
        value = float(os.environ.get(env, default))
    except ValueError:
        return default
    return value if value >= least else default


def _machine() -> str:
    """This machine's name plus its boot id: two containers both called `localhost` still differ."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        boot = "noboot"
    return f"{socket.gethostname()}/{boot}"


@dataclass
class LockHolder:
    """What a lock object says about its holder (`expires` is None for a lock written without a lease)."""

    machine: str
    pid: int
    note: str
    since: float
    token: str
    expires: float | None = None

    @classmethod
    def parse(cls, data: bytes) -> "LockHolder":
        """The holder a lock body names; an unreadable body is an 'unknown' holder that is never broken."""
        try:
            d = json.loads(data)
            expires = d.get("expires")
            return cls(str(d["machine"]), int(d["pid"]), str(d.get("note", "")), float(d["since"]),
                       str(d["token"]), None if expires is None else float(expires))
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls("unknown", -1, "(unreadable lock object)", 0.0, "")

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        text = f"pid {self.pid} on {self.machine} {self.note} since {when}"
        if self.expires is not None:
            text += f", lease until {time.strftime('%H:%M:%S UTC', time.gmtime(self.expires))}"
        return text

    def dead_here(self) -> bool:
        """The holder ran on this machine and its process is gone (it was killed): the lock is stale."""
        return self.machine == _machine() and not pid_alive(self.pid)

    def breakable(self, now: float, skew_s: float) -> bool:
        """Same machine: its process is gone. Another machine: its lease ran out `skew_s` ago."""
        if not self.token:
            return False
        if self.machine == _machine():
            return not pid_alive(self.pid)
        return self.expires is not None and now > self.expires + skew_s


class LeaseLost(RuntimeError):
    """The committing run's writer lock is no longer its own (or its lease is about to end): nothing may be
    committed. `taken`: the lock object carries another token (or none), not merely a short lease.

    Retryable in the sense that nothing was written: the run fails, and a rerun takes the lock anew."""

    def __init__(self, message: str, taken: bool = False):
        super().__init__(message)
        self.taken = taken

    def __reduce__(self):  # raised on a Dask worker, re-raised in the flow: keep `taken`
        return type(self), (str(self), self.taken)


_HELD: dict[str, "ObjectLock"] = {}  # key -> the lock this process holds on it (what `fence` checks)
_HELD_MUTEX = threading.Lock()


def _margin(skew_s: float) -> float:
    """How much lease a commit needs left: the clock-skew allowance, at least 1 s."""
    return max(1.0, skew_s)


def check_lease(fs: Any, key: str, token: str, margin_s: float | None = None) -> LockHolder:
    """`LeaseLost` unless the lock object `key` carries `token` with at least `margin_s` of its lease left
    (default: GEMFLOW_LOCK_SKEW_S, at least 1 s); one GET. Returns the holder it read (ours)."""
    margin = _margin(_seconds("GEMFLOW_LOCK_SKEW_S", DEFAULT_SKEW_S, least=0.0)) if margin_s is None else margin_s
    seen = conditional.get_versioned(fs, key)
    holder = LockHolder.parse(seen[0]) if seen is not None else None
    if not token or holder is None or holder.token != token:
        now = holder.describe() if holder is not None else "nobody"
        raise LeaseLost(f"not committed: the lease on {key} was lost (the lock is now held by {now})", taken=True)
    left = (holder.expires or 0.0) - time.time()
    if left < margin:
        raise LeaseLost(f"not committed: the lease on {key} has {left:.1f} s left (< {margin:.0f} s);"
                        " renewals are failing")
    return holder


def held_token(key: str) -> str:
    """The token of the lock this process holds on `key` ("" when it holds none): what its workers fence with."""
    with _HELD_MUTEX:
        lock = _HELD.get(key)
    return lock.token if lock is not None else ""


def fence(key: str, fs: Any = None, lease: str = "") -> None:
    """Before a commit under the lock `key`: `LeaseLost` unless the commit's lease is still the lock's.

    - This process holds the lock (the flow process, its threads): the lock must still be its own
      (`ObjectLock.check_held`), and be the one `lease` names, when given.
    - Otherwise, with `lease` (a worker process committing for the flow that holds the lock, handed
      its token through `DataRoot.handle`): the lock object must still carry that token, with the
      margin left (`check_lease`).
    - With neither, but `fs` given (a commit on a root by a process that holds no lease): refused
      while any lock object is there, since someone else is writing the root; an unlocked root
      (no lock object) is written as before. Without `fs` nothing is checked."""
    with _HELD_MUTEX:
        lock = _HELD.get(key)
    if lock is not None and (not lease or lease == lock.token):
        lock.check_held()
        return
    fs = fs if fs is not None else getattr(lock, "fs", None)
    if fs is None:  # a caller that names only the key (an evaluation run's lock): only its own lock is checked
        return
    if lease:
        check_lease(fs, key, lease)
        return
    seen = conditional.get_versioned(fs, key)
    if seen is not None:
        raise LeaseLost(f"not committed: {key} is held by {LockHolder.parse(seen[0]).describe()}, and this"
                        " process holds no lease on it (a shard task must be handed the flow's DataRoot.handle())",
                        taken=True)


class ObjectLockBusy(RuntimeError):
    def __init__(self, key: str, holder: str):
        super().__init__(f"{key} is held by {holder}")
        self.key, self.holder = key, holder


class ObjectLock:
    """A single-writer lock object on the store, under a renewed lease (the module docstring says the rules).

    `lease_s` and `skew_s` default to GEMFLOW_LOCK_LEASE_S (120) and GEMFLOW_LOCK_SKEW_S (30)."""

    def __init__(self, fs: Any, key: str, note: str = "", lease_s: float | None = None,
                 skew_s: float | None = None):
        self.fs, self.key, self.note = fs, key, note
        self.lease_s = lease_s or _seconds("GEMFLOW_LOCK_LEASE_S", DEFAULT_LEASE_S, least=1.0)
        self.skew_s = _seconds("GEMFLOW_LOCK_SKEW_S", DEFAULT_SKEW_S, least=0.0) if skew_s is None else skew_s
        self.token, self.etag, self.since, self.lost = "", "", 0.0, ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _body(self, token: str) -> bytes:
        return json.dumps({"machine": _machine(), "pid": os.getpid(), "note": self.note, "since": self.since,
                           "token": token, "expires": time.time() + self.lease_s, "lease_s": self.lease_s}).encode()

    def acquire(self) -> "ObjectLock":
        for _ in range(5):
            token = uuid.uuid4().hex
            self.since = time.time()
            try:
                return self._own(token, conditional.put_if_absent(self.fs, self.key, self._body(token)))
            except conditional.PreconditionFailed:
                pass
            seen = conditional.get_versioned(self.fs, self.key)
            if seen is None:  # let go between our put and our read: try again
                continue
            holder = LockHolder.parse(seen[0])
            if holder.token == token:  # our put landed after all (a retried request failed its own condition)
                return self._own(token, seen[1])
            if not holder.breakable(time.time(), self.skew_s):
                raise ObjectLockBusy(self.key, holder.describe())
            log.warning("taking over the stale lock %s (%s)", self.key, holder.describe())
            try:
                return self._own(token, conditional.put_if_match(self.fs, self.key, self._body(token), seen[1]))
            except conditional.PreconditionFailed:
                continue  # another writer changed it first: look again
        raise ObjectLockBusy(self.key, "another writer (the lock changed hands while it was being taken)")

    def _own(self, token: str, etag: str) -> "ObjectLock":
        self.token, self.etag, self.lost = token, etag, ""
        with _HELD_MUTEX:
            _HELD[self.key] = self
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {self.key}", daemon=True)
        self._thread.start()
        return self

    def holder(self) -> LockHolder | None:
        seen = conditional.get_versioned(self.fs, self.key)
        return None if seen is None else LockHolder.parse(seen[0])

    def renew(self) -> bool:
        """Extend the lease once; False (and `lost` set) when the lock is no longer ours."""
        with self._mutex:
            if not self.token or self.lost:
                return False
            try:
                self.etag = conditional.put_if_match(self.fs, self.key, self._body(self.token), self.etag)
                return True
            except conditional.PreconditionFailed:
                seen = conditional.get_versioned(self.fs, self.key)
                if seen is not None and LockHolder.parse(seen[0]).token == self.token:
                    self.etag = seen[1]  # our own retried renewal landed
                    return True
                now = LockHolder.parse(seen[0]).describe() if seen else "nobody"
                self.lost = f"the lease on {self.key} was lost (the lock is now held by {now})"
                log.warning(self.lost)
                return False

    def check_held(self, margin_s: float | None = None) -> None:
        """`LeaseLost` unless the lock object carries our token with at least `margin_s` of its lease left
        (default: `skew_s`, at least 1 s); one GET. A lost lock is recorded, so it is not released."""
        margin = _margin(self.skew_s) if margin_s is None else margin_s
        try:
            check_lease(self.fs, self.key, self.token, margin)
        except LeaseLost as exc:
            if exc.taken:  # recorded, so that release deletes nothing
                with self._mutex:
                    self.lost = self.lost or str(exc).removeprefix("not committed: ")
            raise

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # noqa: BLE001 - a network error: the next tick tries again
                log.warning("renewing %s failed (%s); retrying", self.key, exc)

    def release(self) -> None:
        self._stop.set()
        with _HELD_MUTEX:
            if _HELD.get(self.key) is self:
                del _HELD[self.key]
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._mutex:
            if self.token and not self.lost:
                self._delete_if_ours()
            elif self.lost:
                log.warning("%s: not released, %s", self.key, self.lost)
            self.token = ""

    def _delete_if_ours(self) -> None:
        """Delete the lock object if it still carries our token, conditionally on the version that does."""
        seen = conditional.get_versioned(self.fs, self.key)
        if seen is None or LockHolder.parse(seen[0]).token != self.token:
            log.warning("%s changed hands before it was released; left as it is", self.key)
            return
        try:
            conditional.delete_if_match(self.fs, self.key, seen[1])
        except conditional.PreconditionFailed:
            log.warning("%s changed hands before it was released; left as it is", self.key)
