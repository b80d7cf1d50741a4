"""Issue records in the store: each dated issue's number and state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from subscribers import schema
from subscribers.store import now

DRAFT, APPROVED, SENDING, SENT, PAUSED = "draft", "approved", "sending", "sent", "paused"


def issue_number(conn: Connection, date: dt.date) -> int:
    """Return the number of the issue for ``date``, giving it the next number if new.

    Re-assembling a date keeps its number; a new date gets one more than the highest.
    """
    key = date.isoformat()
    existing = _number(conn, key)
    if existing is not None:
        return existing
    number = (conn.scalar(select(func.max(schema.editions.c.number))) or 0) + 1
    stamp = now()
    try:
        with conn.begin_nested():
            conn.execute(
                schema.editions.insert().values(
                    date=key, number=number, state=DRAFT, created_at=stamp, updated_at=stamp
                )
            )
    except IntegrityError:
        # Another process numbered the same date (or took this number) first.
        again = _number(conn, key)
        if again is None:
            raise
        return again
    return number


def state(conn: Connection, date: dt.date) -> str | None:
    return conn.scalar(
        select(schema.editions.c.state).where(schema.editions.c.date == date.isoformat())
    )


def set_state(conn: Connection, date: dt.date, new_state: str) -> None:
    conn.execute(
        update(schema.editions)
        .where(schema.editions.c.date == date.isoformat())
        .values(state=new_state, updated_at=now())
    )


def _number(conn: Connection, key: str) -> int | None:
    return conn.scalar(select(schema.editions.c.number).where(schema.editions.c.date == key))


def ensure(conn: Connection, date: dt.date, number: int) -> None:
    """Record the issue for ``date`` under ``number`` unless it is recorded already."""
    if _number(conn, date.isoformat()) is not None:
        return
    stamp = now()
    try:
        with conn.begin_nested():
            conn.execute(
                schema.editions.insert().values(
                    date=date.isoformat(),
                    number=number,
                    state=DRAFT,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    except IntegrityError:
        if _number(conn, date.isoformat()) is None:
            raise
