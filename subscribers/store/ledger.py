"""The delivery ledger: one row per (issue, subscriber), moved through ``DeliveryState``.

This module alone moves a delivery (the machine is drawn in ``subscribers.store.states``).

Leases. A row is claimed (to ``sending``) by one owner, ``host:pid:run``, just before its
call goes out, with a lease (``lease_until``) the owner's heartbeat renews while it works;
after the call it goes to ``sent`` or ``failed``, or back to ``pending`` when it is known
not to have been handed over. So a row in ``sending`` is either

* *in flight*: its lease is live, its owner is working on it; nobody else may take it;
* *unknown*: its lease ran out (the owner died), or the owner gave it up after a call that
  got no answer (the lease is then set to ``EXPIRED`` at once): its message may have left.
  Only a resend (``--resend-unknown``) claims it again.

Every statement is conditional (``WHERE state ... AND owner ...``), so of two processes
claiming the same row one gets it, and an owner whose row was taken from it (its lease had
run out) cannot finish it: the row is the new owner's.

The send engine works in batches (``claim_batch``, ``finish_batch``): one transaction
before a bulk call and one after it, whatever the number of recipients in it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from emails.errors import StoreError
from subscribers.store import schema
from subscribers.store.roster import Subscriber
from subscribers.store.states import DeliveryState, RunState, SubscriberStatus

_D = DeliveryState
_RETRYABLE = (_D.PENDING, _D.FAILED)
_ERROR_LIMIT = 500
# The lease of a row its owner gave up on (a call with no answer): long gone, so the row is
# unknown at once, and never renewed by the owner's heartbeat.
EXPIRED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_d = schema.deliveries
_s = schema.subscribers


# -- reading ----------------------------------------------------------------------------------


def counts(conn: Connection, date: dt.date) -> dict[DeliveryState, int]:
    """Deliveries of the issue by stored state; every state present, zero when none.

    ``sending`` counts rows in flight and unknown rows together; ``tally`` tells them apart.
    """
    # Each state named: the queue's index (state, issue, ...) is then read state by state.
    query = (
        select(_d.c.state, func.count())
        .where(_d.c.issue_date == date.isoformat(), _d.c.state.in_(list(DeliveryState)))
        .group_by(_d.c.state)
    )
    found = {DeliveryState(state): int(n) for state, n in conn.execute(query)}
    return {state: found.get(state, 0) for state in DeliveryState}


@dataclass(frozen=True)
class Tally:
    """An issue's deliveries as an operator reads them: ``sending`` split by its lease."""

    pending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0  # ``sending`` under a live lease: a working process has them
    unknown: int = 0  # ``sending`` whose lease ran out: their fate is unknown

    @property
    def complete(self) -> bool:
        """Every delivery of the issue settled, sent or skipped: nothing left to find out."""
        return not (self.pending or self.failed or self.in_flight or self.unknown)


def _live(now: dt.datetime) -> ColumnElement[bool]:
    return and_(_d.c.state == _D.SENDING, _d.c.lease_until >= now)


def tally(conn: Connection, date: dt.date, *, now: dt.datetime) -> Tally:
    """The deliveries of the issue by state, rows in ``sending`` split at ``now``.

    One statement, so one snapshot: on PostgreSQL each statement of a transaction sees
    the rows as committed when it began, and two (counts, then live leases) read while
    other workers finish calls counted rows finished in between as unknown. The counts by
    state come from the queue's index alone (a million rows cost no table read), and only
    the few rows in ``sending`` are read for their lease.
    """
    day = date.isoformat()
    by_state = (
        select(_d.c.state.label("key"), func.count().label("n"))
        .where(_d.c.issue_date == day, _d.c.state.in_(list(DeliveryState)))
        .group_by(_d.c.state)
    )
    live = select(literal(_LIVE).label("key"), func.count().label("n")).where(
        _d.c.issue_date == day, _live(now)
    )
    found = {str(key): int(n) for key, n in conn.execute(union_all(by_state, live))}
    in_flight = found.pop(_LIVE, 0)
    sending = found.pop(_D.SENDING, 0)
    states = {str(state): found.get(str(state), 0) for state in DeliveryState}
    del states[_D.SENDING]
    return Tally(**states, in_flight=in_flight, unknown=sending - in_flight)


