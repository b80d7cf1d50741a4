"""SES events per issue: recorded SES events of every kind, in both shapes, SNS-wrapped and
raw, with duplicates, unknown messages and garbage, pushed through SQS (moto on loopback)
and through the signed /sns webhook; ``stats --json`` must count each once, per issue."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from pipeline.cli import main
from subscribers import lifecycle
from subscribers.feedback.events import EventKind, is_machine, read_events
from subscribers.feedback.notifications import apply_notification, parse_notification
from subscribers.feedback.results import issue_results
from subscribers.store import editions, schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber, find_by_email
from subscribers.store.states import EditionState, SubscriberStatus
from tests.conftest import moto_server
from tests.store_helpers import claim, force_state, mark_sent
from tests.test_sns import FakeSns, fake_sns, notification, post, sign, verifier  # noqa: F401
from tests.test_web import RecordingTransport, make_app, serving

EVENTS = Path(__file__).parent / "fixtures" / "ses-events"
ENVELOPE = Path(__file__).parent / "fixtures" / "sns" / "notification-envelope.json"
DAY = dt.date(2026, 11, 27)
PEOPLE = ("ada", "bob", "cat", "dan", "eve", "fay", "gus", "hal")
# The SES message id of each person's copy of the issue, as the fixtures carry them.
MESSAGE_IDS = {
    name: f"0102018c7f3a{i:04x}-5e1c2b9a-7d44-4c1e-9f0a-{name:0>12}-000000"
    for i, name in enumerate(PEOPLE)
}
# (fixture, wrapped in an SNS envelope?): every kind, both shapes, duplicates in both forms.
PUSHED = [
    ("send-ada.json", True),
    ("delivery-ada.json", True),
    ("delivery-ada.json", False),  # SQS redelivers; the same event raw this time
    ("open-ada-iphone.json", True),
    ("click-ada.json", False),
    ("delivery-bob.json", True),
    ("open-bob-apple-privacy-proxy.json", True),
    ("bounce-permanent-cat.json", False),
    ("bounce-permanent-cat.json", True),  # the same bounce again, wrapped
    ("delivery-delay-dan.json", True),
    ("notification-bounce-transient-dan.json", True),
    ("notification-delivery-eve.json", False),
    ("notification-complaint-eve.json", True),
    ("reject-fay.json", True),
    ("rendering-failure-gus.json", True),
    ("delivery-hal-tag-only.json", True),  # overtook its batch: tied by the issue tag
    ("delivery-ada-test-copy.json", True),  # an editor's test copy: must not count
    ("delivery-unknown-message.json", True),  # not ours: logged, deleted, never counted
    ("subscription-unused.json", False),
]
GARBAGE = ["this is not a notification", "{}", '{"Type": "Notification", "Message": "[]"}']
EXPECTED = {
    "date": "2026-11-27",
    "number": 12,
    "sent": 7,  # hal's row is still in flight: no message id recorded yet
    "delivered": 4,  # ada, bob, eve (identity shape), hal (by tag)
    "bounced": {"hard": 1, "soft": 1},  # cat; dan (transient)
    "complained": 1,  # eve
    "rejected": 1,  # fay
    "delayed": 1,  # dan
    "unsubscribed": 1,  # ada, through the link
    "opened": {"human": 1, "machine": 1},  # ada on her iPhone; bob's Apple proxy prefetch
    "clicked": 1,  # ada
}


def fixture_text(name: str) -> str:
    return (EVENTS / name).read_text("utf-8")


def sns_envelope(name: str, n: int) -> str:
    envelope = json.loads(ENVELOPE.read_text("utf-8"))
    envelope.update(MessageId=f"sns-{n}", Message=fixture_text(name))
    return json.dumps(envelope)


def seed(engine: Engine) -> dict[str, int]:
    """The issue of DAY sent to eight readers; hal's delivery still in flight."""
    ids = {}
    with engine.begin() as conn:
        for name in PEOPLE:
            ids[name] = add_subscriber(conn, f"{name}@example.com")
        editions.ensure(conn, DAY, 12)
        force_state(conn, DAY, EditionState.SENT)
        for name in PEOPLE:
            assert claim(conn, DAY, ids[name])
            if name != "hal":
                mark_sent(conn, DAY, ids[name], MESSAGE_IDS[name])
    return ids


