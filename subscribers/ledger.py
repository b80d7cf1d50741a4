"""The delivery ledger: one row per (issue, subscriber), moved through its states.

A row goes to ``sending`` before the transport is called and to ``sent`` or ``failed``
after; a row still in ``sending`` after a crash is *unknown*: the message may have left.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from subscribers import schema
from subscribers.store import now

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
STATES = (PENDING, SENDING, SENT, FAILED, SKIPPED)
_RETRYABLE = (PENDING, FAILED)
_ERROR_LIMIT = 500

_d = schema.deliveries


def claim(conn: Connection, date: dt.date, subscriber_id: int) -> bool:
    """Move the (issue, subscriber) row to ``sending``; False if it is sent, in flight or done.

    The conditional update and the unique key make the claim safe between processes: of two
    senders racing for one row, exactly one sees it change.
    """
    key = date.isoformat()
    moved = conn.execute(
        update(_d)
        .where(_d.c.issue_date == key, _d.c.subscriber_id == subscriber_id)
        .where(_d.c.state.in_(_RETRYABLE))
        .values(state=SENDING, attempts=_d.c.attempts + 1, updated_at=now())
    )
    if moved.rowcount:
        return True
    try:
        with conn.begin_nested():
            conn.execute(
                _d.insert().values(
                    issue_date=key,
                    subscriber_id=subscriber_id,
                    state=SENDING,
                    attempts=1,
                    updated_at=now(),
                )
            )
    except IntegrityError:
        return False
    return True


def mark_sent(conn: Connection, date: dt.date, subscriber_id: int, message_id: str) -> None:
    _finish(conn, date, subscriber_id, state=SENT, message_id=message_id, last_error=None)


def mark_failed(conn: Connection, date: dt.date, subscriber_id: int, error: str) -> None:
    _finish(conn, date, subscriber_id, state=FAILED, last_error=error[:_ERROR_LIMIT])


def counts(conn: Connection, date: dt.date) -> dict[str, int]:
    """Deliveries of the issue by state; every state present, zero when none."""
    query = (
        select(_d.c.state, func.count())
        .where(_d.c.issue_date == date.isoformat())
        .group_by(_d.c.state)
    )
    found = {state: int(n) for state, n in conn.execute(query)}
    return {state: found.get(state, 0) for state in STATES}


def _finish(conn: Connection, date: dt.date, subscriber_id: int, **values: str | None) -> None:
    conn.execute(
        update(_d)
        .where(_d.c.issue_date == date.isoformat(), _d.c.subscriber_id == subscriber_id)
        .values(updated_at=now(), **values)
    )
