"""Ordered schema migrations, each applied once and recorded in ``schema_migrations``.

Migrations are history: a migration creates what the schema was when it was written, so
each one carries its own table definitions rather than importing the current ``schema``.

Numbers are identities, not a count: a store records the numbers applied to it, so a
number that shipped is never reused or renumbered. They jump (1, 2, then 20, 21 ...)
because lines of work built side by side were given ranges of their own; ``migrate``
applies whatever a store lacks in number order, so a store that already has 24-26 gets
22-23 when it meets them, and no migration may assume the ones after it ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.schema import CreateColumn

Step = Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Step


_ledger = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _ledger,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _initial(conn: Connection) -> None:
    # Frozen: the tables as migration 1 created them, whatever ``schema`` says today.
    v1 = MetaData()
    Table(
        "subscribers",
        v1,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False),
        Column("email_key", String(320), nullable=False, unique=True),
        Column("name", String(200)),
        Column("status", String(20), nullable=False),
        Column("source", String(50), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "editions",
        v1,
        Column("date", String(10), primary_key=True),
        Column("number", Integer, nullable=False, unique=True),
        Column("state", String(20), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "deliveries",
        v1,
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
    v1.create_all(conn)


def _add_column(conn: Connection, table: str, column: Column[object]) -> None:
    # SQLAlchemy Core has no ALTER TABLE construct; the column's DDL is compiled for the
    # connected dialect, and ``ADD COLUMN`` with a constant default runs on SQLite and
    # PostgreSQL alike.
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))


def _feedback(conn: Connection) -> None:
    # Frozen: what migration 2 added.
    _add_column(
        conn,
        "subscribers",
        Column("transient_bounces", Integer, nullable=False, server_default="0"),
    )
    _add_column(conn, "subscribers", Column("confirm_sent_at", DateTime(timezone=True)))
    v2 = MetaData()
    Table(
        "feedback_events",
        v2,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("feedback_id", String(255), nullable=False, unique=True),
        Column("kind", String(20), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    v2.create_all(conn)


def _approval(conn: Connection) -> None:
    # Frozen: what migration 20 added: who approved a draft, and when.
    _add_column(conn, "editions", Column("approved_by", String(200)))
    _add_column(conn, "editions", Column("approved_at", DateTime(timezone=True)))


def _locks(conn: Connection) -> None:
    # Frozen: the lease table of migration 21: one send per issue across processes.
    v21 = MetaData()
    Table(
        "locks",
        v21,
        Column("name", String(100), primary_key=True),
        Column("owner", String(200), nullable=False),
        Column("acquired_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    )
    v21.create_all(conn)


def _delivery_leases(conn: Connection) -> None:
    # Frozen: what migration 22 added: each claimed delivery's owner and lease, so a resend
    # takes only the rows whose owner is gone. Rows from before have no lease: unknown.
    _add_column(conn, "deliveries", Column("owner", String(200)))
    _add_column(conn, "deliveries", Column("lease_until", DateTime(timezone=True)))
    v22 = MetaData()
    deliveries = Table(
        "deliveries",
        v22,
        Column("issue_date", String(10)),
        Column("state", String(20)),
        Column("lease_until", DateTime(timezone=True)),
    )
    Index("ix_deliveries_lease", deliveries.c.issue_date, deliveries.c.state,
          deliveries.c.lease_until).create(conn)


def _send_runs(conn: Connection) -> None:
    # Frozen: the table of migration 23: one row per send process on an issue.
    v23 = MetaData()
    Table("editions", v23, Column("date", String(10), primary_key=True))
    Table(
        "send_runs",
        v23,
        Column("owner", String(200), primary_key=True),
        Column(
            "issue_date", String(10), ForeignKey("editions.date"), nullable=False, index=True
        ),
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
    v23.tables["send_runs"].create(conn)


def _events(conn: Connection) -> None:
    # Frozen: migration 24. One row per SES event and recipient, keyed for idempotency (SNS
    # and SQS deliver at least once); deliveries are found by their SES message id.
    v24 = MetaData()
    Table("subscribers", v24, Column("id", Integer, primary_key=True))  # for the foreign key
    Table(
        "events",
        v24,
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
    v24.create_all(conn, tables=[v24.tables["events"]])
    conn.execute(text("CREATE INDEX ix_deliveries_message_id ON deliveries (message_id)"))


def _status_history(conn: Connection) -> None:
    # Frozen: migration 25. Why and when a subscriber's status last moved (and the event that
    # moved it), and every suppression, unsubscribe and lift, for ``subscribers show``.
    _add_column(conn, "subscribers", Column("status_reason", String(500)))
    _add_column(conn, "subscribers", Column("status_changed_at", DateTime(timezone=True)))
    _add_column(conn, "subscribers", Column("status_event_id", Integer))
    v25 = MetaData()
    Table("subscribers", v25, Column("id", Integer, primary_key=True))  # for the foreign key
    Table(
        "status_history",
        v25,
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
    v25.create_all(conn, tables=[v25.tables["status_history"]])


def _erased(conn: Connection) -> None:
    # Frozen: migration 26. What is left of an erased person: a keyed hash of the address.
    v26 = MetaData()
    Table(
        "erased",
        v26,
        Column("fingerprint", String(64), primary_key=True),
        Column("erased_at", DateTime(timezone=True), nullable=False),
    )
    v26.create_all(conn)


def _send_queue(conn: Connection) -> None:
    # Frozen: migration 28. The send queue's index: a worker claims the next rows waiting
    # (an issue's ``pending`` rows in subscriber order, past its cursor) by an index range,
    # and each count by state is read from the index alone. State first: a query by issue
    # and subscriber (the send's anti-join) can then only take the unique key, whatever
    # the planner's statistics say. It replaces migration 22's index on the lease: the
    # rows in ``sending`` are few, read by state, then lease.
    conn.execute(text("DROP INDEX ix_deliveries_lease"))
    v28 = MetaData()
    deliveries = Table(
        "deliveries",
        v28,
        Column("issue_date", String(10)),
        Column("state", String(20)),
        Column("subscriber_id", Integer),
    )
    Index("ix_deliveries_queue", deliveries.c.state, deliveries.c.issue_date,
          deliveries.c.subscriber_id).create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "subscribers, editions, deliveries", _initial),
    Migration(2, "transient bounce counter, confirmation throttle, feedback events", _feedback),
    Migration(20, "who approved an edition, and when", _approval),
    Migration(21, "locks: leases shared by every process", _locks),
    Migration(22, "deliveries: owner and lease of each claimed row", _delivery_leases),
    Migration(23, "send runs: each send process, its lease, progress and end", _send_runs),
    Migration(24, "SES events per issue and subscriber; deliveries by message id", _events),
    Migration(25, "subscriber status reasons and history", _status_history),
    Migration(26, "keyed hashes of erased addresses", _erased),
    Migration(28, "deliveries: the send queue's index (issue, state, subscriber)", _send_queue),
)


def applied(conn: Connection) -> set[int]:
    return set(conn.scalars(select(schema_migrations.c.number)))


def migrate(conn: Connection) -> list[Migration]:
    """Apply the migrations not yet recorded, in order; return those applied."""
    _ledger.create_all(conn)
    done = applied(conn)
    pending = sorted((m for m in MIGRATIONS if m.number not in done), key=lambda m: m.number)
    for migration in pending:
        migration.apply(conn)
        conn.execute(
            schema_migrations.insert().values(
                number=migration.number, name=migration.name, applied_at=dt.datetime.now(dt.UTC)
            )
        )
    return pending
