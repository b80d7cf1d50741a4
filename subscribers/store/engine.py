"""Opening the store: one SQLAlchemy engine per process, migrated when it is opened.

SQLite (one machine) and PostgreSQL (several) are both first-class; what differs between
them is set up here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from emails.errors import StoreError
from subscribers.store.migrations import migrate

# Connections a process keeps open at most, shared by a send's threads (up to 64), its
# seeder, ledger writer and heartbeat: each holds one only for a short transaction, so a
# dozen serve them all, and several workers stay well within PostgreSQL's connection limit
# (100 by default; 3 workers with a connection per thread ran out of it). Kept open once
# opened, with no overflow: a pool that closed what it lent beyond its size made each
# PostgreSQL claim a new connection.
POOL = 12
POOL_WAIT = 60  # seconds a thread waits for a connection before the send fails


def open_store(url: str) -> Engine:
    """Connect to the store at ``url``, creating and migrating it as needed.

    A process opens it once and hands the engine down; ``engine.dispose()`` closes it.
    """
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if parsed.get_backend_name() == "sqlite" and parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # An in-memory SQLite store is one connection per thread (SQLAlchemy's own pool for it).
    pool = {} if in_memory else {"pool_size": POOL, "max_overflow": 0, "pool_timeout": POOL_WAIT}
    try:
        engine = create_engine(url, **pool)
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
    # Deleted rows are overwritten, not left in free pages: `subscribers erase` must leave no
    # copy of the address in the file (Debian's SQLite does this by default, others do not).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# Execution option of connections that only read (``reader``).
READ_ONLY = "morningpost_read_only"


def reader(engine: Engine) -> Connection:
    """A connection that only reads (metrics, health checks): on SQLite its transactions
    begin DEFERRED, so in WAL mode they neither wait for nor hold up a writer."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
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
