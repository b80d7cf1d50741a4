"""Every error the product raises on purpose, in one tree.

    MorningPostError                one line for a person; the CLI prints it and exits 1
     ├── ConfigError                a setting is missing or wrong (it names the variable)
     ├── SourceError                a source failed or sent garbage (``source``)
     ├── RenderError                a template, the MJML compiler or the size budget failed
     ├── IssueError                 the issue of ``date`` cannot do what was asked
     │    ├── TooFewItems           its sources gave fewer items than MIN_ITEMS
     │    ├── IssueLocked           its sending began: its files may no longer change
     │    ├── NotApproved           approval is required and it has none
     │    └── EditionError          its record refuses (approve a sent issue, a taken number)
     ├── TransportError             a message could not be handed over
     │    ├── Throttled             over the sending rate (SES 429): slow down, try again
     │    ├── TemporaryFailure      5xx or no connection: nothing was accepted, try again
     │    ├── DeliveryUnknown       the call may have been accepted: never repeat it blindly
     │    ├── SendingBlocked        the account or configuration refuses everything: stop
     │    └── BadRecipient          this recipient's message cannot be built: it alone fails
     ├── SubscriberError            a subscriber operation failed
     │    ├── InvalidAddress        an address that does not validate (``address``)
     │    └── CsvError              an import file that cannot be read (``path``, ``line``)
     ├── WriterError                the AI desk's model gave no usable answer this time
     │    ├── WriterTimeout         no answer within the call's timeout
     │    ├── WriterRateLimited     429 / ThrottlingException
     │    ├── WriterUnavailable     5xx, connection refused, model not ready
     │    ├── WriterRefused         a refusal, a content filter or a guardrail
     │    ├── WriterMalformed       empty, not JSON, or not the shape asked for
     │    │    └── WriterTruncated  the answer hit its token cap
     │    ├── WriterRejected        4xx: bad request, bad key, unknown model
     │    └── BudgetExhausted       the issue's token budget is spent
     ├── FeedbackError              SES feedback that cannot be read, trusted or fetched
     │    ├── BadNotification       not an SES notification this code can read
     │    ├── Unverified            an SNS message that fails verification
     │    └── QueueError            the SQS queue cannot be read
     ├── StoreError                 the store cannot be opened, migrated or written
     │    └── LockHeld              another process holds the lock (``owner``)
     └── BackupError                a backup could not be written whole (none is left half-done)

A ``WriterError`` class says what the AI desk does next: ``retryable`` (one more attempt
might succeed) and ``stops_desk`` (every later call of the issue would fail the same way, so
stop asking); the backends only say what happened.

The module sits in ``emails``, the package at the bottom of the import graph
(``pipeline`` → ``subscribers`` → ``emails``), so every package raises from the same tree
and the CLI catches one class.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import ClassVar


class MorningPostError(Exception):
    """Base of every error raised on purpose; ``str()`` is one line for a person."""


class ConfigError(MorningPostError):
    """A setting is missing or invalid."""


class SourceError(MorningPostError):
    """A source failed, timed out, or answered with something it did not promise."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class RenderError(MorningPostError):
    """The issue could not be rendered into an email."""


class IssueError(MorningPostError):
    """The issue of ``date`` cannot do what was asked."""

    def __init__(self, message: str, *, date: dt.date | None = None) -> None:
        super().__init__(message)
        self.date = date


class TooFewItems(IssueError):
    """The issue would feature fewer items than ``MORNINGPOST_MIN_ITEMS``."""


class IssueLocked(IssueError):
    """The issue's sending has begun: its draft and rendered files may no longer change."""


class NotApproved(IssueError):
    """Approval is required (``MORNINGPOST_REQUIRE_APPROVAL``) and the issue has none."""


class EditionError(IssueError):
    """The issue's record cannot do what was asked (approve a sent issue, reuse a number)."""


class TransportError(MorningPostError):
    """A message could not be handed over; retrying the same call will not help."""


class Throttled(TransportError):
    """The provider asks us to slow down (SES ``TooManyRequestsException``, HTTP 429)."""


class TemporaryFailure(TransportError):
    """A server error or a connection that never carried the request: nothing was sent."""


class DeliveryUnknown(TransportError):
    """The request left but no answer came back: the messages may have been accepted."""


class SendingBlocked(TransportError):
    """Every message would be refused (account suspended, sending paused, bad config)."""


class BadRecipient(TransportError):
    """One recipient's message cannot be built (an address or a value the format cannot
    carry); the other recipients of the batch are not affected."""


class SubscriberError(MorningPostError):
    """A subscriber operation failed: unknown subscriber, an address already listed."""


class InvalidAddress(SubscriberError):
    """An email address that does not pass validation; ``address`` is what was given and
    ``reason`` why it fails, without the address (for a form that shows the address anyway)."""

    def __init__(self, message: str, *, address: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.address = address
        self.reason = reason or message


class CsvError(SubscriberError):
    """An import file that cannot be read at all; nothing of it was imported."""

    def __init__(
        self, message: str, *, path: Path | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.path, self.line = path, line


class WriterError(MorningPostError):
    """The model gave no usable answer; ``str()`` is one line, never the model's own words."""

    kind: ClassVar[str] = "error"
    retryable: ClassVar[bool] = True
    stops_desk: ClassVar[bool] = False


class WriterTimeout(WriterError):
    kind = "timeout"
    stops_desk = True


class WriterRateLimited(WriterError):
    kind = "rate-limited"
    stops_desk = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WriterUnavailable(WriterError):
    kind = "unavailable"
    stops_desk = True


class WriterRefused(WriterError):
    kind = "refused"


class WriterMalformed(WriterError):
    kind = "malformed"


class WriterTruncated(WriterMalformed):
    # The same request would be cut at the same place again.
    kind = "truncated"
    retryable = False


class WriterRejected(WriterError):
    kind = "rejected"
    retryable = False
    stops_desk = True


class BudgetExhausted(WriterError):
    kind = "budget"
    retryable = False
    stops_desk = True


class FeedbackError(MorningPostError):
    """SES feedback that cannot be read, trusted or fetched."""


class BadNotification(FeedbackError):
    """A message that is not an SES notification this code can read."""


class Unverified(FeedbackError):
    """An SNS message whose origin or signature does not check out."""


class QueueError(FeedbackError):
    """The SQS queue of SES feedback cannot be read."""


class StoreError(MorningPostError):
    """The store could not be opened, migrated or written."""


class LockHeld(StoreError):
    """Someone else holds the lock; ``str()`` says who and until when."""

    def __init__(self, message: str, *, owner: str | None = None) -> None:
        super().__init__(message)
        self.owner = owner


class BackupError(MorningPostError):
    """A backup could not be written whole; the partial one was removed."""
