"""The ``Transport`` protocol: how a finished message leaves the product."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol


class Transport(Protocol):
    name: str

    def send(self, message: EmailMessage) -> str:
        """Hand ``message`` over; return the id the transport knows it by.

        Raise ``TransportError`` when it was not accepted.
        """
        ...
