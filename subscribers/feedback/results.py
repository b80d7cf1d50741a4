"""One issue's results, read from the ledger and the SES events tied to it.

What each figure counts (``emails.deliverability.IssueResults``), per issue:

* ``sent``: deliveries the ledger holds as ``sent`` (handed to SES; SES gave a message id);
* every other figure counts *subscribers*, each once, whatever number of events SES sent
  about them: ``delivered`` (a Delivery event), ``bounced`` hard (a Permanent bounce) and
  soft (Transient or Undetermined bounces only), ``complained`` (a complaint other than
  ``not-spam``), ``rejected`` (Reject: SES found a virus), ``delayed`` (a DeliveryDelay,
  even when delivered later), ``unsubscribed`` (unsubscribed through the link while this
  was the last issue delivered to them: ``subscribers.lifecycle``);
* ``opened``: people who opened (a human open, see ``subscribers.feedback.events`` for the
  rule) and, apart, those whose only opens were machines' (Apple Mail Privacy Protection's
  prefetch, scanners); ``clicked``: people with a human click. Both are None for an issue
  without a single Open or Click event: tracking was off (or nobody at all opened).

Events for messages the store does not know count nowhere. Erasing a person removes their
deliveries and events, so the figures of past issues drop by what they contributed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, and_, exists, func, select

from emails.deliverability import IssueResults
from subscribers.feedback.events import HUMAN, MACHINE, EventKind
from subscribers.lifecycle import LINK
from subscribers.store import editions, ledger, schema
from subscribers.store.states import DeliveryState, SubscriberStatus

_e = schema.events
_h = schema.status_history
_ed = schema.editions
RECENT = 30


def issue_results(conn: Connection, date: dt.date) -> IssueResults | None:
    """The results of the issue of ``date``; None when it was never assembled."""
    edition = editions.get(conn, date)
    if edition is None:
        return None
    return _results(conn, date, edition.number)


def recent_results(conn: Connection, limit: int = RECENT) -> list[IssueResults]:
    """The last ``limit`` issues that went out, oldest first."""
    rows = conn.execute(
        select(_ed.c.date, _ed.c.number)
        .where(_ed.c.state.in_(editions.WENT_OUT))
        .order_by(_ed.c.date.desc())
        .limit(limit)
    ).all()
    return [_results(conn, dt.date.fromisoformat(d), n) for d, n in reversed(rows)]


def _results(conn: Connection, date: dt.date, number: int | None) -> IssueResults:
    key = date.isoformat()
    count = _Counter(conn, key)
    tracked = count.any((EventKind.OPEN, EventKind.CLICK))
    human_opens = count.people(EventKind.OPEN, (HUMAN,))
    return IssueResults(
        date=date,
        number=number,
        sent=ledger.counts(conn, date)[DeliveryState.SENT],
        delivered=count.people(EventKind.DELIVERY),
        bounced_hard=count.people(EventKind.BOUNCE, ("permanent",)),
        bounced_soft=count.people(EventKind.BOUNCE, but_not=("permanent",)),
        complained=count.people(EventKind.COMPLAINT, but_not=("not-spam",)),
        rejected=count.people(EventKind.REJECT),
        delayed=count.people(EventKind.DELAY),
        unsubscribed=_unsubscribed(conn, key),
        opened_human=human_opens if tracked else None,
        opened_machine=count.people(EventKind.OPEN, (MACHINE,), but_not=(HUMAN,))
        if tracked
        else None,
        clicked=count.people(EventKind.CLICK, (HUMAN,)) if tracked else None,
        rendering_failed=count.people(EventKind.RENDERING_FAILURE),
    )


class _Counter:
    """Distinct subscribers with events of a kind, for one issue."""

    def __init__(self, conn: Connection, issue_date: str) -> None:
        self.conn, self.issue_date = conn, issue_date

    def any(self, kinds: Sequence[EventKind]) -> bool:
        where = and_(_e.c.issue_date == self.issue_date, _e.c.kind.in_(list(kinds)))
        return bool(self.conn.scalar(select(exists().where(where))))

    def people(
        self, kind: EventKind, details: Sequence[str] = (), *, but_not: Sequence[str] = ()
    ) -> int:
        """Subscribers with a ``kind`` event (of one of ``details``), and none of ``but_not``."""
        query = select(func.count(func.distinct(_e.c.subscriber_id))).where(
            _e.c.issue_date == self.issue_date,
            _e.c.kind == kind,
            _e.c.subscriber_id.is_not(None),
        )
        if details:
            query = query.where(_e.c.detail.in_(list(details)))
        if but_not:
            excluded = select(_e.c.subscriber_id).where(
                _e.c.issue_date == self.issue_date,
                _e.c.kind == kind,
                _e.c.detail.in_(list(but_not)),
                _e.c.subscriber_id.is_not(None),
            )
            query = query.where(_e.c.subscriber_id.not_in(excluded))
        return int(self.conn.scalar(query) or 0)


def _unsubscribed(conn: Connection, issue_date: str) -> int:
    query = select(func.count(func.distinct(_h.c.subscriber_id))).where(
        _h.c.issue_date == issue_date,
        _h.c.to_status == SubscriberStatus.UNSUBSCRIBED,
        _h.c.actor == LINK,
    )
    return int(conn.scalar(query) or 0)
