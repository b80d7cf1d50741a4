"""Bounces and complaints: the suppression policy, and draining SQS (moto on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from emails.errors import BadNotification
from pipeline.cli import main
from subscribers.feedback.notifications import apply_notification, parse_notification
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.store.states import SubscriberStatus
from subscribers.tokens import make_token
from tests.conftest import TEST_KEY, moto_server

FIXTURES = Path(__file__).parent / "fixtures" / "sns"
LIMIT = 3


def fixture(name: str, **bounce_changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    data.get("bounce", {}).update(bounce_changes)
    return data


def transient(n: int, email: str = "full@example.com") -> dict[str, Any]:
    data = fixture("bounce-transient.json", feedbackId=f"transient-{n}")
    data["bounce"]["bouncedRecipients"][0]["emailAddress"] = email
    return data


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


def subscriber(engine: Engine, email: str, status: str = SubscriberStatus.ACTIVE) -> int:
    with engine.begin() as conn:
        return add_subscriber(conn, email, status=status)


def row(engine: Engine, email: str) -> Any:
    with engine.connect() as conn:
        t = schema.subscribers
        return conn.execute(
            select(t.c.status, t.c.transient_bounces).where(t.c.email_key == email.casefold())
        ).one()


def apply(engine: Engine, data: dict[str, Any]) -> None:
    with engine.begin() as conn:
        apply_notification(conn, parse_notification(json.dumps(data)), transient_limit=LIMIT)


def test_a_permanent_bounce_suppresses_whatever_the_case(engine: Engine) -> None:
    subscriber(engine, "gone@example.com")
    apply(engine, fixture("bounce-permanent.json"))  # says Gone@Example.com
    assert row(engine, "gone@example.com").status == SubscriberStatus.BOUNCED


def test_configuration_set_events_are_read_too(engine: Engine) -> None:
    subscriber(engine, "nobody@example.com")
    apply(engine, fixture("event-bounce.json"))
    assert row(engine, "nobody@example.com").status == SubscriberStatus.BOUNCED


def test_a_complaint_suppresses_even_an_unsubscribed_address(engine: Engine) -> None:
    subscriber(engine, "angry@example.com", SubscriberStatus.UNSUBSCRIBED)
    apply(engine, fixture("complaint.json"))
    assert row(engine, "angry@example.com").status == SubscriberStatus.COMPLAINED


def test_a_not_spam_report_is_not_a_complaint(engine: Engine) -> None:
    subscriber(engine, "angry@example.com")
    data = fixture("complaint.json")
    data["complaint"]["complaintFeedbackType"] = "not-spam"
    apply(engine, data)
    assert row(engine, "angry@example.com").status == SubscriberStatus.ACTIVE


def test_transient_bounces_in_a_row_suppress_at_the_limit(engine: Engine) -> None:
    subscriber(engine, "full@example.com")
    for n in range(1, LIMIT):
        apply(engine, transient(n))
        assert tuple(row(engine, "full@example.com")) == (SubscriberStatus.ACTIVE, n)
    apply(engine, transient(LIMIT))
    assert row(engine, "full@example.com").status == SubscriberStatus.BOUNCED


def test_undetermined_bounces_count_like_transient_ones(engine: Engine) -> None:
    subscriber(engine, "full@example.com")
    data = fixture("bounce-transient.json", bounceType="Undetermined")
    apply(engine, data)
    assert tuple(row(engine, "full@example.com")) == (SubscriberStatus.ACTIVE, 1)


def test_a_delivery_breaks_the_run(engine: Engine) -> None:
    subscriber(engine, "full@example.com")
    apply(engine, transient(1))
    apply(engine, transient(2))
    apply(engine, fixture("delivery.json"))
    assert tuple(row(engine, "full@example.com")) == (SubscriberStatus.ACTIVE, 0)
    for n in range(3, 3 + LIMIT - 1):
        apply(engine, transient(n))
    assert row(engine, "full@example.com").status == SubscriberStatus.ACTIVE


def test_a_redelivered_notification_counts_once(engine: Engine) -> None:
    subscriber(engine, "full@example.com")
    for _ in range(LIMIT + 2):
        apply(engine, transient(1))  # the same feedback id, delivered again and again
    assert tuple(row(engine, "full@example.com")) == (SubscriberStatus.ACTIVE, 1)


def test_unknown_addresses_are_ignored(engine: Engine) -> None:
    subscriber(engine, "someone@example.com")
    apply(engine, fixture("bounce-permanent.json"))
    apply(engine, transient(1, "stranger@example.com"))
    assert row(engine, "someone@example.com").status == SubscriberStatus.ACTIVE


@pytest.mark.parametrize(
    "body", ["", "[]", "{}", '{"notificationType": "Bounce"}', '{"Type": "Notification"}']
)
def test_unreadable_notifications_are_refused(body: str) -> None:
    with pytest.raises(BadNotification):
        parse_notification(body)


def test_an_sns_envelope_and_a_raw_message_read_the_same() -> None:
    raw = (FIXTURES / "complaint.json").read_text("utf-8")
    envelope = json.dumps({"Type": "Notification", "Message": raw})
    assert parse_notification(envelope) == parse_notification(raw)


# -- draining SQS ---------------------------------------------------------------------------


@pytest.fixture
def sqs_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_bounces_command_drains_the_queue(
    sqs_endpoint: str, env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    sqs = boto3.client("sqs")  # through the same variable the command honours
    queue_url = sqs.create_queue(QueueName="morningpost-feedback")["QueueUrl"]
    monkeypatch.setenv("MORNINGPOST_BOUNCES_QUEUE_URL", queue_url)
    engine = open_store(f"sqlite:///{env_settings / 'morningpost.db'}")
    for email in ("gone@example.com", "angry@example.com", "full@example.com"):
        subscriber(engine, email)

    envelope = {
        "Type": "Notification",
        "MessageId": "m-1",
        "Message": (FIXTURES / "bounce-permanent.json").read_text("utf-8"),
    }
    bodies = [
        json.dumps(envelope),  # SNS delivery with its envelope
        (FIXTURES / "complaint.json").read_text("utf-8"),  # raw message delivery
        (FIXTURES / "bounce-transient.json").read_text("utf-8"),
        "this is not a notification",
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    result = CliRunner().invoke(main, ["bounces"])
    assert result.exit_code == 0, result.output + str(result.exception)
    assert "processed 3, suppressed 2, transient counted 1, unreadable 1" in result.output
    assert row(engine, "gone@example.com").status == SubscriberStatus.BOUNCED
    assert row(engine, "angry@example.com").status == SubscriberStatus.COMPLAINED
    assert tuple(row(engine, "full@example.com")) == (SubscriberStatus.ACTIVE, 1)

    # Processed messages are gone; the unreadable one is left for the dead-letter queue.
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert left == 1


def test_bounces_without_a_queue_is_one_line(env_settings: Path) -> None:
    result = CliRunner().invoke(main, ["bounces"])
    assert result.exit_code == 1
    assert result.stderr == "error: MORNINGPOST_BOUNCES_QUEUE_URL is not set: no queue to drain\n"


def test_an_unreachable_queue_is_one_line(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MORNINGPOST_BOUNCES_QUEUE_URL", "http://127.0.0.1:9/123456789012/q")
    result = CliRunner().invoke(main, ["bounces"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot read the bounces queue")
    assert result.stderr.count("\n") == 1


def test_the_unsubscribe_token_of_a_suppressed_address_cannot_reactivate(engine: Engine) -> None:
    # Suppression is final for links: only a new double opt-in brings an address back.
    sid = subscriber(engine, "gone@example.com")
    apply(engine, fixture("bounce-permanent.json"))
    assert make_token(TEST_KEY, sid)  # the link still reads, but confirm needs ``pending``
    from subscribers import lifecycle
    from subscribers.store.stamps import now
    from subscribers.tokens import ConfirmToken

    with engine.begin() as conn:
        assert lifecycle.confirm(conn, ConfirmToken(sid, now())) is lifecycle.Outcome.REFUSED
    assert row(engine, "gone@example.com").status == SubscriberStatus.BOUNCED
