"""A store with a few weeks of sends and the SES events that followed, for the Stats tab
and ``morningpost stats`` as an operator sees them. Deterministic: one seeded ``Random``.

Every event goes through ``apply_notification`` built from the recorded fixtures in
``fixtures/ses-events/``, so suppressions happen as they would for real (a reader who
bounced hard or complained gets no later issue).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from subscribers import lifecycle
from subscribers.feedback.notifications import apply_notification
from subscribers.store import editions
from subscribers.store.roster import add_subscriber
from subscribers.store.states import EditionState, SubscriberStatus
from tests.store_helpers import claim, force_state, mark_sent

EVENTS = Path(__file__).parent / "fixtures" / "ses-events"
FIRST_DAY = dt.date(2026, 11, 16)


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text("utf-8"))
    return data


_TEMPLATES = {
    "delivery": _fixture("delivery-ada.json"),
    "hard": _fixture("bounce-permanent-cat.json"),
    "soft": _fixture("notification-bounce-transient-dan.json"),
    "delay": _fixture("delivery-delay-dan.json"),
    "complaint": _fixture("notification-complaint-eve.json"),
    "open": _fixture("open-ada-iphone.json"),
    "machine": _fixture("open-bob-apple-privacy-proxy.json"),
    "click": _fixture("click-ada.json"),
}
_RECIPIENTS = {
    "delivery": ("delivery", "recipients", None),
    "hard": ("bounce", "bouncedRecipients", "emailAddress"),
    "soft": ("bounce", "bouncedRecipients", "emailAddress"),
    "delay": ("deliveryDelay", "delayedRecipients", "emailAddress"),
    "complaint": ("complaint", "complainedRecipients", "emailAddress"),
}


def event(kind: str, message_id: str, email: str, day: dt.date, n: int) -> dict[str, Any]:
    """The recorded event of ``kind``, re-addressed to one delivery of one issue."""
    data = copy.deepcopy(_TEMPLATES[kind])
    data["mail"].update(messageId=message_id, destination=[email])
    if "tags" in data["mail"]:
        data["mail"]["tags"]["issue"] = [day.isoformat()]
    field, key, sub = _RECIPIENTS.get(kind, (None, None, None))
    if field and key:
        data[field][key] = [email] if sub is None else [dict(data[field][key][0], **{sub: email})]
    detail = data.get(field or "", {})
    if "feedbackId" in detail:
        detail["feedbackId"] = f"{message_id}-{kind}-{n}"
    return data


def build_sample(engine: Engine, *, issues: int = 8, readers: int = 60, seed: int = 14) -> None:
    """``issues`` daily issues from FIRST_DAY to ``readers`` readers, with their events."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        ids = [add_subscriber(conn, f"reader{i:03}@example.com") for i in range(readers)]
    for number in range(1, issues + 1):
        day = FIRST_DAY + dt.timedelta(days=number - 1)
        with engine.begin() as conn:
            _send_one(conn, day, number, ids, rng)


def _send_one(
    conn: Connection, day: dt.date, number: int, ids: list[int], rng: random.Random
) -> None:
    editions.ensure(conn, day, number)
    force_state(conn, day, EditionState.SENT)
    sent = []
    for sid in ids:
        if lifecycle.status_of(conn, sid) is SubscriberStatus.ACTIVE and claim(conn, day, sid):
            message_id = f"0102018c{number:04x}{sid:08x}-sample-000000"
            mark_sent(conn, day, sid, message_id)
            sent.append((sid, message_id))
    for n, (sid, message_id) in enumerate(sent):
        for kind in _fate(rng, number) + (["complaint"] if (number, n) == (6, 7) else []):
            email = f"reader{sid - 1:03}@example.com"
            data = event(kind, message_id, email, day, n)
            apply_notification(conn, data, transient_limit=3)
        if rng.random() < 0.015 * (1 + number % 3):
            lifecycle.unsubscribe(conn, sid)


def _fate(rng: random.Random, number: int) -> list[str]:
    """What SES reports about one message: a bounce, or a delivery and what followed."""
    roll = rng.random()
    if roll < 0.012 + 0.01 * (number == 5):
        return ["hard"]
    if roll < 0.03:
        return ["delay", "soft"]
    kinds = ["delivery"]
    if rng.random() < 0.04:
        kinds.append("delay")
    if rng.random() < 0.33:
        kinds.append("machine")
    if rng.random() < 0.42:
        kinds.append("open")
        if rng.random() < 0.3:
            kinds.append("click")
    return kinds
