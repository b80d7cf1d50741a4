"""The store's tables as they are now, for queries. How they came to be is in ``migrations``."""

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

# Subscriber statuses; only ``active`` receives the issue.
PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED = (
    "pending",
    "active",
    "unsubscribed",
    "bounced",
    "complained",
)
STATUSES = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED)

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
