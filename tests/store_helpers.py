"""Setting up store states for tests, one row at a time (the product works in batches)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, update

from subscribers.store import ledger, schema
from subscribers.store.ledger import Outcomes
from subscribers.store.stamps import now as utc_now
from subscribers.store.states import EditionState

OWNER = "test-host:1:a1b2c3d4"
LEASE = dt.timedelta(minutes=2)


def claim(
    conn: Connection,
    date: dt.date,
    subscriber_id: int,
    *,
    owner: str = OWNER,
    at: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
) -> bool:
    """Claim one delivery as the send engine would; False when it is not to be sent."""
    claimed = ledger.claim_batch(
        conn, date, [subscriber_id], owner=owner, now=at or utc_now(), lease=lease
    ).claimed
    return subscriber_id in claimed


def leave_unknown(
    conn: Connection, date: dt.date, subscriber_id: int, *, before: dt.datetime | None = None
) -> bool:
    """Claim one delivery for a process that died at once: by ``before`` (default now) its
    lease has run out."""
    long_ago = (before or utc_now()) - dt.timedelta(hours=1)
    return claim(conn, date, subscriber_id, owner="dead-host:2:deadbeef", at=long_ago)


def mark_sent(
    conn: Connection, date: dt.date, subscriber_id: int, message_id: str, *, owner: str = OWNER
) -> None:
    done = Outcomes(sent=[(subscriber_id, message_id)])
    ledger.finish_batch(conn, date, owner, done, now=utc_now())


def mark_failed(
    conn: Connection, date: dt.date, subscriber_id: int, error: str, *, owner: str = OWNER
) -> None:
    ledger.finish_batch(conn, date, owner, Outcomes(failed=[(subscriber_id, error)]), now=utc_now())


def force_state(conn: Connection, date: dt.date, state: EditionState) -> None:
    """Put the issue's record in ``state`` whatever it was: a test's starting point."""
    e = schema.editions
    conn.execute(update(e).where(e.c.date == date.isoformat()).values(state=state))
