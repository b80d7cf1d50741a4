"""How often the subscribe form may be used: per client and for everyone together.

Each is a token bucket holding ``per_hour`` sign-ups, refilled continuously, so a burst of
``per_hour`` is allowed and then one every ``3600 / per_hour`` seconds. A refused request gets
the seconds until it would pass (``Retry-After``). The per-client limit stops one client from
mail-bombing strangers; the global one caps how much confirmation mail the form can cause in
all, whatever number of addresses an attacker has.

A client is its peer address, an IPv6 one by its /64 (one host usually holds the whole
prefix). ``X-Forwarded-For`` is believed only when the operator says a proxy of theirs sits
in front (``MORNINGPOST_TRUST_PROXY``): then the client is the last address in it, the one
that proxy added; anyone can write the others.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

HOUR = 3600.0
MAX_CLIENTS = 10_000  # buckets remembered; the oldest are forgotten first


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Per-client and global token buckets; thread-safe; ``clock`` in seconds (tests own it)."""

    def __init__(
        self,
        *,
        per_client_hour: int,
        per_hour: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.per_client, self.total = per_client_hour, per_hour
        self.clock, self.max_clients = clock, max_clients
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._all = _Bucket(float(per_hour), clock())
        self._lock = threading.Lock()

    def take(self, client: str) -> int | None:
        """Count one sign-up of ``client``; None if allowed, else the seconds to wait."""
        with self._lock:
            now = self.clock()
            mine = self._clients.pop(client, None) or _Bucket(float(self.per_client), now)
            self._clients[client] = mine  # most recently used last
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            wait = max(_wait(mine, self.per_client, now), _wait(self._all, self.total, now))
            if wait > 0:
                return max(1, math.ceil(wait))
            mine.tokens -= 1
            self._all.tokens -= 1
            return None


def _wait(bucket: _Bucket, per_hour: int, now: float) -> float:
    """Refill ``bucket`` up to ``now``; the seconds until it holds one token (0: it does)."""
    rate = per_hour / HOUR
    bucket.tokens = min(float(per_hour), bucket.tokens + (now - bucket.at) * rate)
    bucket.at = now
    return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / rate


def client_of(request: Request, *, trust_proxy: bool) -> str:
    """Who sent ``request``, as the rate limit and the access log name it."""
    peer = request.client.host if request.client else ""
    if trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        peer = forwarded or peer
    return client_key(peer)


def client_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
