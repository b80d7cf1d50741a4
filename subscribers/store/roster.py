"""The subscriber store: opening it, adding subscribers, counting, and streaming the active."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from subscribers.addresses import normalise
from subscribers.errors import StoreError, SubscriberError
from subscribers.store import schema
from subscribers.store.migrations import migrate


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    status: str


def open_store(url: str) -> Engine:
    """Connect to the store at ``url``, creating and migrating it as needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        with engine.begin() as conn:
            if parsed.get_backend_name() == "postgresql":
                _postgres_migration_lock(conn)
            migrate(conn)
    except SQLAlchemyError as err:
        raise StoreError(f"cannot open the store at {parsed!r}: {err.__class__.__name__}") from err
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (releasing one commits) and
    # starts transactions late; SQLAlchemy's documented fix is to switch it off and BEGIN
    # ourselves (_sqlite_begin).
    dbapi_conn.isolation_level = None
    # WAL lets readers run while a send writes; the busy timeout makes two processes queue
    # on the write lock instead of failing at once.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads then writes can
    # otherwise fail at once with "database is locked" when another process wrote in
    # between (busy_timeout does not cover that case). Transactions here are short.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# Any constant, the same in every process that opens the store.
_MIGRATION_LOCK_KEY = 0x6D706F7374


def _postgres_migration_lock(conn: Connection) -> None:
    # Processes opening a new store at once would all see no tables and all CREATE them, and
    # all but one fail; SQLite queues them on BEGIN IMMEDIATE, PostgreSQL on this lock, which
    # is held until the migrating transaction ends.
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAME_MAX = 200


def clean_name(raw: str | None) -> str | None:
    """A name fit for a greeting: no control characters, one line, at most 200 characters."""
    text = " ".join((raw or "").split())  # line breaks and tabs become single spaces
    if not text.isprintable():  # the rare name with controls or format characters left
        text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    cleaned = text[:NAME_MAX].strip()
    return cleaned or None


def add_subscriber(
    conn: Connection,
    email: str,
    *,
    name: str | None = None,
    status: str = schema.ACTIVE,
    source: str = "cli",
) -> int:
    """Insert a subscriber and return its id; an address already on the list is an error."""
    address = normalise(email)
    stamp = now()
    try:
        with conn.begin_nested():
            result = conn.execute(
                schema.subscribers.insert().values(
                    email=address.email,
                    email_key=address.key,
                    name=clean_name(name),
                    status=status,
                    source=source,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    except IntegrityError:
        raise SubscriberError(f"{address.email} is already on the list") from None
    key = result.inserted_primary_key
    if key is None:
        raise SubscriberError(f"{address.email} was not stored")
    return int(key[0])


def count(conn: Connection, status: str | None = None) -> int:
    query = select(func.count()).select_from(schema.subscribers)
    if status is not None:
        query = query.where(schema.subscribers.c.status == status)
    return int(conn.scalar(query) or 0)


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(_columns().where(schema.subscribers.c.id == subscriber_id)).one_or_none()
    return Subscriber(*row) if row else None


def iter_active(engine: Engine, batch_size: int = 500) -> Iterator[Subscriber]:
    """Yield active subscribers in id order, one keyset page at a time (never OFFSET)."""
    last_id = 0
    while True:
        query = (
            _columns()
            .where(schema.subscribers.c.status == schema.ACTIVE, schema.subscribers.c.id > last_id)
            .order_by(schema.subscribers.c.id)
            .limit(batch_size)
        )
        with engine.connect() as conn:
            page = [Subscriber(*row) for row in conn.execute(query)]
        yield from page
        if len(page) < batch_size:
            return
        last_id = page[-1].id


def find_by_email(conn: Connection, email: str) -> Subscriber | None:
    """The subscriber with ``email`` (in any case), or None; raises ``InvalidAddress``."""
    key = normalise(email).key
    row = conn.execute(_columns().where(schema.subscribers.c.email_key == key)).one_or_none()
    return Subscriber(*row) if row else None


def set_status(
    conn: Connection, subscriber_id: int, status: str, *, only_from: tuple[str, ...]
) -> bool:
    """Move a subscriber to ``status`` if it is in one of ``only_from``; True if it moved.

    The condition is part of the UPDATE, so two processes cannot both make the same move.
    """
    t = schema.subscribers
    moved = conn.execute(
        update(t)
        .where(t.c.id == subscriber_id, t.c.status.in_(only_from))
        .values(status=status, updated_at=now())
    )
    return bool(moved.rowcount)


def iter_all(engine: Engine, status: str | None = None, batch_size: int = 1000) -> Iterator[Any]:
    """Yield every subscriber (of ``status``) in id order, by keyset pages, for export."""
    t = schema.subscribers
    columns = (t.c.id, t.c.email, t.c.name, t.c.status, t.c.source, t.c.created_at)
    last_id = 0
    while True:
        query = select(*columns).where(t.c.id > last_id).order_by(t.c.id).limit(batch_size)
        if status is not None:
            query = query.where(t.c.status == status)
        with engine.connect() as conn:
            page = list(conn.execute(query))
        yield from page
        if len(page) < batch_size:
            return
        last_id = page[-1].id


def _columns() -> Any:
    t = schema.subscribers
    return select(t.c.id, t.c.email, t.c.name, t.c.status)
