"""Issue records in the store: each dated issue's number, state and approval.

This module alone moves an issue's ``EditionState`` (the machine is drawn in
``subscribers.store.states``): ``approve`` and ``withdraw_approval`` for editors, ``move``
and ``conclude`` for the send engine, each a conditional UPDATE so two processes cannot
both make a move.

How a send ends: ``conclude`` reads the ledger in the same transaction. ``sent`` only when
every delivery is settled (nothing unknown, failed, pending or in flight); ``incomplete``
when the send ended with deliveries unknown, failed or pending (the counts are in the
ledger); and no move while another process still has deliveries in flight: the last one
to finish concludes. Several send processes may work on one issue at once.

Numbering: an issue's number is one more than the last issue that *went out* (``sending``,
``sent``, ``incomplete`` or ``paused``: readers have copies), and re-assembling a date
keeps its number. A
draft that never went out does not spend a number: when day D was drafted as #29 but never
sent (not approved, cut-off passed) and D+1 is assembled, D+1 is #29 and D's record gives
the number up (it is dropped; D had no deliveries). D's old ``issue.json`` still says #29,
so sending it later fails with a clear message; re-assembling D numbers it afresh (#30 while
D+1 is an unsent draft: a later date's draft keeps what it holds).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from emails.errors import EditionError
from subscribers.store import ledger, schema
from subscribers.store.stamps import aware, now
from subscribers.store.states import EditionState

log = logging.getLogger(__name__)

_E = EditionState
WENT_OUT = tuple(state for state in _E if state.went_out)  # the number is spent for good
UNSENT = tuple(state for state in _E if not state.went_out)
# The moves the send engine makes, by target state: where each may start from. A re-run of
# a sent issue goes back to ``sending`` while it checks the list, then to ``sent`` again.
# A pause is for the operator to lift (a re-run): another process ending does not undo it.
_MOVES: dict[EditionState, tuple[EditionState, ...]] = {
    _E.SENDING: tuple(_E),
    _E.PAUSED: (_E.SENDING, _E.SENT, _E.INCOMPLETE),
}
_CONCLUDE_FROM = (_E.SENDING, _E.SENT, _E.INCOMPLETE)

_e = schema.editions
_ATTEMPTS = 3


@dataclass(frozen=True)
class Edition:
    date: dt.date
    number: int
    state: EditionState
    approved_by: str | None
    approved_at: dt.datetime | None


def issue_number(conn: Connection, date: dt.date) -> int:
    """Return the number of the issue for ``date``, numbering it if new (see module doc)."""
    key = date.isoformat()
    for _ in range(_ATTEMPTS):
        existing = _number(conn, key)
        if existing is not None:
            return existing
        try:
            with conn.begin_nested():
                number = _next_number(conn, key)
                _insert(conn, key, number)
        except IntegrityError:
            continue  # another process numbered this date, or took this number: look again
        return number
    raise EditionError(
        f"could not number the issue of {date}: the store kept changing; retry",
        date=date,
    )


def _next_number(conn: Connection, key: str) -> int:
    last_out = conn.scalar(select(func.max(_e.c.number)).where(_e.c.state.in_(WENT_OUT))) or 0
    candidate = last_out + 1
    holder = conn.execute(select(_e.c.date, _e.c.state).where(_e.c.number == candidate)).first()
    if holder is None:
        return candidate
    if holder.date < key and holder.state in UNSENT and not _has_deliveries(conn, holder.date):
        # A skipped day's draft never went out: the next issue readers get takes its number.
        conn.execute(delete(_e).where(_e.c.date == holder.date, _e.c.state.in_(UNSENT)))
        log.info(
            "issue number released by an unsent draft",
            extra={"number": candidate, "released_date": holder.date, "date": key},
        )
        return candidate
    # Held by a later date's draft (or something stranger): never collide, take a fresh one.
    return int(conn.scalar(select(func.max(_e.c.number))) or 0) + 1


def _has_deliveries(conn: Connection, key: str) -> bool:
    d = schema.deliveries
    return bool(conn.scalar(select(exists().where(d.c.issue_date == key))))


def _insert(conn: Connection, key: str, number: int) -> None:
    stamp = now()
    conn.execute(
        _e.insert().values(
            date=key, number=number, state=_E.DRAFT, created_at=stamp, updated_at=stamp
        )
    )


def state(conn: Connection, date: dt.date) -> EditionState | None:
    found = conn.scalar(select(_e.c.state).where(_e.c.date == date.isoformat()))
    return None if found is None else EditionState(found)


def get(conn: Connection, date: dt.date) -> Edition | None:
    """The record of the issue for ``date``, or None if it was never assembled."""
    row = conn.execute(
        select(_e.c.number, _e.c.state, _e.c.approved_by, _e.c.approved_at).where(
            _e.c.date == date.isoformat()
        )
    ).first()
    if row is None:
        return None
    approved_at = aware(row.approved_at) if row.approved_at else None
    return Edition(date, row.number, EditionState(row.state), row.approved_by, approved_at)


def move(conn: Connection, date: dt.date, to: EditionState) -> bool:
    """The send engine's moves: to ``sending`` (a send starts), ``paused``; True if moved."""
    moved = conn.execute(
        update(_e)
        .where(_e.c.date == date.isoformat(), _e.c.state.in_(_MOVES[to]))
        .values(state=to, updated_at=now())
    )
    return bool(moved.rowcount)


