"""The ledger writer: one thread records what became of every call, several calls at once.

Senders hand each call's outcome over and go on to their next call; the writer takes
whatever has queued up meanwhile and records it in one transaction (one executemany).
So the store sees one finishing transaction however many calls ended together, and on
SQLite the senders no longer queue on its write lock to record each call. Rows waiting
here are still ``sending`` under this run's lease (its heartbeat renews them): a kill now
leaves them unknown, as a kill during their call would.

A sender waits for its last call to be recorded before it claims its next one (after the
rate limiter's wait, which the write overlaps), so a kill still leaves at most one call
per sender unrecorded. One about to retry rows (released to ``pending``) waits at once:
its next claim takes them back by id.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from subscribers.store import ledger
from subscribers.store.ledger import Outcomes

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
MOST_AT_ONCE = 64  # calls recorded by one transaction at most


@dataclass
class Recording:
    """A call's outcome handed to the writer; ``wait()`` returns once it is in the store
    (or the writer failed: the run is stopping)."""

    outcomes: Outcomes
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.done.wait()


NOTHING = Recording(Outcomes())
NOTHING.done.set()


class Writer:
    def __init__(
        self,
        engine: Engine,
        date: dt.date,
        owner: str,
        *,
        clock: Clock,
        on_recorded: Callable[[Outcomes], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.engine, self.date, self.owner, self.clock = engine, date, owner, clock
        self.on_recorded, self.on_error = on_recorded, on_error
        self._queue: queue.SimpleQueue[Recording | None] = queue.SimpleQueue()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="send-ledger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, outcomes: Outcomes) -> Recording:
        """Hand ``outcomes`` over to be recorded with whatever else is waiting."""
        if not len(outcomes):
            return NOTHING
        item = Recording(outcomes)
        self._queue.put(item)
        return item

    def close(self) -> None:
        """Record everything handed over, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        closing = False
        while not closing:
            items, closing = self._take()
            if items:
                self._write(items)

    def _take(self) -> tuple[list[Recording], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        items = [first]
        while len(items) < MOST_AT_ONCE:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return items, True
            items.append(more)
        return items, False

    def _write(self, items: list[Recording]) -> None:
        together = Outcomes(
            sent=[row for item in items for row in item.outcomes.sent],
            failed=[row for item in items for row in item.outcomes.failed],
            released=[row for item in items for row in item.outcomes.released],
            unknown=[row for item in items for row in item.outcomes.unknown],
        )
        try:
            if self._failed is None:
                self._finish(together)
        except BaseException as err:  # noqa: BLE001 - the run must stop; leases run out
            self._failed = err
            self.on_error(err)
        finally:
            for item in items:
                item.done.set()
        if self._failed is None:
            for item in items:
                self.on_recorded(item.outcomes)

    def _finish(self, outcomes: Outcomes) -> None:
        with self.engine.begin() as conn:
            changed = ledger.finish_batch(conn, self.date, self.owner, outcomes, now=self.clock())
        if changed < len(outcomes):
            log.error(
                "%d deliveries were taken over by another process after this one's lease "
                "ran out; their messages may have gone out twice",
                len(outcomes) - changed,
            )
