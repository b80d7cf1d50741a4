"""Is the store answering? One real query, bounded in time, for the ``/healthz`` endpoints.

The query reads which migrations the store has applied: it needs a working connection, the
tables, and a store at least as new as this code. A store that hangs (a firewall dropping
packets, a disk that stopped) must not hang the caller: each check runs in its own thread
and the caller waits ``timeout`` seconds at most. While a check that timed out is still
stuck, later calls say so at once instead of starting another: a health probe every few
seconds must not pile up threads or connections on a dead store.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from subscribers.store.engine import reader
from subscribers.store.migrations import MIGRATIONS, applied

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0  # seconds: container health checks allow a few, load balancers five


class StoreCheck:
    """``check()`` is None when the store answers, else one line saying what is wrong."""

    def __init__(self, engine: Engine, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.engine, self.timeout = engine, timeout
        self._lock = threading.Lock()
        self._stuck_since: float | None = None

    def check(self) -> str | None:
        with self._lock:
            if self._stuck_since is not None:
                waited = time.monotonic() - self._stuck_since
                return f"store: an earlier check has not returned for {waited:.0f} s"
            started = time.monotonic()
        outcome: list[str | None] = []
        done = threading.Event()

        def run() -> None:
            outcome.append(problem(self.engine, self.timeout))
            done.set()
            with self._lock:
                self._stuck_since = None

        threading.Thread(target=run, name="store-check", daemon=True).start()
        if done.wait(self.timeout):
            return outcome[0]
        with self._lock:
            if not done.is_set():
                self._stuck_since = started
        return f"store: no answer within {self.timeout:g} s"


def problem(engine: Engine, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """Query the store once; None when it answers as expected, else why not (one line)."""
    url = engine.url
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    # SQLite would create an empty file in its place: a missing file is the answer.
    if on_disk and not Path(str(url.database)).is_file():
        return "store: the SQLite file is missing (is the data directory mounted?)"
    try:
        with reader(engine) as conn:
            if url.get_backend_name() == "postgresql":
                # Bound the query on the server too, so a lock wait cannot hold a connection.
                conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            done = applied(conn)
    except SQLAlchemyError as err:
        reason = _first_line(err)
        log.warning("store check failed: %s", reason)
        return f"store: {reason}"
    missing = sorted(m.number for m in MIGRATIONS if m.number not in done)
    if missing:
        return f"store: not migrated (missing {', '.join(map(str, missing))})"
    return None


def _first_line(err: SQLAlchemyError) -> str:
    original = getattr(err, "orig", None) or err
    lines = str(original).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return f"{type(original).__name__}: {first}"[:300]
