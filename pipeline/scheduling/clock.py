"""Time as a dependency: the scheduler asks a ``Clock``, so tests can drive it without waiting;
and wall-clock times of a local day as instants."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol
from zoneinfo import ZoneInfo


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


def local_instant(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """``at`` o'clock on ``day`` in ``zone``, as an instant in UTC.

    ``fold=0`` gives what PEP 495 defines: a time in the spring gap is read with the offset
    before the change (so it lands one gap later), a repeated autumn time is its first
    occurrence.
    """
    wall = dt.datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone)
    return wall.astimezone(dt.UTC)