_LIVE = "live"  # not a state: the rows in ``sending`` under a live lease


def held_for_retry(conn: Connection, date: dt.date, *, now: dt.datetime) -> int:
    """``pending`` rows a live run released to try again (throttled, a server error): it
    claims them back after its backoff, so they are not left over while it runs."""
    r = schema.send_runs
    live = select(r.c.owner).where(r.c.state == RunState.RUNNING, r.c.lease_until >= now)
    query = select(func.count()).where(
        _d.c.issue_date == date.isoformat(), _d.c.state == _D.PENDING, _d.c.owner.in_(live)
    )
    return int(conn.scalar(query) or 0)


def sending_by_owner(
    conn: Connection, date: dt.date, *, now: dt.datetime
) -> dict[str, tuple[int, int]]:
    """Rows in ``sending`` by owner: ``(in flight, unknown)`` at ``now``."""
    live = case((_live(now), 1), else_=0)
    query = (
        select(_d.c.owner, live, func.count())
        .where(_d.c.issue_date == date.isoformat(), _d.c.state == _D.SENDING)
        .group_by(_d.c.owner, live)
    )
    found: dict[str, tuple[int, int]] = {}
    for owner, is_live, n in conn.execute(query):
        flying, unknown = found.get(str(owner), (0, 0))
        found[str(owner)] = (flying + int(n), unknown) if is_live else (flying, unknown + int(n))
    return found


def to_go(conn: Connection, date: dt.date) -> int:
    """Active subscribers the issue has yet to be tried for: no row, or a ``pending`` one."""
    row_of = and_(_d.c.subscriber_id == _s.c.id, _d.c.issue_date == date.isoformat())
    query = (
        select(func.count())
        .select_from(_s.outerjoin(_d, row_of))
        .where(
            _s.c.status == SubscriberStatus.ACTIVE,
            or_(_d.c.state.is_(None), _d.c.state == _D.PENDING),
        )
    )
    return int(conn.scalar(query) or 0)


def iter_unsent(
    engine: Engine,
    date: dt.date,
    *,
    now: dt.datetime,
    resend_unknown: bool = False,
    page: int = 500,
) -> Iterator[Subscriber]:
    """The active subscribers a send would still try, in id order, by keyset pages: no row
    for ``date``, or a ``pending`` or ``failed`` one (and unknown ones when resending).

    An anti-join: the rows already settled are never read into Python, so a dry run over
    a list already sent costs one query. The send itself claims from the queue instead
    (``claim_next``); this is what it would go through without writing anything.
    """
    row_of = and_(_d.c.subscriber_id == _s.c.id, _d.c.issue_date == date.isoformat())
    todo = or_(_d.c.state.is_(None), _d.c.state.in_(_RETRYABLE))
    if resend_unknown:
        lapsed = or_(_d.c.lease_until.is_(None), _d.c.lease_until < now)
        todo = or_(todo, and_(_d.c.state == _D.SENDING, lapsed))
    base = (
        select(_s.c.id, _s.c.email, _s.c.name)
        .select_from(_s.outerjoin(_d, row_of))
        .where(_s.c.status == SubscriberStatus.ACTIVE, todo)
        .order_by(_s.c.id)
        .limit(page)
    )
    last_id = 0
    while True:
        with engine.connect() as conn:
            rows = list(conn.execute(base.where(_s.c.id > last_id)))
        for row in rows:
            yield Subscriber(row.id, row.email, row.name, SubscriberStatus.ACTIVE)
        if len(rows) < page:
            return
        last_id = rows[-1].id


# -- claiming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What ``claim_batch`` did with each id it was given."""

    claimed: frozenset[int]  # now ``sending`` for this owner: it must send and finish them
    skipped: frozenset[int]  # no longer active: ``skipped``, never to be sent this issue
    left: int  # sent, skipped, in flight or unknown already: left alone


