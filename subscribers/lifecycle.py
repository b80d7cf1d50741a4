"""A subscriber's life through the web app: subscribe (pending), confirm (active), unsubscribe.

Every move is a conditional UPDATE (``set_status(..., only_from=...)``), so a replayed link,
a double click or two processes at once change nothing twice. Only ``pending`` can be
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
from subscribers.store.roster import clean_name, now, set_status

_t = schema.subscribers
# Coming back from these takes the double opt-in again. A complaint is final for the web form:
# mailing someone who reported us as spam, on a stranger's say-so, is how senders get blocked.
_COME_BACK = (schema.UNSUBSCRIBED, schema.BOUNCED)


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
            set_status(conn, subscriber_id, schema.PENDING, only_from=_COME_BACK)
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
                    status=schema.PENDING,
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
        .where(_t.c.id == subscriber_id, _t.c.status == schema.PENDING)
        .where(or_(_t.c.confirm_sent_at.is_(None), _t.c.confirm_sent_at < stamp - resend_after))
        .values(confirm_sent_at=stamp)
    )
    return bool(claimed.rowcount)


def release_confirmation(conn: Connection, subscriber_id: int) -> None:
    """The confirmation could not be sent: let the next request try at once."""
    conn.execute(update(_t).where(_t.c.id == subscriber_id).values(confirm_sent_at=None))


def confirm(conn: Connection, subscriber_id: int) -> Outcome:
    """pending -> active; a replayed link finds it active and changes nothing."""
    if set_status(conn, subscriber_id, schema.ACTIVE, only_from=(schema.PENDING,)):
        # A fresh opt-in starts a fresh run of transient bounces.
        conn.execute(update(_t).where(_t.c.id == subscriber_id).values(transient_bounces=0))
        return Outcome.DONE
    return _settled(conn, subscriber_id, schema.ACTIVE)


def unsubscribe(conn: Connection, subscriber_id: int) -> Outcome:
    """active or pending -> unsubscribed; bounced and complained stay as they are."""
    if set_status(
        conn, subscriber_id, schema.UNSUBSCRIBED, only_from=(schema.ACTIVE, schema.PENDING)
    ):
        return Outcome.DONE
    status = _status(conn, subscriber_id)
    return Outcome.UNKNOWN if status is None else Outcome.ALREADY


def status_of(conn: Connection, subscriber_id: int) -> str | None:
    return _status(conn, subscriber_id)


def _settled(conn: Connection, subscriber_id: int, target: str) -> Outcome:
    status = _status(conn, subscriber_id)
    if status is None:
        return Outcome.UNKNOWN
    return Outcome.ALREADY if status == target else Outcome.REFUSED


def _status(conn: Connection, subscriber_id: int) -> str | None:
    return conn.scalar(select(_t.c.status).where(_t.c.id == subscriber_id))
