"""What the store knows about the sends, read in one go: the figures behind ``/metrics``.

Read at scrape time, so every process that serves metrics (the web app, the scheduler)
reports the same numbers, whoever did the sending. A handful of grouped queries, whatever
the size of the list: the ledger is read by ``(issue_date, state)``, which its unique index
on ``(issue_date, subscriber_id)`` serves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from subscribers.store import schema
from subscribers.store.stamps import aware
from subscribers.store.states import DeliveryState, EditionState, SubscriberStatus

RECENT_ISSUES = 30  # issues reported one by one; older ones only count in the totals

_d, _e = schema.deliveries, schema.editions


@dataclass(frozen=True)
class IssueFigures:
    date: str
    number: int
    state: EditionState
    deliveries: dict[DeliveryState, int]  # every state, zero when none
    rate: float | None  # messages per second between the first and the last ``sent`` row
    created_at: dt.datetime
    updated_at: dt.datetime  # the last change of state
    approved_at: dt.datetime | None
    first_sent_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    events: dict[str, int]  # SES events tied to this issue, by kind (one per recipient)


@dataclass(frozen=True)
class StoreFigures:
    issues: list[IssueFigures]  # the most recent first
    in_flight: int  # deliveries in ``sending``, all issues: a send's calls, or a crash's unknowns
    subscribers: dict[SubscriberStatus, int]
    feedback: dict[str, int]  # SES events recorded, all issues, by kind (one per recipient)


def read(conn: Connection, *, recent: int = RECENT_ISSUES) -> StoreFigures:
    editions = conn.execute(
        select(_e.c.date, _e.c.number, _e.c.state, _e.c.created_at, _e.c.updated_at,
               _e.c.approved_at)
        .order_by(_e.c.date.desc())
        .limit(recent)
    ).all()  # fmt: skip
    dates = [row.date for row in editions]
    by_state = _deliveries(conn, dates)
    sent = _sent_span(conn, dates)
    events = _events_by_issue(conn, dates)
    issues = [
        IssueFigures(
            date=row.date,
            number=row.number,
            state=EditionState(row.state),
            deliveries={s: by_state.get((row.date, s), 0) for s in DeliveryState},
            rate=sent[row.date][2] if row.date in sent else None,
            created_at=aware(row.created_at),
            updated_at=aware(row.updated_at),
            approved_at=aware(row.approved_at) if row.approved_at else None,
            first_sent_at=sent[row.date][0] if row.date in sent else None,
            last_sent_at=sent[row.date][1] if row.date in sent else None,
            events=events.get(row.date, {}),
        )
        for row in editions
    ]
    return StoreFigures(
        issues=issues,
        in_flight=int(
            conn.scalar(select(func.count()).where(_d.c.state == DeliveryState.SENDING)) or 0
        ),
        subscribers=_subscribers(conn),
        feedback=_feedback(conn),
    )


def _deliveries(conn: Connection, dates: list[str]) -> dict[tuple[str, DeliveryState], int]:
    rows = conn.execute(
        select(_d.c.issue_date, _d.c.state, func.count())
        .where(_d.c.issue_date.in_(dates))
        .group_by(_d.c.issue_date, _d.c.state)
    )
    return {(date, DeliveryState(state)): int(n) for date, state, n in rows}


_Span = tuple[dt.datetime, dt.datetime, float | None]


def _sent_span(conn: Connection, dates: list[str]) -> dict[str, _Span]:
    rows = conn.execute(
        select(_d.c.issue_date, func.min(_d.c.updated_at), func.max(_d.c.updated_at),
               func.count())
        .where(_d.c.issue_date.in_(dates), _d.c.state == DeliveryState.SENT)
        .group_by(_d.c.issue_date)
    )  # fmt: skip
    spans: dict[str, _Span] = {}
    for date, first, last, n in rows:
        start, end = _as_datetime(first), _as_datetime(last)
        seconds = (end - start).total_seconds()
        # The same rule as ``sendstats.send_rate``: none below two rows or a zero span.
        rate = round((n - 1) / seconds, 2) if n >= 2 and seconds > 0 else None
        spans[date] = (start, end, rate)
    return spans


def _subscribers(conn: Connection) -> dict[SubscriberStatus, int]:
    t = schema.subscribers
    rows = conn.execute(select(t.c.status, func.count()).group_by(t.c.status))
    found: dict[str, int] = {str(status): int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in SubscriberStatus}


def _feedback(conn: Connection) -> dict[str, int]:
    e = schema.events
    rows = conn.execute(select(e.c.kind, func.count()).group_by(e.c.kind))
    return {str(kind): int(n) for kind, n in rows}


def _events_by_issue(conn: Connection, dates: list[str]) -> dict[str, dict[str, int]]:
    e = schema.events
    rows = conn.execute(
        select(e.c.issue_date, e.c.kind, func.count())
        .where(e.c.issue_date.in_(dates))
        .group_by(e.c.issue_date, e.c.kind)
    )
    found: dict[str, dict[str, int]] = {}
    for date, kind, n in rows:
        found.setdefault(str(date), {})[str(kind)] = int(n)
    return found


def _as_datetime(value: dt.datetime | str) -> dt.datetime:
    # Aggregates over SQLite DATETIME columns come back as text, and without a zone.
    return aware(value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value))
