"""The send engine: every active subscriber gets the issue once, recorded in the ledger."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import Engine

from emails.errors import TransportError
from emails.message import Envelope, build_message, sender_domain
from emails.personalise import greeting_for, personalise
from emails.render import RenderedEmail
from emails.transports.base import Transport
from subscribers import editions, ledger
from subscribers.addresses import mask
from subscribers.links import issue_url, unsubscribe_url
from subscribers.store import Subscriber, iter_active
from subscribers.tokens import make_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mailing:
    """The issue-wide parts of every message of one send."""

    date: dt.date
    rendered: RenderedEmail
    sender: str
    public_url: str
    secret_key: str

    @property
    def list_id(self) -> str:
        return f"The AI Morning Post <daily.{sender_domain(self.sender)}>"


@dataclass
class SendReport:
    delivered: int = 0
    failed: int = 0
    already: int = 0  # sent, in flight or skipped by an earlier run: not sent again

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed


def message_for(mailing: Mailing, subscriber: Subscriber) -> EmailMessage:
    """The personalised message for one subscriber: a pure function of its inputs."""
    unsubscribe = unsubscribe_url(mailing.public_url, make_token(mailing.secret_key, subscriber.id))
    html, text = personalise(
        mailing.rendered,
        unsubscribe_url=unsubscribe,
        view_url=issue_url(mailing.public_url, mailing.date),
        greeting=greeting_for(subscriber.name),
    )
    envelope = Envelope(
        sender=mailing.sender,
        to=subscriber.email,
        subject=mailing.rendered.subject,
        html=html,
        text=text,
        unsubscribe_url=unsubscribe,
        list_id=mailing.list_id,
        headers={"X-MorningPost-Issue": mailing.date.isoformat()},
    )
    return build_message(envelope)


def send_issue(
    engine: Engine, transport: Transport, mailing: Mailing, *, dry_run: bool = False
) -> SendReport:
    """Deliver ``mailing`` to every active subscriber who does not have it yet."""
    report = SendReport()
    if not dry_run:
        _set_state(engine, mailing.date, editions.SENDING)
    for subscriber in iter_active(engine):
        if dry_run:
            message_for(mailing, subscriber)
            report.delivered += 1
        else:
            _deliver(engine, transport, mailing, subscriber, report)
    if not dry_run and report.failed == 0:
        _set_state(engine, mailing.date, editions.SENT)
    return report


def _deliver(
    engine: Engine,
    transport: Transport,
    mailing: Mailing,
    subscriber: Subscriber,
    report: SendReport,
) -> None:
    with engine.begin() as conn:
        if not ledger.claim(conn, mailing.date, subscriber.id):
            report.already += 1
            return
    try:
        message_id = transport.send(message_for(mailing, subscriber))
    except TransportError as err:
        log.warning("delivery to %s failed: %s", mask(subscriber.email), err)
        with engine.begin() as conn:
            ledger.mark_failed(conn, mailing.date, subscriber.id, str(err))
        report.failed += 1
        return
    with engine.begin() as conn:
        ledger.mark_sent(conn, mailing.date, subscriber.id, message_id)
    report.delivered += 1


def _set_state(engine: Engine, date: dt.date, state: str) -> None:
    with engine.begin() as conn:
        editions.set_state(conn, date, state)
