"""Building one RFC 5322 message: a pure function of its parts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

ONE_CLICK = "List-Unsubscribe=One-Click"


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
