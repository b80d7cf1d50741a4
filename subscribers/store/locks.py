"""Leases in the store: a named lock with an owner and an expiry, shared by every process.

Two ``morningpost run`` processes, or two schedulers on two machines, must not draft the
same issue at once, and no send may start while a draft is being written. A PID file only
sees one machine; a row in the store is seen by all of them. A lock is a row ``(name,
owner, expires_at)``:

- acquire: INSERT the row (the primary key lets exactly one of two racers in), else take
  it over with one conditional UPDATE ``WHERE name = :n AND (expires_at < :now OR owner =
  :me)``; both are atomic on SQLite and PostgreSQL alike, no ``SELECT ... FOR UPDATE``.
- a holder renews its lease (heartbeat) well before it runs out; a holder that crashed
  stops renewing, and its lock is free again once ``expires_at`` has passed.
- release: DELETE the row, only if it is still ours.

Sending holds no lock: any number of processes may send one issue at once. What makes
each delivery go out once is the ledger, whose rows carry their own owner and lease
(``subscribers.store.ledger``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from emails.errors import LockHeld
from subscribers.store import schema
from subscribers.store.stamps import aware

log = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]

_t = schema.locks
_POLL = 0.25  # seconds between two tries while waiting for a lock


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    expires_at: dt.datetime


def default_owner() -> str:
    """``host:pid``: enough for an operator to find the process that holds a lock."""
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(
    conn: Connection, name: str, owner: str, *, ttl: dt.timedelta, now: dt.datetime
) -> bool:
    """Take ``name`` for ``owner`` until ``now + ttl``; False if another owner holds it."""
    expires = now + ttl
    try:
        with conn.begin_nested():
            conn.execute(
                _t.insert().values(name=name, owner=owner, acquired_at=now, expires_at=expires)
            )
    except IntegrityError:
        taken = conn.execute(
            update(_t)
            .where(_t.c.name == name, or_(_t.c.expires_at < now, _t.c.owner == owner))
            .values(owner=owner, acquired_at=now, expires_at=expires)
        )
        return bool(taken.rowcount)
    return True


def renew(conn: Connection, name: str, owner: str, *, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Push the expiry of our lock to ``now + ttl``; False if it is no longer ours."""
    renewed = conn.execute(
        update(_t).where(_t.c.name == name, _t.c.owner == owner).values(expires_at=now + ttl)
    )
    return bool(renewed.rowcount)


def release(conn: Connection, name: str, owner: str) -> None:
    conn.execute(delete(_t).where(_t.c.name == name, _t.c.owner == owner))


def holder(conn: Connection, name: str, *, now: dt.datetime) -> Lease | None:
    """Who holds ``name`` now, if anyone (an expired lock is held by no one)."""
    row = conn.execute(select(_t.c.owner, _t.c.expires_at).where(_t.c.name == name)).one_or_none()
    if row is None:
        return None
    expires = aware(row.expires_at)
    return Lease(name, row.owner, expires) if expires >= now else None


@contextmanager
def held(
    engine: Engine,
    name: str,
    *,
    owner: str | None = None,
    ttl: dt.timedelta = dt.timedelta(minutes=5),
    now: Now = lambda: dt.datetime.now(dt.UTC),
    wait: dt.timedelta = dt.timedelta(0),
) -> Iterator[Lease]:
    """Hold ``name`` for the body, renewing it in the background; raise ``LockHeld`` if
    another owner still holds it after ``wait``.

    The heartbeat renews every third of ``ttl`` (wall time), so a lock outlives a long body
    but is free again within ``ttl`` of a crash.
    """
    me = owner or default_owner()
    _take(engine, name, me, ttl=ttl, now=now, wait=wait)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(engine, name, me, ttl, now, stop), daemon=True, name="lock"
    )
    beat.start()
    try:
        yield Lease(name, me, now() + ttl)
    finally:
        stop.set()
        beat.join()
        with engine.begin() as conn:
            release(conn, name, me)


def _take(
    engine: Engine, name: str, me: str, *, ttl: dt.timedelta, now: Now, wait: dt.timedelta
) -> None:
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        with engine.begin() as conn:
            if acquire(conn, name, me, ttl=ttl, now=now()):
                return
            lease = holder(conn, name, now=now())
        if time.monotonic() >= deadline:
            raise LockHeld(_held_message(name, lease), owner=lease.owner if lease else None)
        time.sleep(_POLL)


def _held_message(name: str, lease: Lease | None) -> str:
    if lease is None:  # released between our attempt and this look: say so plainly
        return f"{name} was busy a moment ago; try again"
    until = lease.expires_at.astimezone(dt.UTC).strftime("%H:%M:%S UTC")
    return f"{name} is held by {lease.owner} (lease until {until} unless renewed)"


def _heartbeat(
    engine: Engine, name: str, owner: str, ttl: dt.timedelta, now: Now, stop: threading.Event
) -> None:
    while not stop.wait(ttl.total_seconds() / 3):
        try:
            with engine.begin() as conn:
                still_ours = renew(conn, name, owner, ttl=ttl, now=now())
        except SQLAlchemyError as err:  # a busy database: try again at the next beat
            log.warning("lock %s: renewal failed: %s", name, err.__class__.__name__)
            continue
        if not still_ours:
            log.error("lock %s: lost to another owner; the ledger still prevents doubles", name)
            return
