"""One issue's send as the engine sees it: the issue-wide parts and each reader's parts."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from email.message import EmailMessage

from emails.message import Campaign, Recipient, build_personal_message, sender_domain
from emails.personalise import greeting_for
from emails.rendered import RenderedEmail
from subscribers.links import issue_url, unsubscribe_url
from subscribers.store.roster import Subscriber
from subscribers.tokens import make_token


@dataclass(frozen=True)
class Mailing:
    """The issue-wide parts of every message of one send."""

    date: dt.date
    rendered: RenderedEmail
    sender: str
    public_url: str
    secret_key: str
    unsubscribe_mailto: str | None = None

    @property
    def list_id(self) -> str:
        return f"The AI Morning Post <daily.{sender_domain(self.sender)}>"

    @functools.cached_property
    def campaign(self) -> Campaign:
        return Campaign(
            sender=self.sender,
            rendered=self.rendered,
            view_url=issue_url(self.public_url, self.date),
            list_id=self.list_id,
            issue=self.date.isoformat(),
            unsubscribe_mailto=self.unsubscribe_mailto,
        )

    def recipient(self, subscriber: Subscriber) -> Recipient:
        token = make_token(self.secret_key, subscriber.id)
        return Recipient(
            key=subscriber.id,
            email=subscriber.email,
            unsubscribe_url=unsubscribe_url(self.public_url, token),
            greeting=greeting_for(subscriber.name),
        )


def message_for(mailing: Mailing, subscriber: Subscriber) -> EmailMessage:
    """The personalised message for one subscriber: a pure function of its inputs."""
    return build_personal_message(mailing.campaign, mailing.recipient(subscriber))
