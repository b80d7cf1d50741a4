"""The suite talks to loopback only: a connection anywhere else is refused and fails the test.

Refused with an ``OSError`` (what a machine without a network answers), and recorded, so a
test whose code swallows the error (a source isolates its failures) still fails at teardown.
Processes a test starts are not covered: they are pointed at loopback servers by their
environment (AWS_ENDPOINT_URL_*, HF_ENDPOINT, the writer's URL), and HF_HUB_OFFLINE is set.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = {"localhost", "testserver"}


def is_loopback(address: Any) -> bool:
    """Whether ``address`` (a socket address of any family) stays on this machine."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and abstract names
    host = str(address[0]).split("%")[0]
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: it would be resolved, so refused


class Outside(OSError):
    pass


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    tried: list[str] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(real: Any) -> Any:
        def call(self: socket.socket, address: Any) -> Any:
            if not is_loopback(address):
                tried.append(repr(address))
                raise Outside(f"tests talk to loopback only, not {address!r}")
            return real(self, address)

        return call

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    yield tried
    if tried:
        pytest.fail(f"the test tried to leave the machine: {', '.join(tried)}")
