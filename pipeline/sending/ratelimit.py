"""One token bucket shared by every sending thread, and the backoff between retries.

SES quotas count recipients, so a 50-entry bulk call takes 50 tokens. The bucket refills
at the current rate, which starts at the ceiling (``MORNINGPOST_MAX_SEND_RATE`` or the SES
account's MaxSendRate) and adapts AIMD-style, as TCP does: halved when SES throttles us,
raised by a small step after each accepted call, never above the ceiling.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

_DECREASE = 0.5  # multiplicative decrease on throttling
_INCREASE = 0.02  # additive increase per accepted call, as a share of the ceiling
_COOLDOWN = 0.5  # seconds: throttles answered together count as one signal
_FLOOR = 0.05  # the rate never falls under this share of the ceiling (nor under 1/s)


class Limiter(Protocol):
    def acquire(self, tokens: int, stop: threading.Event) -> bool:
        """Wait until ``tokens`` may be spent; False if ``stop`` was set first."""
        ...

    def refund(self, tokens: int) -> None:
        """Give back tokens acquired for messages that will not be sent after all."""
        ...

    def slow_down(self) -> None: ...

    def speed_up(self) -> None: ...

    def set_ceiling(self, ceiling: float, *, burst: float) -> None:
        """Grant at most ``ceiling`` from now on (the run's share moved), ``burst`` at once."""
        ...

    @property
    def rate(self) -> float: ...


class Unlimited:
    """The limiter of transports without a quota (the outbox)."""

    rate = float("inf")

    def acquire(self, tokens: int, stop: threading.Event) -> bool:
        return not stop.is_set()

    def refund(self, tokens: int) -> None:
        pass

    def slow_down(self) -> None:
        pass

    def speed_up(self) -> None:
        pass

    def set_ceiling(self, ceiling: float, *, burst: float) -> None:
        pass


class TokenBucket:
    """A thread-safe token bucket whose rate adapts between a floor and ``ceiling``.

    ``acquire`` reserves its tokens at once (the balance may go negative) and sleeps
    outside the lock until the reservation is covered: callers are served in order and a
    request larger than the burst still gets through.
    """

    def __init__(
        self,
        ceiling: float,
        *,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling <= 0:
            raise ValueError("the rate must be positive")
        self.ceiling = ceiling
        self._rate = ceiling
        self._floor = min(ceiling, max(1.0, ceiling * _FLOOR))
        self._burst = max(burst, 1.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self._burst
        self._stamp = clock()
        self._last_cut = float("-inf")

    @property
    def rate(self) -> float:
        return self._rate

    def acquire(self, tokens: int, stop: threading.Event) -> bool:
        with self._lock:
            self._refill()
            self._tokens -= tokens
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait <= 0:
            return not stop.is_set()
        # A stopped wait gives its tokens back, so a resumed run is not penalised.
        if stop.wait(wait):
            with self._lock:
                self._tokens += tokens
            return False
        return True

    def refund(self, tokens: int) -> None:
        # Rows claimed by another process, or settled since the list was read: their
        # tokens go to the next call instead of being spent on nothing.
        if tokens > 0:
            with self._lock:
                self._refill()
                self._tokens = min(self._burst, self._tokens + tokens)

    def slow_down(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_cut < _COOLDOWN:
                return
            self._refill()
            self._last_cut = now
            self._rate = max(self._floor, self._rate * _DECREASE)

    def speed_up(self) -> None:
        with self._lock:
            if self._rate < self.ceiling:
                self._refill()
                self._rate = min(self.ceiling, self._rate + self.ceiling * _INCREASE)

    def set_ceiling(self, ceiling: float, *, burst: float) -> None:
        # The rate keeps its place under the ceiling (a throttled run stays slowed down),
        # scaled to the new one.
        if ceiling <= 0 or ceiling == self.ceiling:
            return
        with self._lock:
            self._refill()
            scale = ceiling / self.ceiling
            self.ceiling = ceiling
            self._floor = min(ceiling, max(1.0, ceiling * _FLOOR))
            self._rate = max(self._floor, min(ceiling, self._rate * scale))
            self._burst = max(burst, 1.0)
            self._tokens = min(self._tokens, self._burst)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential, full jitter.

    Full jitter (a uniform draw up to the exponential bound) spreads the retries of many
    threads that failed together, so they do not come back together.
    """
    return rng() * min(cap, base * 2.0**attempt)
