"""What the store knows about one subscriber, for ``subscribers show``: status and why,
the SES event that set it, the history of its moves, and its last issues with their events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.stamps import aware
from subscribers.store.states import SubscriberStatus

_t = schema.subscribers
_h = schema.status_history
_e = schema.events
_d = schema.deliveries
LAST_ISSUES = 5


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    detail: str
    note: str
    issue_date: str | None
    message_id: str | None
    at: dt.datetime | None


@dataclass(frozen=True)
class Move:
    at: dt.datetime
    from_status: str | None
    to_status: str
    reason: str
    actor: str
    issue_date: str | None


@dataclass(frozen=True)
class Delivery:
    issue_date: str
    state: str
    message_id: str | None
    error: str | None
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Profile:
    id: int
    email: str
    name: str | None
    status: SubscriberStatus
    source: str
    created_at: dt.datetime
    reason: str | None
    changed_at: dt.datetime | None
    event: Event | None  # the SES event that set the status, if one did
    transient_bounces: int
    history: tuple[Move, ...]
    deliveries: tuple[Delivery, ...]  # the last issues, newest first


def profile(conn: Connection, email: str, *, last: int = LAST_ISSUES) -> Profile | None:
    """Everything about the subscriber with ``email``; None if not on the list."""
    row = conn.execute(select(_t).where(_t.c.email_key == normalise(email).key)).one_or_none()
    if row is None:
        return None
    return Profile(
        id=row.id,
        email=row.email,
        name=row.name,
        status=SubscriberStatus(row.status),
        source=row.source,
        created_at=aware(row.created_at),
        reason=row.status_reason,
        changed_at=aware(row.status_changed_at) if row.status_changed_at else None,
        event=_event(conn, row.status_event_id),
        transient_bounces=row.transient_bounces,
        history=_history(conn, row.id),
        deliveries=_deliveries(conn, row.id, last),
    )


def _event(conn: Connection, event_id: int | None) -> Event | None:
    if event_id is None:
        return None
    row = conn.execute(select(_e).where(_e.c.id == event_id)).one_or_none()
    return _as_event(row) if row is not None else None


def _as_event(row: Row[Any]) -> Event:
    at = row.occurred_at or row.received_at
    return Event(
        id=row.id,
        kind=row.kind,
        detail=row.detail,
        note=row.note,
        issue_date=row.issue_date,
        message_id=row.message_id,
        at=aware(at) if at else None,
    )


def _history(conn: Connection, subscriber_id: int) -> tuple[Move, ...]:
    rows = conn.execute(select(_h).where(_h.c.subscriber_id == subscriber_id).order_by(_h.c.id))
    return tuple(
        Move(aware(r.at), r.from_status, r.to_status, r.reason, r.actor, r.issue_date)
        for r in rows
    )


def _deliveries(conn: Connection, subscriber_id: int, last: int) -> tuple[Delivery, ...]:
    rows = conn.execute(
        select(_d.c.issue_date, _d.c.state, _d.c.message_id, _d.c.last_error)
        .where(_d.c.subscriber_id == subscriber_id)
        .order_by(_d.c.issue_date.desc())
        .limit(last)
    ).all()
    events = _events_by_issue(conn, subscriber_id, [r.issue_date for r in rows])
    return tuple(
        Delivery(r.issue_date, r.state, r.message_id, r.last_error, events.get(r.issue_date, ()))
        for r in rows
    )


def _events_by_issue(
    conn: Connection, subscriber_id: int, dates: list[str]
) -> dict[str, tuple[Event, ...]]:
    rows = conn.execute(
        select(_e)
        .where(_e.c.subscriber_id == subscriber_id, _e.c.issue_date.in_(dates))
        .order_by(_e.c.id)
    )
    found: dict[str, list[Event]] = {}
    for row in rows:
        found.setdefault(row.issue_date, []).append(_as_event(row))
    return {date: tuple(items) for date, items in found.items()}
