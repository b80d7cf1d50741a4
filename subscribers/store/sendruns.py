"""Send runs: one row per send process on one issue, moved through ``RunState``.

A run is registered when a send starts (owner ``host:pid:run``, the same owner its ledger
rows carry), beats while it works (its lease and its rows' leases pushed forward, its
counts brought up to date: one transaction per beat) and records how it ended: finished,
paused (with the reason) or stopped. A run still ``running`` whose lease ran out belongs
to a process that died: nobody records that, ``status`` reads it. Several runs may work on
one issue at once; this is what ``status`` shows of a live send.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, update

from subscribers.store import ledger, schema
from subscribers.store.stamps import aware
from subscribers.store.states import RunState

_r = schema.send_runs
_REASON_LIMIT = 500


def new_owner() -> str:
    """``host:pid:run``: the process an operator can find, and this run of it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Counts:
    """What a run did so far."""

    delivered: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Run:
    owner: str
    resend_unknown: bool
    state: RunState
    reason: str | None
    total: int  # active subscribers when it started
    counts: Counts
    started_at: dt.datetime
    beat_at: dt.datetime
    lease_until: dt.datetime
    ended_at: dt.datetime | None

    def alive(self, now: dt.datetime) -> bool:
        return self.state is RunState.RUNNING and self.lease_until >= now

    def lost(self, now: dt.datetime) -> bool:
        """Still ``running`` with its lease run out: the process died mid-send."""
        return self.state is RunState.RUNNING and self.lease_until < now

    @property
    def rate(self) -> float | None:
        """Messages per second it handed over, from its start to its last beat."""
        seconds = ((self.ended_at or self.beat_at) - self.started_at).total_seconds()
        return self.counts.delivered / seconds if seconds > 0 else None


def start(
    conn: Connection,
    date: dt.date,
    owner: str,
    *,
    total: int,
    resend_unknown: bool,
    now: dt.datetime,
    lease: dt.timedelta,
) -> None:
    conn.execute(
        _r.insert().values(
            owner=owner,
            issue_date=date.isoformat(),
            resend_unknown=resend_unknown,
            state=RunState.RUNNING,
            total=total,
            delivered=0,
            failed=0,
            skipped=0,
            started_at=now,
            beat_at=now,
            lease_until=now + lease,
        )
    )


def beat(
    conn: Connection,
    date: dt.date,
    owner: str,
    counts: Counts,
    *,
    now: dt.datetime,
    lease: dt.timedelta,
) -> int:
    """The heartbeat: the run's lease and its rows' leases pushed to ``now + lease``, its
    counts recorded; return how many rows are in flight."""
    conn.execute(
        update(_r)
        .where(_r.c.owner == owner)
        .values(beat_at=now, lease_until=now + lease, **_values(counts))
    )
    return ledger.renew(conn, date, owner, until=now + lease)


def end(
    conn: Connection,
    owner: str,
    state: RunState,
    counts: Counts,
    *,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    conn.execute(
        update(_r)
        .where(_r.c.owner == owner)
        .values(
            state=state,
            reason=reason[:_REASON_LIMIT] if reason else None,
            beat_at=now,
            ended_at=now,
            **_values(counts),
        )
    )


# A run counts as sending (for sharing the account's rate) while it beats: a process that
# died stops beating at once, long before its lease runs out.
BEATING = dt.timedelta(seconds=15)


def live(conn: Connection, *, now: dt.datetime) -> int:
    """Runs sending now, on any issue: ``running``, lease live, beaten within ``BEATING``.

    The account's sending rate is shared by all of them.
    """
    query = select(func.count()).where(
        _r.c.state == RunState.RUNNING, _r.c.lease_until >= now, _r.c.beat_at >= now - BEATING
    )
    return int(conn.scalar(query) or 0)


def of_issue(conn: Connection, date: dt.date) -> list[Run]:
    """Every run on the issue of ``date``, oldest first."""
    rows = conn.execute(
        select(_r).where(_r.c.issue_date == date.isoformat()).order_by(_r.c.started_at)
    )
    return [
        Run(
            owner=row.owner,
            resend_unknown=bool(row.resend_unknown),
            state=RunState(row.state),
            reason=row.reason,
            total=row.total,
            counts=Counts(row.delivered, row.failed, row.skipped),
            started_at=aware(row.started_at),
            beat_at=aware(row.beat_at),
            lease_until=aware(row.lease_until),
            ended_at=aware(row.ended_at) if row.ended_at else None,
        )
        for row in rows
    ]


def _values(counts: Counts) -> dict[str, int]:
    return {"delivered": counts.delivered, "failed": counts.failed, "skipped": counts.skipped}
