"""Every move of a subscriber's status (``SubscriberStatus``): this module holds the rules.

The web app subscribes (pending), confirms (active) and unsubscribes; SES feedback
suppresses (bounced, complained); an import may carry a suppression in, never lift one.
Every move is a conditional UPDATE (``_move(..., only_from=...)``), so a replayed link, a
double click or two processes at once change nothing twice. Only ``pending`` can be
confirmed: an old confirmation link cannot bring back someone who left.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.exc import IntegrityError

from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.roster import clean_name
from subscribers.store.stamps import now
from subscribers.store.states import SubscriberStatus

_t = schema.subscribers
_S = SubscriberStatus
# Coming back from these takes the double opt-in again. A complaint is final for the web form:
# mailing someone who reported us as spam, on a stranger's say-so, is how senders get blocked.
_COME_BACK = (_S.UNSUBSCRIBED, _S.BOUNCED)
# No issue goes to these, and no import re-adds them.
SUPPRESSED = frozenset({_S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED})
_RECEIVING = (_S.ACTIVE, _S.PENDING)


class Outcome(enum.Enum):
    DONE = "done"  # the move happened now
    ALREADY = "already"  # it had happened before: a replay, harmless
    REFUSED = "refused"  # the subscriber is in a state this move does not start from
    UNKNOWN = "unknown"  # no such subscriber (the token was valid, the row is gone)


@dataclass(frozen=True)
class Request:
    """What the subscribe form did: whom it concerns and whether to mail a confirmation."""

    subscriber_id: int
    email: str
    send_confirmation: bool


def request_subscription(
    conn: Connection, raw_email: str, name: str | None, *, resend_after: dt.timedelta
) -> Request:
    """Record a subscribe request; raises ``InvalidAddress``.

    A new address becomes ``pending``; an unsubscribed or bounced one goes back to
    ``pending``; an active or complained one is left alone. A confirmation is due at most
    once per ``resend_after`` per address, so the form cannot be used to flood a mailbox.
    """
    address = normalise(raw_email)
    row = conn.execute(
        select(_t.c.id, _t.c.status).where(_t.c.email_key == address.key)
    ).one_or_none()
    if row is None:
        subscriber_id = _insert_pending(conn, address.email, address.key, clean_name(name))
    else:
        subscriber_id = row.id
        if row.status in _COME_BACK:
            _move(conn, subscriber_id, _S.PENDING, only_from=_COME_BACK)
    send = _claim_confirmation(conn, subscriber_id, resend_after)
    if send and name:
        conn.execute(update(_t).where(_t.c.id == subscriber_id).values(name=clean_name(name)))
    return Request(subscriber_id, address.email, send)


def _insert_pending(conn: Connection, email: str, key: str, name: str | None) -> int:
    stamp = now()
    try:
        with conn.begin_nested():
            result = conn.execute(
                _t.insert().values(
                    email=email,
                    email_key=key,
                    name=name,
                    status=_S.PENDING,
                    source="web",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    except IntegrityError:
        # The same address arrived twice at once: the other request made the row.
        return int(conn.scalar(select(_t.c.id).where(_t.c.email_key == key)) or 0)
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def _claim_confirmation(conn: Connection, subscriber_id: int, resend_after: dt.timedelta) -> bool:
    """Take the right to mail a confirmation now: pending, and none sent within the window."""
    stamp = now()
    claimed = conn.execute(
        update(_t)
        .where(_t.c.id == subscriber_id, _t.c.status == _S.PENDING)
        .where(or_(_t.c.confirm_sent_at.is_(None), _t.c.confirm_sent_at < stamp - resend_after))
        .values(confirm_sent_at=stamp)
    )
    return bool(claimed.rowcount)


def release_confirmation(conn: Connection, subscriber_id: int) -> None:
    """The confirmation could not be sent: let the next request try at once."""
    conn.execute(update(_t).where(_t.c.id == subscriber_id).values(confirm_sent_at=None))


def confirm(conn: Connection, subscriber_id: int) -> Outcome:
    """pending -> active; a replayed link finds it active and changes nothing."""
    if _move(conn, subscriber_id, _S.ACTIVE, only_from=(_S.PENDING,)):
        # A fresh opt-in starts a fresh run of transient bounces.
        conn.execute(update(_t).where(_t.c.id == subscriber_id).values(transient_bounces=0))
        return Outcome.DONE
    return _settled(conn, subscriber_id, _S.ACTIVE)


def unsubscribe(conn: Connection, subscriber_id: int) -> Outcome:
    """active or pending -> unsubscribed; bounced and complained stay as they are."""
    if _move(conn, subscriber_id, _S.UNSUBSCRIBED, only_from=_RECEIVING):
        return Outcome.DONE
    status = _status(conn, subscriber_id)
    return Outcome.UNKNOWN if status is None else Outcome.ALREADY


def status_of(conn: Connection, subscriber_id: int) -> SubscriberStatus | None:
    return _status(conn, subscriber_id)


def suppress(conn: Connection, email_key: str, status: SubscriberStatus) -> bool:
    """SES says the address bounced for good (``bounced``) or complained (``complained``).

    A bounce suppresses only an address that still receives; a complaint overrides any other
    status. True if the status moved.
    """
    only_from: tuple[SubscriberStatus, ...]
    if status is _S.COMPLAINED:
        only_from = tuple(s for s in _S if s is not _S.COMPLAINED)
    elif status is _S.BOUNCED:
        only_from = _RECEIVING
    else:
        raise ValueError(f"{status} is not a suppression")
    moved = conn.execute(
        update(_t)
        .where(_t.c.email_key == email_key, _t.c.status.in_(only_from))
        .values(status=status, updated_at=now())
    )
    return bool(moved.rowcount)


def imported_status(
    current: SubscriberStatus, asked: SubscriberStatus
) -> SubscriberStatus | None:
    """What an import row asking for ``asked`` makes of a subscriber in ``current``.

    None when the import may not touch it: a suppressed subscriber stays as it is. The file
    can only carry a suppression in, never lift one.
    """
    if current in SUPPRESSED:
        return None
    return asked if asked in SUPPRESSED else current


def _move(
    conn: Connection,
    subscriber_id: int,
    status: SubscriberStatus,
    *,
    only_from: tuple[SubscriberStatus, ...],
) -> bool:
    """Move a subscriber to ``status`` if it is in one of ``only_from``; True if it moved.

    The condition is part of the UPDATE, so two processes cannot both make the same move.
    """
    moved = conn.execute(
        update(_t)
        .where(_t.c.id == subscriber_id, _t.c.status.in_(only_from))
        .values(status=status, updated_at=now())
    )
    return bool(moved.rowcount)


def _settled(conn: Connection, subscriber_id: int, target: SubscriberStatus) -> Outcome:
    status = _status(conn, subscriber_id)
    if status is None:
        return Outcome.UNKNOWN
    return Outcome.ALREADY if status == target else Outcome.REFUSED


def _status(conn: Connection, subscriber_id: int) -> SubscriberStatus | None:
    status = conn.scalar(select(_t.c.status).where(_t.c.id == subscriber_id))
    return None if status is None else SubscriberStatus(status)