def unsubscribe_ada(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:  # what the one-click POST does
        assert lifecycle.unsubscribe(conn, ids["ada"]) is lifecycle.Outcome.DONE


def status(engine: Engine, name: str) -> tuple[str, int]:
    with engine.connect() as conn:
        t = schema.subscribers
        row = conn.execute(
            select(t.c.status, t.c.transient_bounces).where(t.c.email == f"{name}@example.com")
        ).one()
    return row.status, row.transient_bounces


def assert_counted(engine: Engine, stats: dict[str, Any]) -> None:
    assert {key: stats[key] for key in EXPECTED} == EXPECTED
    assert stats["rates"]["bounce"] == pytest.approx(1 / 7, abs=1e-6)
    assert stats["rates"]["spam"] == pytest.approx(1 / 4, abs=1e-6)
    warnings = " | ".join(stats["warnings"])
    assert "bounce rate (hard bounces / sent) is 14.3 %, over 10.0 %: SES may pause" in warnings
    assert "could not render 1 message" in warnings
    # What the events did to the list: the existing suppression policy, applied once.
    assert status(engine, "cat") == (SubscriberStatus.BOUNCED, 0)
    assert status(engine, "eve")[0] == SubscriberStatus.COMPLAINED
    assert status(engine, "dan") == (SubscriberStatus.ACTIVE, 1)
    with engine.connect() as conn:
        e = schema.events
        untied = conn.scalar(select(func.count()).where(e.c.subscriber_id.is_(None)))
        total = conn.scalar(select(func.count()).select_from(e))
    assert (untied, total) == (2, 17)  # the test copy and the stranger; 19 pushed, 2 repeats


# -- through SQS ----------------------------------------------------------------------------


@pytest.fixture
def sqs_queue(env_settings: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint)
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="morningpost-events")["QueueUrl"]
        monkeypatch.setenv("MORNINGPOST_BOUNCES_QUEUE_URL", url)
        yield sqs, url


def queue_left(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(found[name]) for name in names)


def test_events_drained_from_sqs_are_counted_once_per_issue(
    sqs_queue: tuple[Any, str], env_settings: Path
) -> None:
    sqs, url = sqs_queue
    engine = open_store(f"sqlite:///{env_settings / 'morningpost.db'}")
    ids = seed(engine)
    for n, (name, wrapped) in enumerate(PUSHED):
        body = sns_envelope(name, n) if wrapped else fixture_text(name)
        sqs.send_message(QueueUrl=url, MessageBody=body)
    for body in GARBAGE:
        sqs.send_message(QueueUrl=url, MessageBody=body)

    result = CliRunner().invoke(main, ["bounces"])
    assert result.exit_code == 0, result.output + str(result.exception)
    assert result.stdout.strip() == (
        "processed 19, suppressed 2, transient counted 1, unreadable 3; "
        "events 17 new, 2 repeated, 2 for messages not in the store"
    )
    assert queue_left(sqs, url) == 3  # only the garbage waits for the dead-letter queue

    unsubscribe_ada(engine, ids)
    stats = CliRunner().invoke(main, ["stats", "--date", "2026-11-27", "--json"])
    assert stats.exit_code == 0, stats.output
    assert_counted(engine, json.loads(stats.stdout))

    # The queue redelivers everything: nothing counts twice, nothing is suppressed again.
    for n, (name, wrapped) in enumerate(PUSHED):
        body = sns_envelope(name, n) if wrapped else fixture_text(name)
        sqs.send_message(QueueUrl=url, MessageBody=body)
    again = CliRunner().invoke(main, ["bounces"])
    assert "events 0 new, 19 repeated" in again.stdout
    stats = CliRunner().invoke(main, ["stats", "--date", "2026-11-27", "--json"])
    assert_counted(engine, json.loads(stats.stdout))


# -- through the webhook ----------------------------------------------------------------------


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


