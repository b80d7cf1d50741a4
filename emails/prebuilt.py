"""One issue's message, built once per send; each reader's copy only fills in its own parts.

Building every copy with the email package (``build_personal_message``) costs about 6 ms,
nearly all of it encoding the same 70 KB of HTML again. Here the MIME is serialised once
per issue, and a copy costs a few joins:

* Headers: ``To``, ``Date``, ``Message-ID`` and ``List-Unsubscribe`` are written per reader;
  the others (``From``, ``Subject``, ``List-Id`` ...) are folded once, by the email package.
* Bodies: each part is encoded once and cut at its placeholders; a reader's values are
  encoded alone and put in the cuts. In quoted-printable that is exact: a soft line break
  (``=`` ending a line) may stand anywhere and decodes to nothing, so each cut ends its
  line with one and every line stays within 76 characters. A part whose lines are all
  short goes as 7bit/8bit, as the email package sends it, and takes the values as they are.

A reader whose values this cannot carry exactly (a line break in a value, an address that
needs quoting or encoding, a value too long for an 8bit line) gets the email package's own
message instead: the same content, at the old cost. ``tests/test_prebuilt.py`` holds the two
builders to the same parsed content, for any values.
"""

from __future__ import annotations

import binascii
import datetime as dt
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from emails.errors import BadRecipient
from emails.message import (
    ISSUE_HEADER,
    ONE_CLICK,
    WIRE,
    Campaign,
    Recipient,
    build_personal_message,
    list_unsubscribe,
    sender_domain,
)
from emails.rendered import PLACEHOLDER
from emails.transports.base import unbuildable

_PLACEHOLDER = re.compile(PLACEHOLDER.pattern.encode("ascii"))
_FOLD_AT = 78  # the email package's line length: headers fold there, longer bodies are encoded
_LINE_LIMIT = 998  # RFC 5322: no line may be longer, whatever the encoding
_SOFT_BREAK = b"=\r\n"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# An address the To header carries as it stands: dot-atom, @, dot-atom (RFC 5322).
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")
# A header value written as it stands: printable ASCII words between single spaces.
_PLAIN_HEADER = re.compile(r"[!-~]+(?: [!-~]+)*")
# Errors of the email package (and of encoding) that one recipient's values can cause.
_BUILD_ERRORS = (ValueError, TypeError, LookupError, MessageError)


