from __future__ import annotations

import datetime as dt
import html
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from emails.errors import TransportError
from emails.issue import Issue
from emails.render import render_email
from pipeline.send import Mailing, message_for, send_issue
from subscribers import editions, ledger, schema
from subscribers.store import Subscriber, add_subscriber, open_store
from subscribers.tokens import read_token

FIXTURE = Path(__file__).parent / "fixtures" / "issue.json"
DAY = dt.date(2026, 2, 25)
KEY = "send-test-key"


class RecordingTransport:
    name = "recording"

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.sent: list[EmailMessage] = []
        self.refuse = refuse

    def send(self, message: EmailMessage) -> str:
        to = message["To"].addresses[0].addr_spec
        if to in self.refuse:
            raise TransportError(f"MessageRejected: {to} refused")
        self.sent.append(message)
        return f"id-{len(self.sent)}"

    def recipients(self) -> list[str]:
        return [m["To"].addresses[0].addr_spec for m in self.sent]


@pytest.fixture(scope="module")
def mailing() -> Mailing:
    return Mailing(
        date=DAY,
        rendered=render_email(Issue.load(FIXTURE), postal_address="1 Example St"),
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key=KEY,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'mp.db'}")
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 28)
        for name in ("a", "b", "c"):
            add_subscriber(conn, f"{name}@example.com", name=name.upper())
        add_subscriber(conn, "gone@example.com", status=schema.UNSUBSCRIBED)
    return engine


def test_message_is_personal_and_escaped(mailing: Mailing) -> None:
    person = Subscriber(7, "ada@example.com", 'Ada "<&>" {{view_url}}', "active")
    message = message_for(mailing, person)
    text_part, html_part = message.iter_parts()
    html_body, text_body = html_part.get_content(), text_part.get_content()
    assert html.escape('Ada "<&>" {{view_url}}') in html_body
    assert 'Ada "<&>" {{view_url}}' in text_body
    token = message["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    assert read_token(KEY, token) == 7
    assert f"https://news.example.com/unsubscribe/{token}" in html_body
    assert "https://news.example.com/issues/2026-02-25/" in text_body


def test_each_active_subscriber_once_and_rerun_sends_nothing(
    engine: Engine, mailing: Mailing
) -> None:
    first = RecordingTransport()
    report = send_issue(engine, first, mailing)
    assert sorted(first.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert (report.delivered, report.failed, report.already) == (3, 0, 0)
    second = RecordingTransport()
    again = send_issue(engine, second, mailing)
    assert (second.sent, again.delivered, again.already) == ([], 0, 3)
    with engine.connect() as conn:
        assert editions.state(conn, DAY) == editions.SENT


def test_a_refused_recipient_fails_alone_and_is_retried_next_run(
    engine: Engine, mailing: Mailing
) -> None:
    report = send_issue(engine, RecordingTransport(refuse=frozenset({"b@example.com"})), mailing)
    assert (report.delivered, report.failed) == (2, 1)
    with engine.connect() as conn:
        assert ledger.counts(conn, DAY)["failed"] == 1
        assert editions.state(conn, DAY) == editions.SENDING
    retry = RecordingTransport()
    send_issue(engine, retry, mailing)
    assert retry.recipients() == ["b@example.com"]


def test_a_delivery_left_in_flight_is_not_resent(engine: Engine, mailing: Mailing) -> None:
    with engine.begin() as conn:
        ledger.claim(conn, DAY, 1)  # a crash after this: the message may have left
    transport = RecordingTransport()
    report = send_issue(engine, transport, mailing)
    assert "a@example.com" not in transport.recipients()
    assert report.already == 1
    with engine.connect() as conn:
        assert ledger.counts(conn, DAY)["sending"] == 1


def test_unsubscribed_before_the_send_gets_nothing(engine: Engine, mailing: Mailing) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(schema.subscribers)
            .where(schema.subscribers.c.email == "c@example.com")
            .values(status=schema.UNSUBSCRIBED)
        )
    transport = RecordingTransport()
    send_issue(engine, transport, mailing)
    assert sorted(transport.recipients()) == ["a@example.com", "b@example.com"]


def test_dry_run_touches_neither_transport_nor_ledger(engine: Engine, mailing: Mailing) -> None:
    transport = RecordingTransport()
    report = send_issue(engine, transport, mailing, dry_run=True)
    assert (report.delivered, transport.sent) == (3, [])
    with engine.connect() as conn:
        assert sum(ledger.counts(conn, DAY).values()) == 0
        assert editions.state(conn, DAY) == editions.DRAFT
