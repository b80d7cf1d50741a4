"""The store's tables as they are now, for queries. How they came to be is in ``migrations``.

The state columns hold the values of ``subscribers.store.states``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200)),
    Column("status", String(20), nullable=False),
    Column("source", String(50), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Transient bounces since the last delivery or confirmation; N in a row suppress.
    Column("transient_bounces", Integer, nullable=False, server_default="0"),
    # When the last confirmation email went out: the web form re-sends at most once per window.
    Column("confirm_sent_at", DateTime(timezone=True)),
    # Why and when the status last moved, and the SES event (``events.id``) that moved it.
    Column("status_reason", String(500)),
    Column("status_changed_at", DateTime(timezone=True)),
    Column("status_event_id", Integer),
)

# Every suppression, unsubscribe and lift of a subscriber (``lifecycle``), newest last.
# ``issue_date``: the issue an unsubscribe is counted against (the last one delivered).
status_history = Table(
    "status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("from_status", String(20)),
    Column("to_status", String(20), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("event_id", Integer),
    Column("issue_date", String(10), index=True),
    Column("actor", String(200), nullable=False),
)

# SES events (send, delivery, bounce, complaint, reject, delay, rendering failure, open,
# click), one row per event and recipient: ``event_key`` (a hash of the event's identity)
# makes a redelivered event a no-op. ``issue_date`` and ``subscriber_id`` are set when the
# event's message is one of ours (by its SES message id, or by its issue tag); no address
# is stored here.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_key", String(64), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("detail", String(40), nullable=False),
    Column("issue_date", String(10), index=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), index=True),
    Column("message_id", String(255)),
    Column("note", String(500), nullable=False),
    Column("occurred_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Erased people (GDPR): only HMAC-SHA256(secret key, address key), so that no import, no
# ``subscribers add`` and no web form can bring the address back.
erased = Table(
    "erased",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# One row per bounce/complaint/delivery notification applied, by SES feedback id, until
# migration 24: ``events`` took over counting each event once. Kept: older stores hold it.
feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feedback_id", String(255), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# One row per dated issue: its number and where it is in its life.
editions = Table(
    "editions",
    metadata,
    Column("date", String(10), primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("state", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Who approved the draft for sending, and when.
    Column("approved_by", String(200)),
    Column("approved_at", DateTime(timezone=True)),
)

# The delivery ledger: one row per (issue, subscriber), never two.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_date", String(10), ForeignKey("editions.date"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("state", String(20), nullable=False),
    Column("message_id", String(255), index=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Who claimed the row (``host:pid:run``) and until when: a row in ``sending`` is in
    # flight while its lease lasts (its owner renews it), unknown once it has run out.
    Column("owner", String(200)),
    Column("lease_until", DateTime(timezone=True)),
    UniqueConstraint("issue_date", "subscriber_id", name="uq_delivery"),
    # The send queue: an issue's rows in one state, in subscriber order (a worker claims
    # the next ones past its cursor); counts by state come from the index alone.
    Index("ix_deliveries_queue", "state", "issue_date", "subscriber_id"),
)

# One row per send process on an issue (``sendruns``): who, since when, how far, how it
# ended. A running row whose lease ran out belongs to a process that died.
send_runs = Table(
    "send_runs",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("issue_date", String(10), ForeignKey("editions.date"), nullable=False, index=True),
    Column("resend_unknown", Boolean, nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", Text),
    Column("total", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

# Leases shared by every process (``locks``): one row per held lock.
locks = Table(
    "locks",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
