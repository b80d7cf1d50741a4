"""The ``Transport`` protocol: how messages leave the product, one at a time or in batches.

A transport has two paths:

* ``send(message)``: one finished MIME message (test sends, confirmations);
* ``send_batch(campaign, recipients)``: one issue to up to ``batch_size`` recipients, with
  one ``Outcome`` per recipient, in order. The SES transport hands the batch over in one
  ``SendBulkEmail`` call; the outbox writes one file each.

A whole call that fails raises one of the ``TransportError`` family of ``emails.errors``,
whose class says what the caller may do next (slow down, retry, never repeat, or stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

from emails.errors import TransportError
from emails.message import Campaign, Recipient, build_personal_message

Status = Literal["sent", "rejected", "retry", "blocked"]


@dataclass(frozen=True)
class Outcome:
    """What became of one recipient of a batch.

    ``sent`` (with the provider's message id), ``rejected`` (this recipient alone failed:
    the reason says why), ``retry`` (a passing failure: try this recipient again) or
    ``blocked`` (the provider refuses all sending: stop, nothing was sent).
    """

    status: Status
    message_id: str | None = None
    reason: str | None = None


def sent(message_id: str) -> Outcome:
    return Outcome("sent", message_id=message_id)


def rejected(reason: str) -> Outcome:
    return Outcome("rejected", reason=reason)


class Transport(Protocol):
    name: str
    batch_size: int  # the most recipients ``send_batch`` takes in one call

    def send(self, message: EmailMessage) -> str:
        """Hand ``message`` over; return the id the transport knows it by.

        Raise ``TransportError`` when it was not accepted.
        """
        ...

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        """Hand the issue over for each recipient; one outcome per recipient, in order."""
        ...

    def prepare(self, campaign: Campaign, recipients: Sequence[Recipient]) -> None:
        """Build everything ``send_batch`` would hand over, and hand nothing over (dry run)."""
        ...

    def max_send_rate(self) -> float | None:
        """Messages per second the provider allows, or None when it sets no limit."""
        ...


def send_each(
    transport: Transport, campaign: Campaign, recipients: Sequence[Recipient]
) -> list[Outcome]:
    """``send_batch`` for transports without a bulk call: one full message per recipient.

    A recipient whose message cannot be built (an address the email package refuses, say)
    is rejected alone, with the reason: the others still go.
    """
    outcomes = []
    for recipient in recipients:
        try:
            message = build_personal_message(campaign, recipient)
        except Exception as err:  # noqa: BLE001 - any fault is this recipient's alone
            outcomes.append(rejected(unbuildable(err)))
            continue
        try:
            outcomes.append(sent(transport.send(message)))
        except TransportError as err:
            outcomes.append(rejected(str(err)))
    return outcomes


def unbuildable(err: Exception) -> str:
    """The one-line reason a recipient's message could not be built."""
    first = str(err).splitlines()[0] if str(err) else ""
    return f"could not build the message: {err.__class__.__name__}: {first}"[:300]