@pytest.fixture
def webhook(engine: Engine, tmp_path: Path, fake_sns: FakeSns) -> Iterator[httpx.Client]:  # noqa: F811
    app = make_app(engine, RecordingTransport(), tmp_path / "archive", sns=verifier(fake_sns))
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


def test_events_posted_to_the_webhook_are_counted_once_per_issue(
    webhook: httpx.Client,
    engine: Engine,
    fake_sns: FakeSns,  # noqa: F811
) -> None:
    ids = seed(engine)
    for n, (name, _wrapped) in enumerate(PUSHED):  # SNS always wraps what it POSTs
        message = notification("complaint.json", fake_sns, MessageId=f"sns-{n}")
        message = sign(dict(message, Message=fixture_text(name)), fake_sns)
        assert post(webhook, message).status_code == 200, name
    hello = sign(dict(notification("complaint.json", fake_sns), Message="hello"), fake_sns)
    assert post(webhook, hello).status_code == 200  # genuine but not SES: acknowledged
    forged = dict(notification("complaint.json", fake_sns), Message=fixture_text("reject-fay.json"))
    assert post(webhook, forged).status_code == 403  # the signature covered another Message
    assert webhook.post("/sns", content=b"\x00garbage").status_code == 403

    unsubscribe_ada(engine, ids)
    with engine.connect() as conn:
        results = issue_results(conn, DAY)
    assert results is not None
    assert_counted(engine, results.as_json())


# -- reading events -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_recorded_event_reads_as_one_event_of_its_kind(path: Path) -> None:
    data = parse_notification(path.read_text("utf-8"))
    events = read_events(data)
    assert len(events) == 1
    name = data.get("eventType") or data.get("notificationType")
    kinds = {"DeliveryDelay": "delay", "Rendering Failure": "rendering_failure"}
    assert events[0].kind == kinds.get(name, name.lower())
    recipient = events[0].recipient or ""
    assert recipient
    assert recipient not in events[0].note  # addresses are masked in notes


def test_a_notification_for_two_recipients_is_two_events(engine: Engine) -> None:
    data = json.loads(fixture_text("bounce-permanent-cat.json"))
    data["bounce"]["bouncedRecipients"].append({"emailAddress": "dog@example.com"})
    events = read_events(data)
    assert [e.recipient for e in events] == ["cat@example.com", "dog@example.com"]
    assert len({e.key for e in events}) == 2


@pytest.mark.parametrize(
    ("agent", "ip", "machine"),
    [
        ("Mozilla/5.0", "17.58.101.44", True),  # Apple Mail Privacy Protection prefetch
        ("Mozilla/5.0", "203.0.113.9", True),  # the bare agent alone gives it away
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "17.1.2.3", True),  # Apple's net
        ("", "198.51.100.1", True),
        ("python-requests/2.31", "198.51.100.1", True),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "198.51.100.1", True),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)", "198.51.100.23", False),
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "66.249.84.1", False),  # noqa: E501
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "", False),
    ],
)
def test_machine_opens_are_told_apart(agent: str, ip: str, machine: bool) -> None:
    assert is_machine(agent, ip) is machine


def test_an_unknown_event_kind_is_acknowledged_and_changes_nothing(engine: Engine) -> None:
    data = json.loads(fixture_text("send-ada.json"))
    data["eventType"] = "SomethingNew"
    with engine.begin() as conn:
        report = apply_notification(conn, parse_notification(json.dumps(data)), transient_limit=3)
    assert (report.ignored, report.recorded) == (1, 0)
    assert EventKind.SEND == "send"


def test_the_bounce_that_suppressed_is_the_recorded_reason(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as conn:
        data = parse_notification(fixture_text("bounce-permanent-cat.json"))
        apply_notification(conn, data, transient_limit=3)
        cat = find_by_email(conn, "cat@example.com")
        assert cat is not None
        t = schema.subscribers
        row = conn.execute(select(t).where(t.c.id == cat.id)).one()
    assert row.status == SubscriberStatus.BOUNCED
    assert row.status_reason.startswith("Permanent bounce (General) 5.1.1 smtp; 550 5.1.1 <c**@")
    assert row.status_event_id is not None
