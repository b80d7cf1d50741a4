"""The store's tables as they are now, for queries. How they came to be is in ``migrations``.

The state columns hold the values of ``subscribers.store.states``.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
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
)

# One row per bounce/complaint/delivery notification already applied, by SES feedback id:
# SNS and SQS deliver at least once, and a transient bounce must not count twice.
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
    Column("message_id", String(255)),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("issue_date", "subscriber_id", name="uq_delivery"),
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
