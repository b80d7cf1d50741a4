"""Figures about one issue's send, read from the delivery ledger: its rate and its errors."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, desc, func, select

from subscribers.store import schema
from subscribers.store.states import DeliveryState

_d = schema.deliveries


def send_rate(conn: Connection, date: dt.date) -> float | None:
    """Messages per second between the first and the last ``sent`` row; None below two.

    The ledger keeps one time per row (its last change), so the figure spans the send as
    the ledger saw it: for a send that was resumed, it includes the pause.
    """
    first, last, n = conn.execute(
        select(func.min(_d.c.updated_at), func.max(_d.c.updated_at), func.count()).where(
            _d.c.issue_date == date.isoformat(), _d.c.state == DeliveryState.SENT
        )
    ).one()
    if n < 2 or first is None or last is None:
        return None
    seconds = (_as_datetime(last) - _as_datetime(first)).total_seconds()
    return round((n - 1) / seconds, 2) if seconds > 0 else None


def top_errors(conn: Connection, date: dt.date, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent reasons of ``failed`` rows, with how many rows gave each."""
    count = func.count().label("n")
    rows = conn.execute(
        select(_d.c.last_error, count)
        .where(_d.c.issue_date == date.isoformat(), _d.c.state == DeliveryState.FAILED)
        .group_by(_d.c.last_error)
        .order_by(desc(count), _d.c.last_error)
        .limit(limit)
    )
    return [(error or "(no reason recorded)", int(n)) for error, n in rows]


def _as_datetime(value: dt.datetime | str) -> dt.datetime:
    # Aggregates over SQLite DATETIME columns may come back as text.
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
