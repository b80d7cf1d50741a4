"""The delivery ledger: one row per (issue, subscriber), moved through ``DeliveryState``.

This module alone moves a delivery (the machine is drawn in ``subscribers.store.states``).
A row goes to ``sending`` before the transport is called and to ``sent`` or ``failed``
after; a row still in ``sending`` after a crash is *unknown*: the message may have left.

The send engine works in batches (``claim_batch``, ``finish_batch``): one transaction
before a bulk call and one after it, whatever the number of recipients in it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter

from emails.errors import StoreError
from subscribers.store import schema
from subscribers.store.stamps import now
from subscribers.store.states import DeliveryState, SubscriberStatus

_D = DeliveryState
_RETRYABLE = (_D.PENDING, _D.FAILED)
_ERROR_LIMIT = 500

_d = schema.deliveries


def counts(conn: Connection, date: dt.date) -> dict[DeliveryState, int]:
    """Deliveries of the issue by state; every state present, zero when none."""
    query = (
        select(_d.c.state, func.count())
        .where(_d.c.issue_date == date.isoformat())
        .group_by(_d.c.state)
    )
    found = {DeliveryState(state): int(n) for state, n in conn.execute(query)}
    return {state: found.get(state, 0) for state in DeliveryState}


@dataclass(frozen=True)
class Claim:
    """What ``claim_batch`` did with each id it was given."""

    claimed: frozenset[int]  # now ``sending``: this caller must send them and finish them
    skipped: frozenset[int]  # no longer active: ``skipped``, never to be sent this issue
    already: int  # sent, skipped, in flight or unknown before: left alone


# The batch statements are built once, with expanding parameters for the id lists: building
# and caching a statement with 50 literal ids cost more than running it.
_s = schema.subscribers
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_DATE = bindparam("date", type_=_d.c.issue_date.type)
_NOW = bindparam("now", type_=_d.c.updated_at.type)
_ACTIVE = select(_s.c.id).where(_s.c.id.in_(_IDS), _s.c.status == SubscriberStatus.ACTIVE)
_OLD_UNKNOWN = and_(
    _d.c.state == _D.SENDING,
    _d.c.updated_at < bindparam("unknown_before", type_=_d.c.updated_at.type),
    _d.c.subscriber_id.in_(_ACTIVE),
)
_GOES = _d.c.subscriber_id.in_(_ACTIVE)
# Rows that exist: retryable ones go to ``sending`` if their subscriber is still active,
# else to ``skipped``; unknown rows of active subscribers go again when resending unknowns.
_CLAIM_EXISTING = (
    update(_d)
    .where(
        _d.c.issue_date == _DATE,
        _d.c.subscriber_id.in_(_IDS),
        or_(_d.c.state.in_(_RETRYABLE), _OLD_UNKNOWN),
    )
    .values(
        state=case((_GOES, _D.SENDING), else_=_D.SKIPPED),
        attempts=_d.c.attempts + case((_GOES, 1), else_=0),
        updated_at=_NOW,
    )
    .returning(_d.c.subscriber_id, _d.c.state)
)
_is_active = _s.c.status == SubscriberStatus.ACTIVE
# Subscribers without a row yet: one row each, ``sending`` or ``skipped`` by their status.
_CLAIM_NEW = (
    insert(_d)
    .from_select(
        ["issue_date", "subscriber_id", "state", "attempts", "updated_at"],
        select(
            _DATE,
            _s.c.id,
            case((_is_active, literal(_D.SENDING)), else_=literal(_D.SKIPPED)),
            case((_is_active, literal(1)), else_=literal(0)),
            _NOW,
        ).where(
            _s.c.id.in_(_IDS),
            ~exists().where(_d.c.issue_date == _DATE, _d.c.subscriber_id == _s.c.id),
        ),
    )
    .returning(_d.c.subscriber_id, _d.c.state)
)
_FINISH = (
    update(_d)
    .where(
        _d.c.issue_date == bindparam("k_date"),
        _d.c.subscriber_id == bindparam("k_id"),
        _d.c.state == _D.SENDING,
    )
    .values(
        state=bindparam("v_state"),
        message_id=bindparam("v_message_id"),
        last_error=bindparam("v_error"),
        updated_at=bindparam("v_now", type_=_d.c.updated_at.type),
    )
)
_LONG_AGO = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_INSERT_TRIES = 3


def claim_batch(
    conn: Connection,
    date: dt.date,
    subscriber_ids: Sequence[int],
    *,
    resend_unknown_before: dt.datetime | None = None,
) -> Claim:
    """Move the rows of ``subscriber_ids`` that still need the issue to ``sending``.

    The subscriber's status is read in the same statements: anyone suppressed or
    unsubscribed since the list was read is ``skipped`` instead. Rows left in ``sending``
    by an earlier run (unknowns) are claimed again only if they were last touched before
    ``resend_unknown_before``; a run passes its start time, so it can never take the rows
    another running process holds in flight. Every statement is conditional, so of two
    processes claiming the same row, one gets it.
    """
    ids = list(subscriber_ids)
    params = {
        "date": date.isoformat(),
        "ids": ids,
        "now": now(),
        "unknown_before": resend_unknown_before or _LONG_AGO,
    }
    # The UPDATE first: on SQLite it takes the write lock, so the INSERT's NOT EXISTS reads
    # a state no other writer can change before the commit.
    moved = [(int(i), str(state)) for i, state in conn.execute(_CLAIM_EXISTING, params)]
    moved += _insert_new(conn, params)
    claimed = frozenset(i for i, state in moved if state == _D.SENDING)
    skipped = frozenset(i for i, state in moved if state == _D.SKIPPED)
    return Claim(claimed, skipped, len(ids) - len(claimed) - len(skipped))


def _insert_new(conn: Connection, params: dict[str, object]) -> list[tuple[int, str]]:
    for _ in range(_INSERT_TRIES):
        try:
            with conn.begin_nested():
                return [(int(i), str(state)) for i, state in conn.execute(_CLAIM_NEW, params)]
        except IntegrityError:
            # Another process (on a server database) inserted some of these rows between
            # our UPDATE and INSERT: those are theirs; insert the rest on the next try.
            continue
    raise StoreError("could not record the deliveries: the store kept changing; re-run the send")


def finish_batch(
    conn: Connection,
    date: dt.date,
    *,
    sent: Sequence[tuple[int, str]] = (),
    failed: Sequence[tuple[int, str]] = (),
    released: Sequence[tuple[int, str]] = (),
) -> None:
    """Record a batch's outcome in one statement: ``(subscriber id, message id)`` sent,
    ``(subscriber id, reason)`` failed, and ``(subscriber id, reason)`` released: known not
    to have been handed over (the send stopped first), so back to ``pending``.

    Only rows still in ``sending`` change: a row is finished once, by its claimer.
    """
    common = {"k_date": date.isoformat(), "v_now": now()}
    rows = [
        {**common, "k_id": i, "v_state": _D.SENT, "v_message_id": m, "v_error": None}
        for i, m in sent
    ]
    for state, outcomes in ((_D.FAILED, failed), (_D.PENDING, released)):
        rows += [
            {
                **common,
                "k_id": i,
                "v_state": state,
                "v_message_id": None,
                "v_error": e[:_ERROR_LIMIT],
            }
            for i, e in outcomes
        ]
    if rows:
        conn.execute(_FINISH, rows)