@dataclass(frozen=True)
class _Part:
    """One body part, encoded once: bytes, with the names of placeholders between them."""

    pieces: tuple[bytes | str, ...]
    quoted: bool  # quoted-printable; else 7bit/8bit, lines as they stand
    ascii: bool
    subtype: str

    @classmethod
    def encode(cls, subtype: str, template: str) -> _Part:
        lines = template.encode("utf-8").splitlines()
        body = b"\n".join(lines) + b"\n"  # the email package's form of a text body
        quoted = max(map(len, lines), default=0) > _FOLD_AT
        cuts = _PLACEHOLDER.split(body)  # text, name, text, name ..., text
        pieces: list[bytes | str] = []
        for index, cut in enumerate(cuts):
            if index % 2:
                pieces.append(cut.decode("ascii"))
            else:
                pieces.append(_static(cut, quoted, first=index == 0, last=index == len(cuts) - 1))
        return cls(tuple(pieces), quoted, body.isascii(), subtype)

    def fill(self, values: Mapping[str, str]) -> bytes | None:
        """The part with ``values`` in it, headers first; None if an 8bit line would break."""
        encoded = {name: value.encode("utf-8") for name, value in values.items()}
        if self.quoted:
            encoded = {name: _quote(value) for name, value in encoded.items()}
        elif sum(len(value) for value in encoded.values()) > _LINE_LIMIT - _FOLD_AT:
            return None
        cte = "quoted-printable" if self.quoted else "7bit"
        if cte == "7bit" and not (self.ascii and all(v.isascii() for v in values.values())):
            cte = "8bit"
        head = (
            f'Content-Type: text/{self.subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode("ascii")
        return head + b"".join(p if isinstance(p, bytes) else encoded[p] for p in self.pieces)


def _static(cut: bytes, quoted: bool, *, first: bool, last: bool) -> bytes:
    """A stretch of the body between placeholders, in its transfer encoding, CRLF lines."""
    if not quoted:
        return cut.replace(b"\n", b"\r\n")
    encoded = binascii.b2a_qp(cut, istext=True).replace(b"\n", b"\r\n")
    # A value ends its line with a soft break, unless the text after it breaks the line.
    if not first and not cut.startswith(b"\n"):
        encoded = _SOFT_BREAK + encoded
    if not last and encoded and not encoded.endswith(b"\r\n"):
        encoded += _SOFT_BREAK
    return encoded


def _quote(value: bytes) -> bytes:
    return binascii.b2a_qp(value, istext=True).replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class PrebuiltMessage:
    """``campaign``'s message, serialised once; ``fill`` writes one recipient's copy."""

    campaign: Campaign
    boundary: str
    domain: str  # of the Message-IDs
    top: bytes  # From
    middle: bytes  # Subject
    tail: bytes  # List-Unsubscribe-Post ... Content-Type, the blank line
    text: _Part
    html: _Part

    @classmethod
    def build(cls, campaign: Campaign) -> PrebuiltMessage:
        rendered = campaign.rendered
        boundary = _boundary(rendered.text, rendered.html)
        tail = b"".join(
            _folded(name, value)
            for name, value in (
                ("List-Unsubscribe-Post", ONE_CLICK),
                ("List-Id", campaign.list_id),
                (ISSUE_HEADER, campaign.issue),
            )
        )
        tail += (
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
        ).encode("ascii")
        return cls(
            campaign=campaign,
            boundary=boundary,
            domain=sender_domain(campaign.sender),
            top=_folded("From", campaign.sender),
            middle=_folded("Subject", rendered.subject),
            tail=tail,
            text=_Part.encode("plain", rendered.text),
            html=_Part.encode("html", rendered.html),
        )

    def fill(self, recipient: Recipient, *, date: dt.datetime | None = None) -> tuple[str, bytes]:
        """``(Message-ID without <>, the message as bytes)`` of ``recipient``'s copy.

        Raises ``BadRecipient`` when this recipient's copy cannot be built (an address or a
        value the message format cannot carry); other recipients are not affected.
        """
        try:
            return self._fill(recipient, date or dt.datetime.now(dt.UTC))
        except _BUILD_ERRORS as err:
            raise BadRecipient(unbuildable(err)) from err

    def _fill(self, recipient: Recipient, date: dt.datetime) -> tuple[str, bytes]:
        values = {
            "unsubscribe_url": recipient.unsubscribe_url,
            "view_url": self.campaign.view_url,
            "greeting": recipient.greeting,
        }
        text = html_part = None
        if all(_fits_a_line(value, self.boundary) for value in values.values()):
            escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
            text, html_part = self.text.fill(values), self.html.fill(escaped)
        if text is None or html_part is None:
            return self._built_by_the_email_package(recipient, date)
        message_id = make_msgid(domain=self.domain)
        unsubscribe = list_unsubscribe(recipient.unsubscribe_url, self.campaign.unsubscribe_mailto)
        delimiter = f"--{self.boundary}\r\n".encode("ascii")
        message = [
            self.top,
            _to(recipient.email),
            self.middle,
            _header("Date", format_datetime(date)),
            _header("Message-ID", message_id),
            _header("List-Unsubscribe", unsubscribe),
            self.tail,
            delimiter,
            text,
            b"\r\n",
            delimiter,
            html_part,
            f"\r\n--{self.boundary}--\r\n".encode("ascii"),
        ]
        return message_id.strip("<>"), b"".join(message)

    def _built_by_the_email_package(
        self, recipient: Recipient, date: dt.datetime
    ) -> tuple[str, bytes]:
        message = build_personal_message(self.campaign, recipient, date=date)
        return str(message["Message-ID"]).strip("<> "), message.as_bytes(policy=WIRE)


def _fits_a_line(value: str, boundary: str) -> bool:
    # A line break would change the body's lines; the boundary must appear nowhere else.
    return "\r" not in value and "\n" not in value and boundary not in value


def _boundary(*bodies: str) -> str:
    """A multipart boundary found in neither body (the email package draws them the same way)."""
    while True:
        boundary = f"{'=' * 15}{secrets.randbelow(10**19):019d}=="
        if not any(boundary in body for body in bodies):
            return boundary


def _to(address: str) -> bytes:
    if _PLAIN_ADDRESS.fullmatch(address) and "=?" not in address:  # "=?" would read as RFC 2047
        return _header("To", address)
    return _folded("To", Address(addr_spec=address))


def _header(name: str, value: str) -> bytes:
    """``name: value``, folded between words when long; the email package for anything else."""
    if not _PLAIN_HEADER.fullmatch(value) or "=?" in value:  # "=?" would read as RFC 2047
        return _folded(name, value)
    if len(name) + 2 + len(value) <= _FOLD_AT:
        return f"{name}: {value}\r\n".encode("ascii")
    if len(value) + 1 <= _FOLD_AT:  # the value whole on the next line, as the package does
        return f"{name}:\r\n {value}\r\n".encode("ascii")
    words = value.split(" ")
    if len(name) + 2 + max(map(len, words)) > _LINE_LIMIT:
        return _folded(name, value)
    first = f"{name}:"
    lines = [first]
    for word in words:  # as many words a line as fit, as the email package folds
        fits = len(lines[-1]) + 1 + len(word) <= _FOLD_AT
        # A word longer than any line (a long URL) starts right after the name: the email
        # package would write it as RFC 2047 encoded words, which no client decodes in
        # List-Unsubscribe.
        if fits or (lines[-1] == first and len(word) + 1 > _FOLD_AT):
            lines[-1] += f" {word}"
        else:
            lines.append(f" {word}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _folded(name: str, value: str | Address) -> bytes:
    """The header as ``build_message`` writes it: checked and folded by the email package."""
    scratch = EmailMessage()
    scratch[name] = value
    folded: bytes = WIRE.fold_binary(name, scratch[name])
    return folded
