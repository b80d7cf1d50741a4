"""SES events as rows: one per event and recipient, tied to the issue and subscriber.

Reading (``read_events``) is a pure function of one SES notification, in either shape:
configuration-set event publishing (``eventType``: Send, Delivery, Bounce, Complaint,
Reject, DeliveryDelay, "Rendering Failure", Open, Click, Subscription) or identity
notifications (``notificationType``: Bounce, Complaint, Delivery). A notification naming
several recipients gives one event each.

Identity: each event gets a key, a SHA-256 of what makes it itself: SES's ``feedbackId``
for bounces and complaints, else the message id with the kind (and, for the kinds that can
happen more than once per message, its time, address and link), plus the recipient. SNS and
SQS deliver at least once, and the same event may come through both the queue and the
webhook: the key makes every copy after the first a no-op (``record`` answers None).

Tying (``record``): the event's message id is looked up in the delivery ledger, which
holds the SES message id of every delivery. When it is not there yet (an event can
overtake the end of its batch) the ``issue`` tag every send sets, with the recipient's
address, names the delivery instead, if that delivery has no other message id (a test copy
to an editor carries the tag too, and must not count). An event for a message the store
does not know is kept untied and logged: it still counts once, and it never stops a drain.

Machine opens (``is_machine``): Apple Mail Privacy Protection fetches every image of every
message on delivery, whether or not anyone reads it, from Apple's network with a bare
``Mozilla/5.0`` user agent; security scanners and link checkers announce themselves or use
plain HTTP libraries. An open or click is a machine's when its user agent is missing, is
exactly ``Mozilla/5.0``, or names a known fetcher, or when it comes from Apple's 17.0.0.0/8.
Gmail's and Yahoo's image proxies fetch when a person opens the message: those count as
people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from emails.errors import InvalidAddress
from subscribers.addresses import mask, normalise
from subscribers.store import schema
from subscribers.store.stamps import now

log = logging.getLogger(__name__)

_e = schema.events
_d = schema.deliveries
_s = schema.subscribers


class EventKind(StrEnum):
    SEND = "send"
    DELIVERY = "delivery"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    REJECT = "reject"
    DELAY = "delay"
    RENDERING_FAILURE = "rendering_failure"
    OPEN = "open"
    CLICK = "click"
    SUBSCRIPTION = "subscription"


# SES's names, in both shapes, and the object holding each kind's details.
_KINDS: dict[str, tuple[EventKind, str]] = {
    "Send": (EventKind.SEND, "send"),
    "Delivery": (EventKind.DELIVERY, "delivery"),
    "Bounce": (EventKind.BOUNCE, "bounce"),
    "Complaint": (EventKind.COMPLAINT, "complaint"),
    "Reject": (EventKind.REJECT, "reject"),
    "DeliveryDelay": (EventKind.DELAY, "deliveryDelay"),
    "Rendering Failure": (EventKind.RENDERING_FAILURE, "failure"),
    "RenderingFailure": (EventKind.RENDERING_FAILURE, "failure"),
    "Open": (EventKind.OPEN, "open"),
    "Click": (EventKind.CLICK, "click"),
    "Subscription": (EventKind.SUBSCRIPTION, "subscription"),
}
HUMAN, MACHINE = "human", "machine"
_MACHINE_AGENTS = re.compile(
    r"bot\b|spider|crawler|scanner|python-|curl/|wget/|go-http|java/|okhttp|headless"
    r"|barracuda|mimecast|proofpoint|symantec|trendmicro|fireeye|microsoft office protection",
    re.IGNORECASE,
)
_APPLE = ipaddress.ip_network("17.0.0.0/8")
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_NOTE_MAX = 500


@dataclass(frozen=True)
class SesEvent:
    """One event for one recipient, as read from SES (nothing looked up yet)."""

    kind: EventKind
    key: str  # SHA-256 hex of the event's identity
    message_id: str | None
    recipient: str | None  # the address as SES gave it
    issue_tag: str | None  # the ``issue`` message tag the send set, if SES passed it on
    detail: str  # bounce type, complaint feedback type, delay type, human or machine
    note: str  # one line for people, addresses masked
    occurred_at: dt.datetime | None


def kind_of(data: Mapping[str, Any]) -> EventKind | None:
    """The event kind of an SES notification, or None for one this code does not know."""
    name = data.get("eventType") or data.get("notificationType")
    found = _KINDS.get(name) if isinstance(name, str) else None
    return found[0] if found else None


def read_events(data: Mapping[str, Any]) -> list[SesEvent]:
    """The events in one parsed SES notification, one per recipient (none if unknown kind)."""
    name = data.get("eventType") or data.get("notificationType")
    if not isinstance(name, str) or name not in _KINDS:
        return []
    kind, field = _KINDS[name]
    mail = _object(data.get("mail"))
    detail = _object(data.get(field))
    message_id = _text(mail.get("messageId"))
    base = _identity(kind, message_id, detail)
    what, note = _detail(kind, detail)
    tag = _issue_tag(mail)
    when = _time(detail.get("timestamp")) or _time(mail.get("timestamp"))
    return [
        SesEvent(kind, _hash(base, r), message_id, r, tag, what, _masked(note), when)
        for r in _recipients(kind, detail, mail)
    ]


def _recipients(kind: EventKind, detail: Mapping[str, Any], mail: Mapping[str, Any]) -> list[str]:
    if kind is EventKind.BOUNCE:
        found = _addresses(detail.get("bouncedRecipients"))
    elif kind is EventKind.COMPLAINT:
        found = _addresses(detail.get("complainedRecipients"))
    elif kind is EventKind.DELAY:
        found = _addresses(detail.get("delayedRecipients"))
    elif kind is EventKind.DELIVERY:
        found = _strings(detail.get("recipients"))
    else:
        found = _strings(mail.get("destination"))
    return found or [""]  # an event naming nobody is still an event, once


def _identity(kind: EventKind, message_id: str | None, detail: Mapping[str, Any]) -> str:
    feedback_id = _text(detail.get("feedbackId"))
    if feedback_id and kind in (EventKind.BOUNCE, EventKind.COMPLAINT):
        return f"{kind}:{feedback_id}"
    # Kinds that can happen again for one message carry what tells the times apart.
    again = {
        EventKind.DELAY: ("timestamp",),
        EventKind.OPEN: ("timestamp", "ipAddress", "userAgent"),
        EventKind.CLICK: ("timestamp", "ipAddress", "userAgent", "link"),
        EventKind.SUBSCRIPTION: ("timestamp",),
        EventKind.BOUNCE: ("timestamp",),
        EventKind.COMPLAINT: ("timestamp",),
    }.get(kind, ())
    return "|".join([str(kind), message_id or "", *(str(detail.get(k, "")) for k in again)])


def _hash(base: str, recipient: str) -> str:
    return hashlib.sha256(f"{base}|{recipient.strip().casefold()}".encode()).hexdigest()


def _detail(kind: EventKind, detail: Mapping[str, Any]) -> tuple[str, str]:
    """What kind of this kind it was (``detail``), and a line for people (``note``)."""
    if kind is EventKind.BOUNCE:
        bounce_type = _text(detail.get("bounceType")) or "Undetermined"
        sub = _text(detail.get("bounceSubType")) or "General"
        first = _first(detail.get("bouncedRecipients"))
        diagnostic = " ".join(filter(None, (first.get("status"), first.get("diagnosticCode"))))
        return bounce_type.lower(), f"{bounce_type} bounce ({sub}) {diagnostic}".strip()
    if kind is EventKind.COMPLAINT:
        feedback = _text(detail.get("complaintFeedbackType")) or ""
        return feedback, f"complaint ({feedback or 'no feedback type given'})"
    if kind is EventKind.DELAY:
        first = _first(detail.get("delayedRecipients"))
        delay = _text(detail.get("delayType")) or "Undetermined"
        return delay, f"delayed ({delay}) {first.get('diagnosticCode') or ''}".strip()
    if kind is EventKind.DELIVERY:
        return "", str(detail.get("smtpResponse") or "delivered")
    if kind is EventKind.REJECT:
        return "", f"rejected by SES: {detail.get('reason') or 'no reason given'}"
    if kind is EventKind.RENDERING_FAILURE:
        return "", f"SES could not render it: {detail.get('errorMessage') or 'no reason given'}"
    if kind in (EventKind.OPEN, EventKind.CLICK):
        agent = _text(detail.get("userAgent"))
        who = MACHINE if is_machine(agent, _text(detail.get("ipAddress"))) else HUMAN
        link = f" {detail.get('link')}" if kind is EventKind.CLICK else ""
        return who, f"{kind} by {who}{link} ({agent or 'no user agent'})"
    return "", str(kind)


def is_machine(user_agent: str | None, ip_address: str | None) -> bool:
    """True for an open or click made by software rather than a reader (module doc)."""
    agent = (user_agent or "").strip()
    if not agent or agent == "Mozilla/5.0" or _MACHINE_AGENTS.search(agent):
        return True
    try:
        return ipaddress.ip_address((ip_address or "").strip()) in _APPLE
    except ValueError:
        return False


def _issue_tag(mail: Mapping[str, Any]) -> str | None:
    tags = mail.get("tags")
    values = tags.get("issue") if isinstance(tags, dict) else None
    first = values[0] if isinstance(values, list) and values else None
    try:
        return dt.date.fromisoformat(first).isoformat() if isinstance(first, str) else None
    except ValueError:
        return None


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value[:255] if isinstance(value, str) and value else None


def _strings(value: object) -> list[str]:
    return [item for item in (value if isinstance(value, list) else []) if isinstance(item, str)]


def _addresses(value: object) -> list[str]:
    items = value if isinstance(value, list) else []
    return _strings([item.get("emailAddress") for item in items if isinstance(item, dict)])


def _first(value: object) -> dict[str, Any]:
    items = value if isinstance(value, list) else []
    return items[0] if items and isinstance(items[0], dict) else {}


def _masked(note: str) -> str:
    # A diagnostic code quotes the address; the store keeps none outside the subscriber row.
    one_line = " ".join(_ADDRESS.sub(lambda m: mask(m.group(0)), note).split())
    return one_line[:_NOTE_MAX]


def address_key(email: str) -> str:
    """The store's key for an address as SES spells it (display name, odd case)."""
    try:
        return normalise(email).key
    except InvalidAddress:
        return email.strip().casefold()


