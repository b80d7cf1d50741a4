"""How many calls a send keeps in flight, and its share of the account's rate.

Concurrency (Little's law): calls in flight = calls per second x seconds per call. A call
carries ``batch`` recipients, so reaching ``rate`` recipients per second takes
``rate / batch x latency`` threads, where the latency is what one call occupies a thread
(claim, build, the round trip, hand-off), measured as the send goes; ``HEADROOM`` covers
its jitter. A thread waiting for the rate limiter holds no delivery, so spare threads cost
nothing but memory; too few leave the quota unused.

Rate: SES's ``MaxSendRate`` is the account's, shared by every process that sends. Each
send run takes ``ceiling / live runs`` (live: ``running`` in ``send_runs`` and beating),
re-read every second, so workers that join, leave or die shift the shares within
about a second; the token bucket's AIMD absorbs what overshoots in between.
"""

from __future__ import annotations

import math
import threading

HEADROOM = 1.5  # threads beyond Little's law, as a factor: a slow call must not stall the rate
LEAST = 2  # threads: one call can wait on the store while another is in flight
MOST = 64  # threads: the bound MORNINGPOST_SEND_CONCURRENCY also has
UNLIMITED = 8  # threads when no rate applies (the outbox: bound by the CPU, not latency)
FIRST_GUESS = 0.1  # seconds per call before any was measured
_WEIGHT = 0.2  # of each new measurement in the moving average


def threads_for(rate: float | None, latency: float, batch: int) -> int:
    """Threads to keep ``rate`` recipients per second flowing when a call of ``batch``
    takes ``latency`` seconds: Little's law with headroom, within ``LEAST``..``MOST``."""
    if rate is None or math.isinf(rate):
        return UNLIMITED
    in_flight = rate / batch * latency * HEADROOM
    return max(LEAST, min(MOST, math.ceil(in_flight) + 1))


def share(ceiling: float, live_runs: int) -> float:
    """This run's part of the account's rate when ``live_runs`` runs send (itself included)."""
    return ceiling / max(1, live_runs)


class Latency:
    """The moving average of the seconds a call occupies a thread (thread-safe)."""

    def __init__(self, first_guess: float = FIRST_GUESS) -> None:
        self._seconds = first_guess
        self._measured = False
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self._seconds

    def observe(self, seconds: float) -> None:
        with self._lock:
            if not self._measured:  # the guess gives way to the first real call at once
                self._seconds, self._measured = seconds, True
            else:
                self._seconds += _WEIGHT * (seconds - self._seconds)
