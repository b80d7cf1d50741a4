"""SES bounce, complaint and delivery notifications applied to the list.

Policy:
- a Permanent bounce suppresses the address (``bounced``); a complaint suppresses it
  (``complained``, over any other status), unless its feedback type is ``not-spam``;
- Transient and Undetermined bounces are counted; ``transient_limit`` in a row suppress;
- the run is broken by a Delivery notification for the address (when the SES configuration
  publishes deliveries) and by a fresh confirmation;
- each notification is applied once, by its SES feedback id (SNS and SQS deliver at least
  once), so a redelivered transient bounce is not counted twice.
Both SES notification shapes are read: identity notifications (``notificationType``) and
configuration-set events (``eventType``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from emails.errors import BadNotification, InvalidAddress
from subscribers import lifecycle
from subscribers.addresses import mask, normalise
from subscribers.store import schema
from subscribers.store.stamps import now
from subscribers.store.states import SubscriberStatus

log = logging.getLogger(__name__)

_t = schema.subscribers



@dataclass
class FeedbackReport:
    suppressed: list[str] = field(default_factory=list)  # masked addresses
    counted: int = 0  # transient bounces counted
    reset: int = 0  # delivery notifications that broke a run
    ignored: int = 0  # duplicates, unknown addresses, kinds with no effect


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
    """Apply one parsed SES notification to the list; return what it did."""
    report = FeedbackReport()
    kind = _kind(data)
    detail = data.get(str(kind).lower())
    detail = detail if isinstance(detail, dict) else {}
    if not _first_time(conn, _feedback_id(data, kind, detail), str(kind)):
        report.ignored += 1
        return report
    if kind == "Bounce":
        _bounce(conn, detail, transient_limit, report)
    elif kind == "Complaint":
        _complaint(conn, detail, report)
    elif kind == "Delivery":
        for email in _strings(detail.get("recipients")):
            report.reset += _reset(conn, email)
    else:
        report.ignored += 1
    return report


def _feedback_id(data: Mapping[str, Any], kind: str | None, detail: Mapping[str, Any]) -> str:
    feedback_id = detail.get("feedbackId")
    if isinstance(feedback_id, str) and feedback_id:
        return feedback_id[:200]
    message_id = data["mail"].get("messageId")
    return f"{kind}:{message_id}"[:200] if isinstance(message_id, str) else ""


def _first_time(conn: Connection, feedback_id: str, kind: str) -> bool:
    if not feedback_id:
        return True  # nothing to recognise it by: apply it
    try:
        with conn.begin_nested():
            conn.execute(
                schema.feedback_events.insert().values(
                    feedback_id=feedback_id, kind=kind[:20], received_at=now()
                )
            )
    except IntegrityError:
        return False
    return True


def _strings(value: object, key: str | None = None) -> list[str]:
    items = value if isinstance(value, list) else []
    if key is not None:
        items = [item.get(key) for item in items if isinstance(item, dict)]
    return [item for item in items if isinstance(item, str)]


def _bounce(
    conn: Connection, detail: Mapping[str, Any], limit: int, report: FeedbackReport
) -> None:
    permanent = detail.get("bounceType") == "Permanent"
    for email in _strings(detail.get("bouncedRecipients"), "emailAddress"):
        if permanent:
            _suppress(conn, email, SubscriberStatus.BOUNCED, report)
        else:
            _count_transient(conn, email, limit, report)


def _complaint(conn: Connection, detail: Mapping[str, Any], report: FeedbackReport) -> None:
    if detail.get("complaintFeedbackType") == "not-spam":
        report.ignored += 1  # the recipient said it is NOT spam
        return
    for email in _strings(detail.get("complainedRecipients"), "emailAddress"):
        _suppress(conn, email, SubscriberStatus.COMPLAINED, report)


def _key(email: str) -> str:
    # The SES copy of the address may carry a display name or odd case: match the store's key.
    try:
        return normalise(email).key
    except InvalidAddress:
        return email.strip().casefold()


def _suppress(
    conn: Connection, email: str, status: SubscriberStatus, report: FeedbackReport
) -> None:
    if lifecycle.suppress(conn, _key(email), status):
        log.info("%s: %s", status, mask(email))
        report.suppressed.append(mask(email))
    else:
        report.ignored += 1


def _count_transient(conn: Connection, email: str, limit: int, report: FeedbackReport) -> None:
    key = _key(email)
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
        _suppress(conn, email, SubscriberStatus.BOUNCED, report)


def _reset(conn: Connection, email: str) -> int:
    moved = conn.execute(
        update(_t)
        .where(_t.c.email_key == _key(email), _t.c.transient_bounces > 0)
        .values(transient_bounces=0)
    )
    return int(moved.rowcount)
