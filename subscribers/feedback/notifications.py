"""SES notifications applied: each event recorded once, and what it means for the list.

Policy:
- a Permanent bounce suppresses the address (``bounced``); a complaint suppresses it
  (``complained``, over any other status), unless its feedback type is ``not-spam``;
- Transient and Undetermined bounces are counted; ``transient_limit`` in a row suppress;
- the run is broken by a Delivery event for the address (when the SES configuration
  publishes deliveries) and by a fresh confirmation;
- each event is applied once, by its identity (``events``: SNS and SQS deliver at least
  once), so a redelivered transient bounce is not counted twice;
- every event is kept for ``morningpost stats``, tied to its issue and subscriber when the
  message is one of ours; one for a message the store does not know is kept untied, logged,
  and still applied to the address it names (a confirmation email can bounce too).
Both SES notification shapes are read: identity notifications (``notificationType``) and
configuration-set events (``eventType``), inside an SNS envelope or raw.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from emails.errors import BadNotification
from subscribers import lifecycle
from subscribers.addresses import mask
from subscribers.feedback.events import EventKind, Recorded, address_key, read_events, record
from subscribers.store import schema
from subscribers.store.stamps import now
from subscribers.store.states import SubscriberStatus

log = logging.getLogger(__name__)

_t = schema.subscribers


@dataclass
class FeedbackReport:
    suppressed: list[str] = field(default_factory=list)  # masked addresses
    counted: int = 0  # transient bounces counted
    reset: int = 0  # delivery events that broke a run
    ignored: int = 0  # duplicates, unknown addresses, kinds with no effect
    recorded: int = 0  # events stored for the first time
    repeated: int = 0  # events stored before: a redelivery, applied no more
    untied: int = 0  # events for messages the store does not know

    def add(self, other: FeedbackReport) -> None:
        self.suppressed += other.suppressed
        self.counted += other.counted
        self.reset += other.reset
        self.ignored += other.ignored
        self.recorded += other.recorded
        self.repeated += other.repeated
        self.untied += other.untied


def parse_notification(body: str | Mapping[str, Any]) -> dict[str, Any]:
    """The SES notification in ``body``: itself, or inside an SNS envelope's ``Message``."""
    data = _json_object(body)
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        data = _json_object(data["Message"])
    if not isinstance(data.get("mail"), dict) or _kind(data) is None:
        raise BadNotification("not an SES notification (no mail/notificationType)")
    return data


def _json_object(body: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadNotification("not JSON") from None
    if not isinstance(data, dict):
        raise BadNotification("not a JSON object")
    return data


def _kind(data: Mapping[str, Any]) -> str | None:
    kind = data.get("notificationType") or data.get("eventType")
    return kind if isinstance(kind, str) else None


def apply_notification(
    conn: Connection, data: Mapping[str, Any], *, transient_limit: int
) -> FeedbackReport:
    """Record and apply one parsed SES notification; return what it did."""
    report = FeedbackReport()
    events = read_events(data)
    if not events:
        log.info("ignored an SES notification of kind %r", str(_kind(data))[:40])
        report.ignored += 1
    for event in events:
        recorded = record(conn, event)
        if recorded is None:
            report.repeated += 1
            report.ignored += 1
            continue
        report.recorded += 1
        report.untied += not recorded.tied
        _apply(conn, recorded, transient_limit, report)
    return report


def _apply(conn: Connection, recorded: Recorded, limit: int, report: FeedbackReport) -> None:
    event = recorded.event
    email = event.recipient
    if not email:
        return
    if event.kind is EventKind.BOUNCE:
        if event.detail == "permanent":
            _suppress(conn, recorded, SubscriberStatus.BOUNCED, report)
        else:
            _count_transient(conn, recorded, limit, report)
    elif event.kind is EventKind.COMPLAINT:
        if event.detail == "not-spam":
            report.ignored += 1  # the recipient said it is NOT spam
            return
        _suppress(conn, recorded, SubscriberStatus.COMPLAINED, report)
    elif event.kind is EventKind.DELIVERY:
        report.reset += _reset(conn, email)


def _suppress(
    conn: Connection,
    recorded: Recorded,
    status: SubscriberStatus,
    report: FeedbackReport,
    reason: str | None = None,
) -> None:
    email = recorded.event.recipient or ""
    why = lifecycle.Why(lifecycle.SES, reason or recorded.event.note, event_id=recorded.id)
    if lifecycle.suppress(conn, address_key(email), status, why=why):
        log.info("%s: %s", status, mask(email))
        report.suppressed.append(mask(email))
    else:
        report.ignored += 1


def _count_transient(
    conn: Connection, recorded: Recorded, limit: int, report: FeedbackReport
) -> None:
    key = address_key(recorded.event.recipient or "")
    conn.execute(
        update(_t)
        .where(_t.c.email_key == key)
        .values(transient_bounces=_t.c.transient_bounces + 1, updated_at=now())
    )
    count = conn.scalar(select(_t.c.transient_bounces).where(_t.c.email_key == key))
    if count is None:
        report.ignored += 1
        return
    report.counted += 1
    if count >= limit:
        reason = f"{count} soft bounces in a row; the last: {recorded.event.note}"
        _suppress(conn, recorded, SubscriberStatus.BOUNCED, report, reason)


def _reset(conn: Connection, email: str) -> int:
    moved = conn.execute(
        update(_t)
        .where(_t.c.email_key == address_key(email), _t.c.transient_bounces > 0)
        .values(transient_bounces=0)
    )
    return int(moved.rowcount)
