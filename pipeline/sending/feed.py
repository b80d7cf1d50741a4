"""The send queue as one run sees it: rows seeded in the ledger, claimed a call at a time.

* The seeder (a thread) gives every active subscriber without a row for the issue a
  ``pending`` row, a range of ids per transaction (small first, so the first calls go out
  at once). It is an anti-join in the store: a resumed send over a list already sent reads
  no subscriber into Python. Every worker seeds the whole list; what another one seeded
  is skipped.
* A sender claims the rows of its next call (``claim``) once the rate limiter granted
  the call. The run goes through the queue in phases, each in subscriber order from a
  cursor of its own: ``pending`` rows (waiting for the seeder when it reaches the seeded
  end), then rows that failed before the run started, then unknown rows when resending,
  and a last sweep for ``pending`` rows behind the cursor (released by a worker that
  stopped, or seeded behind it by another). Workers on one issue share nothing but the
  ledger; on PostgreSQL they skip the rows others are claiming (SKIP LOCKED).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from subscribers.store import ledger
from subscribers.store.ledger import Taken
from subscribers.store.states import DeliveryState

Clock = Callable[[], dt.datetime]

FIRST_CHUNK = 1_000  # subscriber ids seeded by the first transaction: the first calls wait on it
MOST_CHUNK = 20_000  # ids per seeding transaction at most: SQLite's write lock is held meanwhile
_WAIT = 0.05  # seconds a claimer waits for the seeder before looking again


@dataclass(frozen=True)
class Where:
    """Whose rows a run claims, and how."""

    date: dt.date
    owner: str
    lease: dt.timedelta
    started: dt.datetime  # failures from before this run are retried once
    resend_unknown: bool


class Feed:
    def __init__(
        self, engine: Engine, where: Where, *, clock: Clock, stop: threading.Event
    ) -> None:
        self.engine, self.where, self.clock, self.stop = engine, where, clock, stop
        phases = [DeliveryState.PENDING, DeliveryState.FAILED]
        if where.resend_unknown:
            phases.append(DeliveryState.SENDING)
        self._phases = [*phases, DeliveryState.PENDING]
        self._phase = 0
        self._cursor = 0
        self._seeded = threading.Event()
        self._progress = threading.Condition()

    # -- the seeder --------------------------------------------------------------------

    def seed(self) -> int:
        """Seed the whole list (the seeder thread's work); return the rows added."""
        added, after, size = 0, 0, FIRST_CHUNK
        try:
            top = self._top()
            while after < top and not self.stop.is_set():
                upto = after + size
                with self.engine.begin() as conn:
                    added += ledger.seed(
                        conn, self.where.date, after=after, upto=upto, now=self.clock()
                    )
                after, size = upto, min(size * 2, MOST_CHUNK)
                self._notify()
                if after >= top:
                    top = self._top()  # readers who joined meanwhile are seeded too
        finally:
            self._seeded.set()
            self._notify()
        return added

    def _top(self) -> int:
        with self.engine.connect() as conn:
            return ledger.last_subscriber_id(conn)

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()

    # -- the claimers ------------------------------------------------------------------

    def claim(self, limit: int) -> Taken | None:
        """The rows of the next call (possibly none claimed, when all it found were
        skipped); None once the queue holds nothing more for this run."""
        while not self.stop.is_set():
            with self._progress:
                if self._phase >= len(self._phases):
                    return None
                phase, after = self._phase, self._cursor
                seeded = self._seeded.is_set()  # read before the query: what it can see
            taken = self._take(self._phases[phase], after, limit)
            if self._advance(phase, taken, waiting=phase == 0 and not seeded):
                return taken
        return None

    def _take(self, state: DeliveryState, after: int, limit: int) -> Taken:
        where = self.where
        with self.engine.begin() as conn:
            return ledger.claim_next(
                conn,
                where.date,
                state,
                after=after,
                limit=limit,
                owner=where.owner,
                now=self.clock(),
                lease=where.lease,
                started=where.started,
            )

    def _advance(self, phase: int, taken: Taken, *, waiting: bool) -> bool:
        """Move the cursor past ``taken``; end the phase when it found the end. True when
        ``taken`` is worth handing to the caller."""
        with self._progress:
            if phase == self._phase:
                self._cursor = max(self._cursor, taken.last)
                if taken.exhausted and not waiting:
                    self._phase, self._cursor = phase + 1, 0
                elif taken.exhausted and not (taken.claimed or taken.skipped):
                    # The seeder has not reached this far yet: wait for its next range.
                    self._progress.wait(_WAIT)
        return bool(taken.claimed or taken.skipped)
