"""A clock that moves only when told to, and the loop that drives a scheduler on it."""

from __future__ import annotations

import datetime as dt
import threading

from pipeline.scheduling.scheduler import Scheduler


class ManualClock:
    """A clock that moves only when told to (or when slept on): for tests and replays."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        if not stop.is_set():
            self.advance(dt.timedelta(seconds=max(seconds, 0.0)))

    def advance(self, by: dt.timedelta) -> None:
        self._now += by

    def set(self, when: dt.datetime) -> None:
        self._now = when.astimezone(dt.UTC)


def run_until(scheduler: Scheduler, end: dt.datetime) -> None:
    """Tick until the clock reaches ``end`` (or ``stop``), sleeping one tick between."""
    while scheduler.clock.now() < end and not scheduler.stop.is_set():
        scheduler.tick()
        scheduler.clock.sleep(scheduler.tick_every.total_seconds(), scheduler.stop)