# The batch statements are built once, with expanding parameters for the id lists: building
# and caching a statement with 50 literal ids cost more than running it.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_DATE = bindparam("date", type_=_d.c.issue_date.type)
_NOW = bindparam("now", type_=_d.c.updated_at.type)
_OWNER = bindparam("owner", type_=_d.c.owner.type)
_LEASE = bindparam("lease_until", type_=_d.c.lease_until.type)
_ACTIVE = select(_s.c.id).where(_s.c.id.in_(_IDS), _s.c.status == SubscriberStatus.ACTIVE)
_GOES = _d.c.subscriber_id.in_(_ACTIVE)
_UNKNOWN = and_(
    _d.c.state == _D.SENDING,
    or_(_d.c.lease_until.is_(None), _d.c.lease_until < _NOW),
    _GOES,
)


def _claim_existing(resend_unknown: bool) -> Update:
    # Rows that exist: retryable ones go to ``sending`` if their subscriber is still active,
    # else to ``skipped``; unknown rows (lease run out) of active subscribers go again only
    # when resending unknowns. A row in flight (live lease) is never taken.
    claimable = or_(_d.c.state.in_(_RETRYABLE), _UNKNOWN) if resend_unknown else (
        _d.c.state.in_(_RETRYABLE)
    )
    return (
        update(_d)
        .where(_d.c.issue_date == _DATE, _d.c.subscriber_id.in_(_IDS), claimable)
        .values(
            state=case((_GOES, _D.SENDING), else_=_D.SKIPPED),
            attempts=_d.c.attempts + case((_GOES, 1), else_=0),
            updated_at=_NOW,
            owner=_OWNER,
            lease_until=case((_GOES, _LEASE), else_=null()),
        )
        .returning(_d.c.subscriber_id, _d.c.state)
    )


_CLAIM_EXISTING = {resend: _claim_existing(resend) for resend in (False, True)}
_is_active = _s.c.status == SubscriberStatus.ACTIVE
# Subscribers without a row yet: one row each, ``sending`` or ``skipped`` by their status.
_CLAIM_NEW = (
    insert(_d)
    .from_select(
        ["issue_date", "subscriber_id", "state", "attempts", "updated_at", "owner", "lease_until"],
        select(
            _DATE,
            _s.c.id,
            case((_is_active, literal(_D.SENDING)), else_=literal(_D.SKIPPED)),
            case((_is_active, literal(1)), else_=literal(0)),
            _NOW,
            _OWNER,
            case((_is_active, _LEASE), else_=null()),
        ).where(
            _s.c.id.in_(_IDS),
            ~exists().where(_d.c.issue_date == _DATE, _d.c.subscriber_id == _s.c.id),
        ),
    )
    .returning(_d.c.subscriber_id, _d.c.state)
)
_INSERT_TRIES = 3


def claim_batch(
    conn: Connection,
    date: dt.date,
    subscriber_ids: Sequence[int],
    *,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    resend_unknown: bool = False,
) -> Claim:
    """Move the rows of ``subscriber_ids`` that still need the issue to ``sending``, for
    ``owner`` until ``now + lease``.

    The subscriber's status is read in the same statements: anyone suppressed or
    unsubscribed since the list was read is ``skipped`` instead. Unknown rows (in
    ``sending``, lease run out) are claimed only with ``resend_unknown``; rows in flight
    under another owner's live lease, never.
    """
    ids = list(subscriber_ids)
    params = {
        "date": date.isoformat(),
        "ids": ids,
        "now": now,
        "owner": owner,
        "lease_until": now + lease,
    }
    # The UPDATE first: on SQLite it takes the write lock, so the INSERT's NOT EXISTS reads
    # a state no other writer can change before the commit.
    claim = _CLAIM_EXISTING[resend_unknown]
    moved = [(int(i), str(state)) for i, state in conn.execute(claim, params)]
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


# -- the send queue ---------------------------------------------------------------------------
# Every worker of a send (threads of one process, processes on several machines) takes its
# rows from the ledger itself: ``seed`` gives each active subscriber a ``pending`` row, and
# ``claim_next`` moves the next rows waiting to ``sending`` for one call. On PostgreSQL the
# rows are picked ``FOR UPDATE SKIP LOCKED`` (the queue pattern of its SELECT docs), so
# workers never wait for, nor take, each other's rows; on SQLite the write lock every
# transaction takes first (``BEGIN IMMEDIATE``) makes the pick and the move one step.


