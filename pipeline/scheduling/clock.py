"""Time as a dependency: the scheduler asks a ``Clock``, so tests can drive it without waiting."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds``, returning early once ``stop`` is set."""
        ...


class SystemClock:
    """The real clock. Sleeping waits on the stop event, so SIGTERM ends a wait at once."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(seconds, 0.0))


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