def conclude(conn: Connection, date: dt.date, *, at: dt.datetime) -> EditionState | None:
    """A send went through the whole list: move the issue to what its ledger says at
    ``at`` (see the module doc); return the state it is in afterwards."""
    counts = ledger.tally(conn, date, now=at)
    if counts.in_flight or (counts.pending and ledger.held_for_retry(conn, date, now=at)):
        return state(conn, date)  # another process is still sending: it will conclude
    to = _E.SENT if counts.complete else _E.INCOMPLETE
    conn.execute(
        update(_e)
        .where(_e.c.date == date.isoformat(), _e.c.state.in_(_CONCLUDE_FROM))
        .values(state=to, updated_at=now())
    )
    return state(conn, date)


def approve(conn: Connection, date: dt.date, *, by: str) -> Edition:
    """Mark the draft of ``date`` approved by ``by``; approving twice keeps the first.

    Raise ``EditionError`` when there is no draft, or when it already went out.
    """
    current = get(conn, date)
    if current is None:
        raise EditionError(
            f"there is no draft of {date} to approve",
            date=date,
        )
    if current.state is _E.APPROVED:
        return current
    if current.state is not _E.DRAFT:
        raise EditionError(
            f"the issue of {date} is {current.state}: there is nothing to approve",
            date=date,
        )
    stamp = now()
    # Conditional on the state, so an approval cannot land on an issue that began sending.
    moved = conn.execute(
        update(_e)
        .where(_e.c.date == date.isoformat(), _e.c.state == _E.DRAFT)
        .values(state=_E.APPROVED, approved_by=by[:200], approved_at=stamp, updated_at=stamp)
    )
    if not moved.rowcount:
        raise EditionError(
            f"the issue of {date} changed while approving it; look at its status",
            date=date,
        )
    return Edition(date, current.number, _E.APPROVED, by[:200], stamp)


def withdraw_approval(conn: Connection, date: dt.date) -> bool:
    """Send an approved draft back to ``draft`` (its content changed); True if it was approved."""
    moved = conn.execute(
        update(_e)
        .where(_e.c.date == date.isoformat(), _e.c.state == _E.APPROVED)
        .values(state=_E.DRAFT, approved_by=None, approved_at=None, updated_at=now())
    )
    return bool(moved.rowcount)


def dates_out(conn: Connection) -> set[str]:
    """ISO dates of the issues that went out (see ``EditionState.went_out``): the public ones."""
    return set(conn.scalars(select(_e.c.date).where(_e.c.state.in_(WENT_OUT))))


def _number(conn: Connection, key: str) -> int | None:
    return conn.scalar(select(_e.c.number).where(_e.c.date == key))


def ensure(conn: Connection, date: dt.date, number: int) -> None:
    """Record the issue for ``date`` under ``number`` unless it is recorded already.

    Raise ``EditionError`` when ``number`` now belongs to another date (see module doc).
    """
    key = date.isoformat()
    if _number(conn, key) is not None:
        return
    try:
        with conn.begin_nested():
            _insert(conn, key, number)
    except IntegrityError:
        if _number(conn, key) is not None:
            return  # another process recorded it first
        owner = conn.scalar(select(_e.c.date).where(_e.c.number == number))
        raise EditionError(
            f"issue number {number} of {date} now belongs to the issue of {owner} "
            f"({date} was never sent): re-assemble {date} to number it again",
            date=date,
        ) from None