def last_subscriber_id(conn: Connection) -> int:
    return int(conn.scalar(select(func.max(_s.c.id))) or 0)


def seed(conn: Connection, date: dt.date, *, after: int, upto: int, now: dt.datetime) -> int:
    """Give every active subscriber with ``after < id <= upto`` and no row for the issue a
    ``pending`` row; return how many rows were added.

    An anti-join inside the store: subscribers who have a row (sent, say) are never read
    into Python, so resuming over a list already sent costs an index probe per subscriber.
    A row another worker adds meanwhile is left to it (ON CONFLICT DO NOTHING).
    """
    params = {"date": date.isoformat(), "after": after, "upto": upto, "now": now}
    if conn.dialect.name == "postgresql":
        # The ledger grows by the thousand during a send, faster than autovacuum's
        # statistics: the range of rows is read by the unique key, not the whole table.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
    return int(conn.execute(_seed_statement(conn.dialect.name), params).rowcount or 0)


@functools.cache
def _seed_statement(dialect: str) -> Executable:
    # NOT IN over the range's rows (read once, by the unique key's range, and hashed), not a
    # NOT EXISTS per subscriber: PostgreSQL planned that from stale statistics as a scan of
    # the issue's rows for each subscriber (measured: 2 s for 4,000).
    after = bindparam("after", type_=_s.c.id.type)
    upto = bindparam("upto", type_=_s.c.id.type)
    have = select(_d.c.subscriber_id).where(
        _d.c.issue_date == _DATE, _d.c.subscriber_id > after, _d.c.subscriber_id <= upto
    )
    missing = select(_DATE, _s.c.id, literal(_D.PENDING), literal(0), _NOW).where(
        _s.c.id > after,
        _s.c.id <= upto,
        _s.c.status == SubscriberStatus.ACTIVE,
        _s.c.id.not_in(have),
    )
    columns = ["issue_date", "subscriber_id", "state", "attempts", "updated_at"]
    keys = ["issue_date", "subscriber_id"]
    if dialect == "postgresql":
        return postgresql.insert(_d).from_select(columns, missing).on_conflict_do_nothing(
            index_elements=keys
        )
    return sqlite.insert(_d).from_select(columns, missing).on_conflict_do_nothing(
        index_elements=keys
    )


@dataclass(frozen=True)
class Taken:
    """What one ``claim_next`` took from the queue."""

    claimed: list[Subscriber]  # now ``sending`` for the owner: it must send and finish them
    skipped: int  # no longer active: ``skipped``
    last: int  # the highest subscriber id looked at: the claimer's next cursor
    exhausted: bool  # fewer rows waited past the cursor than were asked for


# The send's two statements per call (claim, finish) run as plain SQL on the driver's own
# cursor, inside the caller's transaction: through SQLAlchemy's execution layer they cost
# four times what the store spends running them (about 1 ms per call of 50 on SQLite,
# measured: 27 us a row against 7), at 100 calls a second. Written with ``:name``
# parameters (SQLite's style); PostgreSQL's ``%(name)s`` are derived from them.
_PICK = """
SELECT d.id, d.subscriber_id, s.email, s.name FROM deliveries d
JOIN subscribers s ON s.id = d.subscriber_id
WHERE d.issue_date = :date AND d.state = :state AND d.subscriber_id > :after AND {waiting}
ORDER BY d.subscriber_id LIMIT :limit {lock}
"""
# What waits in each state (see claim_next).
_WAITING = {
    _D.PENDING: "(d.owner IS NULL OR d.owner <> :owner)",
    _D.FAILED: "d.updated_at < :started",
    _D.SENDING: "(d.lease_until IS NULL OR d.lease_until < :now)",
}
_STILL_ACTIVE = (
    "EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id"
    " AND s.status = 'active')"
)
_TAKE = """
UPDATE deliveries SET
    state = CASE WHEN {active} THEN 'sending' ELSE 'skipped' END,
    attempts = attempts + CASE WHEN {active} THEN 1 ELSE 0 END,
    lease_until = CASE WHEN {active} THEN :lease_until END,
    updated_at = :now, owner = :owner
WHERE id IN ({ids}) RETURNING subscriber_id, state
"""
# The picked ids as one parameter, not fifty placeholders: a JSON array on SQLite, an
# integer array on PostgreSQL.
_ID_LIST = {
    "sqlite": "SELECT value FROM json_each(:ids)",
    "postgresql": "SELECT unnest(CAST(:ids AS integer[]))",
}


