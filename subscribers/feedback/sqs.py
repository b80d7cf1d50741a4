"""Draining SES feedback from an SQS queue (``morningpost bounces``).

A message body is either an SNS envelope (the topic's default delivery) or the SES
notification itself (raw message delivery); both are read. The queue is reached with the
deployment's IAM credentials, so SNS signatures are not checked here. A message is deleted
once applied, also when it is an event for a message the store does not know (logged and
kept untied: it will never become known, so keeping it would only stall the queue) or a
redelivery of an event already recorded. One that cannot be read at all is left for the
queue's redrive policy (dead-letter queue) and counted, so a poison message cannot stall
the drain: it stays invisible until its visibility timeout ends, after this run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Engine

from emails.errors import BadNotification, QueueError
from subscribers.feedback.notifications import (
    FeedbackReport,
    apply_notification,
    parse_notification,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)



@dataclass
class DrainReport:
    processed: int = 0
    unreadable: int = 0
    feedback: FeedbackReport = field(default_factory=FeedbackReport)

    @property
    def suppressed(self) -> list[str]:
        return self.feedback.suppressed

    @property
    def counted(self) -> int:
        return self.feedback.counted

    @property
    def summary(self) -> str:
        f = self.feedback
        return (
            f"processed {self.processed}, suppressed {len(f.suppressed)}, "
            f"transient counted {f.counted}, unreadable {self.unreadable}; "
            f"events {f.recorded} new, {f.repeated} repeated, "
            f"{f.untied} for messages not in the store"
        )


def drain(
    client: SQSClient,
    queue_url: str,
    engine: Engine,
    *,
    transient_limit: int,
    wait_seconds: int = 1,
    max_batches: int = 10_000,
) -> DrainReport:
    """Receive, apply and delete until the queue answers empty (or ``max_batches``)."""
    report = DrainReport()
    for _ in range(max_batches):
        messages = _receive(client, queue_url, wait_seconds)
        if not messages:
            break
        done = [m for m in messages if _handle(engine, m, transient_limit, report)]
        _delete(client, queue_url, done)
    return report


def _receive(client: SQSClient, queue_url: str, wait_seconds: int) -> list[Any]:
    try:
        response = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
    except (ClientError, BotoCoreError) as err:
        raise QueueError(f"cannot read the bounces queue: {_reason(err)}") from err
    return list(response.get("Messages", []))


def _handle(engine: Engine, message: Any, limit: int, report: DrainReport) -> bool:
    try:
        data = parse_notification(str(message.get("Body", "")))
    except BadNotification as err:
        log.warning("unreadable message %s left in the queue: %s", message.get("MessageId"), err)
        report.unreadable += 1
        return False
    with engine.begin() as conn:
        applied = apply_notification(conn, data, transient_limit=limit)
    report.processed += 1
    report.feedback.add(applied)
    return True


def _delete(client: SQSClient, queue_url: str, done: list[Any]) -> None:
    if not done:
        return
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
    try:
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError) as err:
        raise QueueError(f"cannot delete processed messages: {_reason(err)}") from err
    if response.get("Failed"):
        # Applied but not deleted: they come back, and their feedback ids make that harmless.
        log.warning("%d processed messages were not deleted", len(response["Failed"]))


def _reason(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip(": ")
    return str(err)
