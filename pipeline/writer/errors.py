"""What can go wrong when the AI desk asks a model, as one family of errors.

    emails.errors.MorningPostError
     └── WriterError              the model could not give a usable answer this time
          ├── WriterTimeout       no answer within the call's timeout
          ├── WriterRateLimited   429 / ThrottlingException
          ├── WriterUnavailable   5xx, connection refused, model not ready
          ├── WriterRefused       a refusal, a content filter or a guardrail
          ├── WriterMalformed     empty, not JSON, or not the shape asked for
          │    └── WriterTruncated  the answer hit its token cap (finish_reason "length")
          ├── WriterRejected      4xx: bad request, bad key, unknown model
          └── BudgetExhausted     the issue's token budget is spent

Two class attributes tell the desk what to do next, so the policy lives in one place
(``pipeline.writer.desk``) and the backends only say what happened:

- ``retryable``: one more attempt might succeed (a second sample, a less busy server).
- ``stops_desk``: every later call of this issue would meet the same fate (the server is
  down or too slow, the key is wrong, the budget is spent): stop asking, so a dead server
  costs the morning at most one timeout and its retry, not one per piece.

These will move into the product's single exception module when the desk is wired in.
"""

from __future__ import annotations

from typing import ClassVar

from emails.errors import MorningPostError


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