@functools.cache
def _sql(dialect: str, template: str, **parts: str) -> str:
    """``template`` with ``parts`` in place, in ``dialect``'s parameter style."""
    sql = template.format(**parts)
    return _NAMED.sub(r"%(\1)s", sql) if dialect == "postgresql" else sql


_NAMED = re.compile(r"(?<!:):(\w+)")


def _driver(conn: Connection) -> Any:
    """The DB-API cursor of ``conn``'s connection, inside its transaction."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _stamp(conn: Connection, at: dt.datetime) -> object:
    """``at`` as the store keeps it (a string on SQLite, as SQLAlchemy writes it)."""
    process = _d.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(at) if process else at


def claim_next(
    conn: Connection,
    date: dt.date,
    state: DeliveryState,
    *,
    after: int,
    limit: int,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    started: dt.datetime,
) -> Taken:
    """Claim up to ``limit`` rows of the issue waiting in ``state``, in subscriber order
    past ``after``, for ``owner`` until ``now + lease``; skip rows others are claiming.

    What waits in each state: ``pending`` rows not released by ``owner`` itself (its
    retries take those back by id); ``failed`` rows that failed before this run
    ``started`` (a run retries an earlier run's failures once); ``sending`` rows whose
    lease ran out (unknown: only a resend asks for those). Anyone no longer active is
    ``skipped`` instead, by their status when the row is moved.

    On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``: two workers never pick
    the same row, nor wait for each other. On SQLite the transaction holds the write lock.
    """
    dialect = conn.dialect.name
    params = {
        "date": date.isoformat(),
        "state": str(state),
        "after": after,
        "limit": limit,
        "owner": owner,
        "now": _stamp(conn, now),
        "started": _stamp(conn, started),
        "lease_until": _stamp(conn, now + lease),
    }
    lock = "FOR UPDATE OF d SKIP LOCKED" if dialect == "postgresql" else ""
    cursor = _driver(conn)
    cursor.execute(_sql(dialect, _PICK, waiting=_WAITING[state], lock=lock), params)
    picked = cursor.fetchall()
    if not picked:
        return Taken([], 0, after, exhausted=True)
    ids = [row[0] for row in picked]
    params["ids"] = json.dumps(ids) if dialect == "sqlite" else ids
    cursor.execute(_sql(dialect, _TAKE, active=_STILL_ACTIVE, ids=_ID_LIST[dialect]), params)
    moved = dict(cursor.fetchall())
    claimed = [
        Subscriber(sid, email, name, SubscriberStatus.ACTIVE)
        for _, sid, email, name in picked
        if moved.get(sid) == _D.SENDING
    ]
    skipped = sum(1 for new in moved.values() if new == _D.SKIPPED)
    return Taken(claimed, skipped, picked[-1][1], exhausted=len(picked) < limit)


# -- finishing ---------------------------------------------------------------------------------
# One statement for a whole batch (or several calls' batches at once), whatever its size,
# each row found by its unique (issue, subscriber) key. PostgreSQL: one UPDATE joined to
# the outcomes sent as a single JSON parameter (one round trip).

_FINISH_POSTGRES = """
UPDATE deliveries SET
    state = outcome.state, message_id = outcome.mid, last_error = outcome.err,
    lease_until = CASE WHEN outcome.lost THEN :expired END, updated_at = :now
FROM json_to_recordset(CAST(:rows AS json))
    AS outcome(sid integer, state text, mid text, err text, lost boolean)
WHERE deliveries.issue_date = :date AND deliveries.subscriber_id = outcome.sid
  AND deliveries.state = 'sending' AND deliveries.owner = :owner
"""
# SQLite: the driver's executemany (a C loop over tuples), each row found by its key.
_FINISH_SQLITE = (
    "UPDATE deliveries SET state = ?, message_id = ?, last_error = ?, lease_until = ?,"
    " updated_at = ? WHERE issue_date = ? AND subscriber_id = ? AND state = 'sending'"
    " AND owner = ?"
)


@dataclass(frozen=True)
class Outcomes:
    """A batch's outcome, by what the ledger records: ``(subscriber id, message id)`` sent,
    ``(subscriber id, reason)`` for the rest."""

    sent: Sequence[tuple[int, str]] = ()
    failed: Sequence[tuple[int, str]] = ()
    released: Sequence[tuple[int, str]] = ()  # certainly not handed over: back to ``pending``
    unknown: Sequence[tuple[int, str]] = ()  # a call with no answer: unknown from now on

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.released) + len(self.unknown)


def finish_batch(
    conn: Connection, date: dt.date, owner: str, outcomes: Outcomes, *, now: dt.datetime
) -> int:
    """Record a batch's outcome in one statement; return how many rows it changed.

    Only rows still in ``sending`` for ``owner`` change: a row is finished once, by its
    claimer. Fewer than given means rows were taken over after this owner's lease ran out.
    """
    rows: list[tuple[int, str, str | None, str | None, bool]] = [
        (i, _D.SENT, m, None, False) for i, m in outcomes.sent
    ]
    kinds = (
        (_D.FAILED, outcomes.failed, False),
        (_D.PENDING, outcomes.released, False),
        (_D.SENDING, outcomes.unknown, True),  # unknown from now on: its lease ends
    )
    for state, reasons, lost in kinds:
        rows += [(i, state, None, e[:_ERROR_LIMIT], lost) for i, e in reasons]
    if not rows:
        return 0
    cursor = _driver(conn)
    now_, expired, day = _stamp(conn, now), _stamp(conn, EXPIRED), date.isoformat()
    if conn.dialect.name == "sqlite":
        cursor.executemany(
            _FINISH_SQLITE,
            [(st, m, e, expired if x else None, now_, day, i, owner) for i, st, m, e, x in rows],
        )
    else:
        keyed = [{"sid": i, "state": st, "mid": m, "err": e, "lost": x} for i, st, m, e, x in rows]
        params = {"rows": json.dumps(keyed), "date": day, "owner": owner, "now": now_,
                  "expired": expired}  # fmt: skip
        cursor.execute(_sql("postgresql", _FINISH_POSTGRES), params)
    return int(cursor.rowcount)


# -- leases ------------------------------------------------------------------------------------


def renew(conn: Connection, date: dt.date, owner: str, *, until: dt.datetime) -> int:
    """Push the lease of ``owner``'s rows in flight to ``until`` (its heartbeat); how many.

    Rows the owner gave up on (lease ``EXPIRED``) stay unknown. On PostgreSQL the rows
    the ledger writer is finishing at this moment (locked) are left out: they are about to
    leave ``sending``, and waiting for them while the writer waited for rows this beat
    locked was a deadlock (seen with three workers). A row left out is renewed by the next
    beat, well within its lease.
    """
    ours = and_(
        _d.c.issue_date == date.isoformat(),
        _d.c.state == _D.SENDING,
        _d.c.owner == owner,
        _d.c.lease_until > EXPIRED,
    )
    if conn.dialect.name == "postgresql":
        free = select(_d.c.id).where(ours).with_for_update(skip_locked=True)
        ours = _d.c.id.in_(free.scalar_subquery())
    renewed = conn.execute(update(_d).where(ours).values(lease_until=until))
    return int(renewed.rowcount)


def give_up(conn: Connection, date: dt.date, owner: str) -> int:
    """End the leases of every row ``owner`` still holds: they are unknown from now on."""
    ended = conn.execute(
        update(_d)
        .where(
            _d.c.issue_date == date.isoformat(),
            _d.c.state == _D.SENDING,
            _d.c.owner == owner,
            _d.c.lease_until > EXPIRED,
        )
        .values(lease_until=EXPIRED)
    )
    return int(ended.rowcount)
