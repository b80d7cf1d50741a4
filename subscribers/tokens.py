"""Opaque, URL-safe tokens that name a subscriber by id, signed with HMAC-SHA256.

A token is ``<id in base 36>.<128-bit MAC>``; the MAC covers the purpose too, so an
unsubscribe token cannot confirm a subscription. Verification is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

Purpose = Literal["unsubscribe", "confirm"]
_MAC_BYTES = 16
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def make_token(secret: str, subscriber_id: int, purpose: Purpose = "unsubscribe") -> str:
    return f"{_base36(subscriber_id)}.{_mac(secret, subscriber_id, purpose)}"


def read_token(secret: str, token: str, purpose: Purpose = "unsubscribe") -> int | None:
    """Return the subscriber id ``token`` names, or None if it is malformed or forged."""
    id_part, dot, mac = token.partition(".")
    if not dot or not id_part or len(id_part) > 13 or id_part.strip(_DIGITS):
        return None
    subscriber_id = int(id_part, 36)
    if _base36(subscriber_id) != id_part:  # one spelling per id: no leading zeros
        return None
    expected = _mac(secret, subscriber_id, purpose)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    return subscriber_id


def _mac(secret: str, subscriber_id: int, purpose: Purpose) -> str:
    message = f"{purpose}:{subscriber_id}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("subscriber ids are not negative")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if number == 0:
            return digits
