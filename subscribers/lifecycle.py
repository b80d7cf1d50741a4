"""Every move of a subscriber's status (``SubscriberStatus``): this module holds the rules.

The web app subscribes (pending), confirms (active) and unsubscribes; SES feedback
suppresses (bounced, complained); an import may carry a suppression in, never lift one.
Every move is a conditional UPDATE (``_move(..., only_from=...)``), so a replayed link, a
double click or two processes at once change nothing twice. Only ``pending`` can be
confirmed, and only by the link of its own sign-up: a confirm token carries the stamp of the
confirmation it came in (``confirm_sent_at``), which must still be the subscriber's and at
most ``tokens.CONFIRM_TTL`` old. An old confirmation link cannot bring back someone who left,
nor confirm a later sign-up of the same address.

Each move records why and when on the subscriber's row (``status_reason``,
``status_changed_at``, ``status_event_id``: the SES event that did it) and appends a line
to ``status_history``, so ``subscribers show`` can answer "why is this address not
receiving?".

Unsubscribes are counted against an issue (``morningpost stats``): the last issue delivered
to the reader when the one-click POST or the page's button arrives. The link itself names
only the reader; a reader who unsubscribes from an older email is counted against the
newer one they also received, which is the issue that made them leave more often than not.

Lifting a suppression (``unsuppress``, for operators): ``bounced`` can be lifted (the
mailbox works again); ``complained`` only with ``force`` (the reader reported us as spam:
mailing them again risks the sender's reputation, so an operator must mean it);
``unsubscribed`` never (it was the reader's choice: they can subscribe again themselves).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from subscribers import erasure
from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.roster import clean_name
from subscribers.store.stamps import aware, now
from subscribers.store.states import DeliveryState, SubscriberStatus
from subscribers.tokens import ConfirmToken

_t = schema.subscribers
_h = schema.status_history
_S = SubscriberStatus
# Coming back from these takes the double opt-in again. A complaint is final for the web form:
# mailing someone who reported us as spam, on a stranger's say-so, is how senders get blocked.
_COME_BACK = (_S.UNSUBSCRIBED, _S.BOUNCED)
# No issue goes to these, and no import re-adds them.
SUPPRESSED = frozenset({_S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED})
_RECEIVING = (_S.ACTIVE, _S.PENDING)


LINK = "link"  # the actor of a move the reader made through a link in an email
SES = "ses"  # the actor of a suppression SES feedback made
_REASON_MAX = 500


class Outcome(enum.Enum):
    DONE = "done"  # the move happened now
    ALREADY = "already"  # it had happened before: a replay, harmless
    REFUSED = "refused"  # the subscriber is in a state this move does not start from
    UNKNOWN = "unknown"  # no such subscriber (the token was valid, the row is gone)


@dataclass(frozen=True)
class Why:
    """Why a move is made, as recorded: who made it, the reason, and the SES event if any."""

    actor: str
    reason: str
    event_id: int | None = None
    issue_date: str | None = None


@dataclass(frozen=True)
class Request:
    """What the subscribe form did: whom it concerns and whether to mail a confirmation."""

    subscriber_id: int
    email: str
    stamp: dt.datetime | None  # when its confirmation is sent (None: none is due)

    @property
    def send_confirmation(self) -> bool:
        return self.stamp is not None


def request_subscription(
    conn: Connection,
    raw_email: str,
    name: str | None,
    *,
    resend_after: dt.timedelta,
    secret_key: str | None = None,
) -> Request:
    """Record a subscribe request; raises ``InvalidAddress``.

    A new address becomes ``pending``; an unsubscribed or bounced one goes back to
    ``pending``; an active or complained one is left alone; an erased one (recognised with
    ``secret_key``, ``subscribers.erasure``) is not stored at all. A confirmation is due at
    most once per ``resend_after`` per address, so the form cannot be used to flood a mailbox.
    """
    address = normalise(raw_email)
    if erasure.is_erased(conn, secret_key, address.key):
        return Request(0, address.email, None)
    row = conn.execute(
        select(_t.c.id, _t.c.status).where(_t.c.email_key == address.key)
    ).one_or_none()
    if row is None:
        subscriber_id = _insert_pending(conn, address.email, address.key, clean_name(name))
    else:
        subscriber_id = row.id
        if row.status in _COME_BACK:
            why = Why("web", "subscribed again on the web form")
            _move(conn, subscriber_id, _S.PENDING, only_from=_COME_BACK, why=why)
    stamp = _claim_confirmation(conn, subscriber_id, resend_after)
    if stamp is not None and name:
        conn.execute(update(_t).where(_t.c.id == subscriber_id).values(name=clean_name(name)))
    return Request(subscriber_id, address.email, stamp)


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
                    status_reason="subscribed on the web form",
                    status_changed_at=stamp,
                )
            )
    except IntegrityError:
        # The same address arrived twice at once: the other request made the row.
        return int(conn.scalar(select(_t.c.id).where(_t.c.email_key == key)) or 0)
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def _claim_confirmation(
    conn: Connection, subscriber_id: int, resend_after: dt.timedelta
) -> dt.datetime | None:
    """Take the right to mail a confirmation now (pending, and none sent within the window);
    the stamp it is sent under, which its link carries, or None."""
    stamp = now()
    claimed = conn.execute(
        update(_t)
        .where(_t.c.id == subscriber_id, _t.c.status == _S.PENDING)
        .where(or_(_t.c.confirm_sent_at.is_(None), _t.c.confirm_sent_at < stamp - resend_after))
        .values(confirm_sent_at=stamp)
    )
    return stamp if claimed.rowcount else None


def release_confirmation(conn: Connection, subscriber_id: int) -> None:
    """The confirmation could not be sent: let the next request try at once."""
    conn.execute(update(_t).where(_t.c.id == subscriber_id).values(confirm_sent_at=None))


def confirmation(conn: Connection, token: ConfirmToken) -> Outcome:
    """What ``confirm`` would do with ``token``, changing nothing: DONE means it can confirm."""
    row = _sign_up(conn, token)
    if row is None:
        return Outcome.UNKNOWN
    if row.confirm_sent_at is None or not _same_stamp(row.confirm_sent_at, token.stamp):
        return Outcome.REFUSED  # the link of an earlier sign-up, or of none
    if row.status == _S.ACTIVE:
        return Outcome.ALREADY
    if row.status != _S.PENDING or token.expired(now()):
        return Outcome.REFUSED
    return Outcome.DONE


def confirm(conn: Connection, token: ConfirmToken) -> Outcome:
    """pending -> active, by the link of this very sign-up, within ``CONFIRM_TTL``.

    A replayed link finds it active and changes nothing (ALREADY); the link of an earlier
    sign-up, or an expired one, is REFUSED.
    """
    outcome = confirmation(conn, token)
    if outcome is not Outcome.DONE:
        return outcome
    why = Why(LINK, "confirmed through the link")
    this_sign_up = _t.c.confirm_sent_at == token.stamp
    subscriber_id = token.subscriber_id
    if _move(conn, subscriber_id, _S.ACTIVE, only_from=(_S.PENDING,), why=why, also=this_sign_up):
        # A fresh opt-in starts a fresh run of transient bounces.
        conn.execute(update(_t).where(_t.c.id == subscriber_id).values(transient_bounces=0))
        return Outcome.DONE
    return confirmation(conn, token)


def _sign_up(conn: Connection, token: ConfirmToken) -> Any:  # a Row, or None
    query = select(_t.c.status, _t.c.confirm_sent_at).where(_t.c.id == token.subscriber_id)
    return conn.execute(query).one_or_none()


def _same_stamp(stored: dt.datetime, stamp: dt.datetime) -> bool:
    return aware(stored) == stamp


def unsubscribe(conn: Connection, subscriber_id: int, *, actor: str = LINK) -> Outcome:
    """active or pending -> unsubscribed; bounced and complained stay as they are.

    ``actor`` is ``LINK`` for the reader's own request (counted against the last issue
    delivered to them), or who else removed them (an operator's name).
    """
    if actor == LINK:
        why = Why(LINK, "unsubscribed through the link", issue_date=last_issue(conn, subscriber_id))
    else:
        why = Why(actor, "removed by an operator")
    if _move(conn, subscriber_id, _S.UNSUBSCRIBED, only_from=_RECEIVING, why=why):
        return Outcome.DONE
    status = _status(conn, subscriber_id)
    return Outcome.UNKNOWN if status is None else Outcome.ALREADY


def status_of(conn: Connection, subscriber_id: int) -> SubscriberStatus | None:
    return _status(conn, subscriber_id)


def last_issue(conn: Connection, subscriber_id: int) -> str | None:
    """The date of the last issue delivered to the subscriber (handed to the transport)."""
    d = schema.deliveries
    last: str | None = conn.scalar(
        select(func.max(d.c.issue_date)).where(
            d.c.subscriber_id == subscriber_id, d.c.state == DeliveryState.SENT
        )
    )
    return last


def suppress(
    conn: Connection,
    email_key: str,
    status: SubscriberStatus,
    *,
    why: Why | None = None,
) -> bool:
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
    row = conn.execute(
        select(_t.c.id, _t.c.status).where(_t.c.email_key == email_key)
    ).one_or_none()
    if row is None or row.status not in only_from:
        return False
    why = why or Why(SES, f"{status} according to SES")
    return _move(conn, row.id, status, only_from=only_from, why=why)


@dataclass(frozen=True)
class Lift:
    """What ``unsuppress`` did: ``outcome``, the status it found, and a line for the operator."""

    outcome: Outcome
    status: SubscriberStatus | None
    message: str


def unsuppress(
    conn: Connection, subscriber_id: int, *, actor: str, reason: str, force: bool = False
) -> Lift:
    """An operator lifts a suppression: the subscriber becomes ``active`` again (module doc)."""
    status = _status(conn, subscriber_id)
    if status is None:
        return Lift(Outcome.UNKNOWN, None, "no such subscriber")
    refusal = _lift_refusal(status, force)
    if refusal:
        return Lift(Outcome.REFUSED, status, refusal)
    why = Why(actor, f"suppression lifted: {reason}")
    if not _move(conn, subscriber_id, _S.ACTIVE, only_from=(status,), why=why):
        now_status = _status(conn, subscriber_id)
        return Lift(Outcome.REFUSED, now_status, "it changed meanwhile; look again")
    conn.execute(update(_t).where(_t.c.id == subscriber_id).values(transient_bounces=0))
    return Lift(Outcome.DONE, status, f"was {status}, now active")


def _lift_refusal(status: SubscriberStatus, force: bool) -> str | None:
    if status in _RECEIVING:
        return f"it is {status}: there is no suppression to lift"
    if status is _S.UNSUBSCRIBED:
        return (
            "it unsubscribed: that was the reader's choice, and only they can undo it "
            "(by subscribing again on the web form)"
        )
    if status is _S.COMPLAINED and not force:
        return (
            "it complained (reported the issue as spam): lifting that risks the sender's "
            "reputation; add --force if the reader asked for it"
        )
    return None


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
    why: Why,
    also: ColumnElement[bool] | None = None,
) -> bool:
    """Move a subscriber to ``status`` if it is in one of ``only_from`` (and ``also`` holds);
    True if it moved.

    The condition is part of the UPDATE, so two processes cannot both make the same move;
    the one that moves records why.
    """
    before = _status(conn, subscriber_id)
    stamp = now()
    reason = " ".join(why.reason.split())[:_REASON_MAX]
    moved = conn.execute(
        update(_t)
        .where(_t.c.id == subscriber_id, _t.c.status.in_(only_from))
        .where(also if also is not None else true())
        .values(
            status=status,
            updated_at=stamp,
            status_reason=reason,
            status_changed_at=stamp,
            status_event_id=why.event_id,
        )
    )
    if not moved.rowcount:
        return False
    conn.execute(
        _h.insert().values(
            subscriber_id=subscriber_id,
            at=stamp,
            from_status=before,
            to_status=status,
            reason=reason,
            event_id=why.event_id,
            issue_date=why.issue_date,
            actor=why.actor[:200],
        )
    )
    return True


def _status(conn: Connection, subscriber_id: int) -> SubscriberStatus | None:
    status = conn.scalar(select(_t.c.status).where(_t.c.id == subscriber_id))
    return None if status is None else SubscriberStatus(status)