# -- recording ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """An event stored for the first time: its row id and what it was tied to."""

    id: int
    event: SesEvent
    issue_date: str | None
    subscriber_id: int | None

    @property
    def tied(self) -> bool:
        return self.subscriber_id is not None


def record(conn: Connection, event: SesEvent) -> Recorded | None:
    """Store ``event`` tied to its delivery; None when it was stored before (a redelivery)."""
    issue_date, subscriber_id = _tie(conn, event)
    try:
        with conn.begin_nested():
            result = conn.execute(
                _e.insert().values(
                    event_key=event.key,
                    kind=event.kind,
                    detail=event.detail[:40],
                    issue_date=issue_date,
                    subscriber_id=subscriber_id,
                    message_id=event.message_id,
                    note=event.note,
                    occurred_at=event.occurred_at,
                    received_at=now(),
                )
            )
    except IntegrityError:
        return None
    assert result.inserted_primary_key is not None
    recorded = Recorded(int(result.inserted_primary_key[0]), event, issue_date, subscriber_id)
    if not recorded.tied:
        log.info(
            "SES %s event for a message this store does not know (%s, %s): kept untied",
            event.kind,
            event.message_id or "no message id",
            mask(event.recipient) if event.recipient else "no recipient",
        )
    return recorded


def _tie(conn: Connection, event: SesEvent) -> tuple[str | None, int | None]:
    if event.message_id:
        row = conn.execute(
            select(_d.c.issue_date, _d.c.subscriber_id)
            .where(_d.c.message_id == event.message_id)
            .limit(1)
        ).first()
        if row is not None:
            return str(row.issue_date), int(row.subscriber_id)
    if not (event.issue_tag and event.recipient):
        return None, None
    row = conn.execute(
        select(_d.c.subscriber_id, _d.c.message_id)
        .join(_s, _s.c.id == _d.c.subscriber_id)
        .where(_d.c.issue_date == event.issue_tag, _s.c.email_key == address_key(event.recipient))
    ).first()
    if row is None or row.message_id not in (None, event.message_id):
        return None, None
    return event.issue_tag, int(row.subscriber_id)
