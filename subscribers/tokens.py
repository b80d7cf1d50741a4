"""Opaque, URL-safe tokens that name a subscriber by id, signed with HMAC-SHA256.

An unsubscribe token is ``<id in base 36>.<128-bit MAC>`` and never expires: it is in every
issue ever sent, and RFC 8058 wants it to keep working. A confirm token is
``<id>.<sign-up stamp>.<MAC>``: the stamp is when its confirmation was sent
(``confirm_sent_at``, in microseconds, base 36), so the token expires ``CONFIRM_TTL`` after it
and confirms only the sign-up it was mailed for (``lifecycle.confirm`` checks the stamp is
still the subscriber's). The MAC covers the purpose and every part, so an unsubscribe token
cannot confirm, and a stamp cannot be moved. Confirm tokens of the older two-part form no
longer read: a sign-up caught mid-way by the change subscribes again. Verification is constant-time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

CONFIRM_TTL = dt.timedelta(days=7)
_MAC_BYTES = 16
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class ConfirmToken:
    subscriber_id: int
    stamp: dt.datetime  # the sign-up's confirm_sent_at (UTC)

    def expired(self, now: dt.datetime) -> bool:
        return now - self.stamp > CONFIRM_TTL


def make_token(secret: str, subscriber_id: int) -> str:
    """The unsubscribe token of ``subscriber_id``."""
    return f"{_base36(subscriber_id)}.{_mac(secret, f'unsubscribe:{subscriber_id}')}"


def read_token(secret: str, token: str) -> int | None:
    """The subscriber id an unsubscribe ``token`` names, or None if malformed or forged."""
    parts = token.split(".")
    subscriber_id = _number(parts[0]) if len(parts) == 2 else None
    if subscriber_id is None:
        return None
    # The message signed since the first issue went out: links in old issues keep working.
    if not _verified(secret, f"unsubscribe:{subscriber_id}", mac=parts[1]):
        return None
    return subscriber_id


def make_confirm_token(secret: str, subscriber_id: int, stamp: dt.datetime) -> str:
    """The confirm token of the sign-up whose confirmation was sent at ``stamp``."""
    micros = (stamp - _EPOCH) // _MICROSECOND
    mac = _mac(secret, f"confirm:{subscriber_id}:{micros}")
    return f"{_base36(subscriber_id)}.{_base36(micros)}.{mac}"


def read_confirm_token(secret: str, token: str) -> ConfirmToken | None:
    """What a confirm ``token`` says, or None if malformed or forged (expiry is the caller's)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    subscriber_id, micros = _number(parts[0]), _number(parts[1])
    if subscriber_id is None or micros is None:
        return None
    if not _verified(secret, f"confirm:{subscriber_id}:{micros}", mac=parts[2]):
        return None
    try:
        stamp = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        return None
    return ConfirmToken(subscriber_id, stamp)


def _verified(secret: str, message: str, *, mac: str) -> bool:
    return hmac.compare_digest(_mac(secret, message).encode(), mac.encode("utf-8", "replace"))


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).rstrip(b"=").decode()


def _number(text: str) -> int | None:
    """The number ``text`` spells in base 36, in its one spelling (no leading zeros)."""
    if not text or len(text) > 13 or text.strip(_DIGITS):
        return None
    number = int(text, 36)
    return number if _base36(number) == text else None


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("subscriber ids are not negative")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if number == 0:
            return digits
