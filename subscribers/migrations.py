"""Ordered schema migrations, each applied once and recorded in ``schema_migrations``.

Migrations are history: a migration creates what the schema was when it was written, so
each one carries its own table definitions rather than importing the current ``schema``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, String, Table, select

from subscribers import schema

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
    # The first schema is the current one; once a later migration changes a table, this
    # function gets the frozen definitions of that table as they were.
    schema.metadata.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "subscribers, editions, deliveries", _initial),)


def applied(conn: Connection) -> set[int]:
    return set(conn.scalars(select(schema_migrations.c.number)))


def migrate(conn: Connection) -> list[Migration]:
    """Apply the migrations not yet recorded, in order; return those applied."""
    _ledger.create_all(conn)
    done = applied(conn)
    pending = [m for m in MIGRATIONS if m.number not in done]
    for migration in pending:
        migration.apply(conn)
        conn.execute(
            schema_migrations.insert().values(
                number=migration.number, name=migration.name, applied_at=dt.datetime.now(dt.UTC)
            )
        )
    return pending
