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
