"""A send run's heartbeat: its leases renewed while it works, its counts kept for ``status``,
and its share of the account's rate kept up to date.

One thread per run. Each beat is one transaction (``sendruns.beat``): the run's own lease
and the leases of its rows in flight pushed to ``now + lease``, however many rows there are.
A beat the store refuses is tried again at the next one; when no beat got through for
two thirds of the lease, the rows may soon look unknown to other processes, so the run is
told to stop (``on_lost``) before anyone could take a row it still holds.

Between beats, once a second, it counts the runs sending (``sendruns.live``: one read)
and tells the run (``on_share``), which takes its part of the account's rate.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from subscribers.store import sendruns
from subscribers.store.engine import reader

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
_MOST = dt.timedelta(seconds=5)  # beat at least this often: ``status`` reads the counts
SHARE_EVERY = 1.0  # seconds between counts of the runs sharing the rate


def interval(lease: dt.timedelta) -> float:
    """Seconds between beats: a third of the lease, and no more than five seconds."""
    return min(lease / 3, _MOST).total_seconds()


class Heartbeat:
    def __init__(
        self,
        engine: Engine,
        date: dt.date,
        owner: str,
        *,
        lease: dt.timedelta,
        counts: Callable[[], sendruns.Counts],
        on_lost: Callable[[str], None],
        clock: Clock,
        on_share: Callable[[int], None] | None = None,
    ) -> None:
        self.engine, self.date, self.owner, self.lease = engine, date, owner, lease
        self.counts, self.on_lost, self.clock = counts, on_lost, clock
        self.on_share = on_share
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def share(self) -> None:
        """Count the runs sending and tell ``on_share``; a busy store leaves it as it was."""
        if self.on_share is None:
            return
        try:
            with reader(self.engine) as conn:
                runs = sendruns.live(conn, now=self.clock())
        except SQLAlchemyError as err:
            log.warning("could not count the runs sharing the rate: %s", err.__class__.__name__)
            return
        self.on_share(runs)

    def _run(self) -> None:
        every = interval(self.lease)
        tick = min(every, SHARE_EVERY) if self.on_share else every
        last_ok = next_beat = time.monotonic()
        next_beat += every
        while not self._stop.wait(tick):
            self.share()
            if time.monotonic() < next_beat:
                continue
            next_beat += every
            if self._beat():
                last_ok = time.monotonic()
                continue
            silent = time.monotonic() - last_ok
            if silent >= self.lease.total_seconds() * 2 / 3:
                self.on_lost(
                    f"the store took no lease renewal for {silent:.0f} s: stopping before "
                    "another process could take deliveries in flight"
                )
                return

    def _beat(self) -> bool:
        try:
            with self.engine.begin() as conn:
                sendruns.beat(
                    conn, self.date, self.owner, self.counts(), now=self.clock(), lease=self.lease
                )
        except SQLAlchemyError as err:  # a busy store: try again at the next beat
            log.warning("lease renewal failed: %s", err.__class__.__name__)
            return False
        return True
