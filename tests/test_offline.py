"""The suite's own guard: a connection off the machine is refused and fails the test."""

from __future__ import annotations

import socket

import pytest

from tests.offline import Outside, is_loopback


@pytest.mark.parametrize(
    ("address", "stays"),
    [
        (("127.0.0.1", 80), True),
        (("127.8.9.10", 80), True),
        (("::1", 80, 0, 0), True),
        (("localhost", 5432), True),
        ("/run/postgresql/.s.PGSQL.5432", True),
        (("192.0.2.1", 443), False),
        (("2001:db8::1", 443, 0, 0), False),
        (("huggingface.co", 443), False),
        (("0.0.0.0", 80), False),
    ],
)
def test_only_loopback_addresses_stay_on_the_machine(address: object, stays: bool) -> None:
    assert is_loopback(address) is stays


def test_a_connection_off_the_machine_is_refused_and_recorded(loopback_only: list[str]) -> None:
    with socket.socket() as sock, pytest.raises(Outside, match="loopback only"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, never reached
    assert loopback_only == ["('192.0.2.1', 443)"]
    loopback_only.clear()  # this test meant it; any other would fail at teardown


def test_loopback_connections_go_through() -> None:
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert client.connect_ex(server.getsockname()) == 0
