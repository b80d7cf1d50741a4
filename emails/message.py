"""Building one RFC 5322 message: a pure function of its parts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from emails.personalise import personalise
from emails.rendered import RenderedEmail

ONE_CLICK = "List-Unsubscribe=One-Click"
# How messages are written for the wire. Header lines may run to SMTP's 998 octets: folded at
# 78, a List-Unsubscribe URL longer than a line would be written as RFC 2047 encoded words,
# which mail clients do not decode there, and one-click unsubscribe would break. Bodies are
# encoded when they are set, to lines of at most 78.
WIRE = SMTP.clone(max_line_length=998)
ISSUE_HEADER = "X-MorningPost-Issue"


@dataclass(frozen=True)
class Envelope:
    """Everything one recipient's message is made of, already personalised."""

    sender: str
    to: str
    subject: str
    html: str
    text: str
    unsubscribe_url: str
    list_id: str
    unsubscribe_mailto: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def sender_domain(sender: str) -> str:
    """The domain of a ``Name <user@domain>`` sender, for Message-IDs and List-Id."""
    _, address = parseaddr(sender)
    local, at, domain = address.rpartition("@")
    return domain if at and local and domain else "localhost"


def list_unsubscribe(url: str, mailto: str | None = None) -> str:
    # RFC 8058: the https URI first; Gmail has been seen hiding the button otherwise.
    targets = [f"<{url}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return ", ".join(targets)


def build_message(envelope: Envelope, *, date: dt.datetime | None = None) -> EmailMessage:
    """Return the multipart/alternative message (text first, then HTML) for ``envelope``."""
    message = EmailMessage()
    message["From"] = envelope.sender
    message["To"] = Address(addr_spec=envelope.to)
    message["Subject"] = envelope.subject
    message["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain=sender_domain(envelope.sender))
    message["List-Unsubscribe"] = list_unsubscribe(
        envelope.unsubscribe_url, envelope.unsubscribe_mailto
    )
    message["List-Unsubscribe-Post"] = ONE_CLICK
    message["List-Id"] = envelope.list_id
    for name, value in envelope.headers.items():
        message[name] = value
    message.set_content(envelope.text)
    message.add_alternative(envelope.html, subtype="html")
    return message


@dataclass(frozen=True)
class Campaign:
    """The issue-wide parts of every message of one send (what SES calls the template)."""

    sender: str
    rendered: RenderedEmail
    view_url: str
    list_id: str
    issue: str  # names the issue in a header and in SES message tags, e.g. ``2026-02-25``
    unsubscribe_mailto: str | None = None


@dataclass(frozen=True)
class Recipient:
    """The per-subscriber parts; ``key`` is the caller's id, handed back with the outcome."""

    key: int
    email: str
    unsubscribe_url: str
    greeting: str


def personal_envelope(campaign: Campaign, recipient: Recipient) -> Envelope:
    """The envelope of one recipient's copy: placeholders filled, list headers set."""
    html, text = personalise(
        campaign.rendered,
        unsubscribe_url=recipient.unsubscribe_url,
        view_url=campaign.view_url,
        greeting=recipient.greeting,
    )
    return Envelope(
        sender=campaign.sender,
        to=recipient.email,
        subject=campaign.rendered.subject,
        html=html,
        text=text,
        unsubscribe_url=recipient.unsubscribe_url,
        list_id=campaign.list_id,
        unsubscribe_mailto=campaign.unsubscribe_mailto,
        headers={ISSUE_HEADER: campaign.issue},
    )


def build_personal_message(
    campaign: Campaign, recipient: Recipient, *, date: dt.datetime | None = None
) -> EmailMessage:
    """The whole MIME message of one recipient's copy (about 6 ms: bulk sends fill in the
    message ``emails.prebuilt`` builds once per issue, which parses into the same)."""
    return build_message(personal_envelope(campaign, recipient), date=date)
