"""Verifying Amazon SNS messages (the SES feedback webhook) before believing a word of them.

A message is believed only if all hold: its ``TopicArn`` is the configured topic (anyone can
create an SNS topic and point it at us: AWS would sign those too); ``SigningCertURL`` is
https on an ``sns.<region>.amazonaws.com`` host and ends in ``.pem``; the certificate's key
verifies ``Signature`` over the canonical string (SignatureVersion 1: SHA1withRSA, 2:
SHA256withRSA). Certificates are cached by URL. A ``SubscriptionConfirmation`` for the
configured topic is confirmed by fetching its ``SubscribeURL``, which must pass the same
host check.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emails.errors import FeedbackError, Unverified

log = logging.getLogger(__name__)

_SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
_SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_CERT_MAX_BYTES = 64 * 1024
_CACHE_MAX = 32

UrlCheck = Callable[[str], bool]
Fetch = Callable[[str], bytes]



def is_sns_url(url: str) -> bool:
    """True for an https URL on an SNS host (``sns.<region>.amazonaws.com[.cn]``)."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.port in (None, 443)
        and parts.username is None
        and _SNS_HOST.match(parts.hostname or "") is not None
    )


def is_cert_url(url: str) -> bool:
    return is_sns_url(url) and urlsplit(url).path.endswith(".pem")


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical ``key\\nvalue\\n`` string SNS signs, for the message's Type."""
    keys = _SIGNED_KEYS.get(str(message.get("Type")))
    if keys is None:
        raise Unverified(f"unknown SNS message type {str(message.get('Type'))[:40]!r}")
    parts = []
    for key in keys:
        value = message.get(key)
        if value is None:
            if key == "Subject":
                continue  # the only optional key
            raise Unverified(f"SNS message without {key}")
        if not isinstance(value, str):
            raise Unverified(f"SNS message field {key} is not a string")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def http_get(url: str) -> bytes:
    """GET ``url`` without following redirects (a redirect could leave the checked host)."""
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        response = client.get(url)
        response.raise_for_status()
        return response.content[: _CERT_MAX_BYTES + 1]


class SnsVerifier:
    """Verifies SNS messages for one topic and confirms that topic's subscription.

    ``url_check`` is for tests only: it lets a test point the certificate and subscribe
    URLs at a loopback server. The product always uses the default (``is_sns_url``).
    """

    def __init__(
        self, topic_arn: str, *, fetch: Fetch = http_get, url_check: UrlCheck = is_sns_url
    ) -> None:
        self.topic_arn = topic_arn
        self._fetch = fetch
        self._url_check = url_check
        self._certs: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def verify(self, body: bytes | str) -> dict[str, Any]:
        """The message in ``body`` if it is genuine and for our topic; else ``Unverified``."""
        message = _parse(body)
        if message.get("TopicArn") != self.topic_arn:
            raise Unverified("SNS message for another topic")
        algorithm = _HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise Unverified("unsupported SNS SignatureVersion")
        signature = _signature(message)
        key = self._public_key(str(message.get("SigningCertURL", "")))
        try:
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Unverified("bad SNS signature") from None
        return message

    def confirm_subscription(self, message: Mapping[str, Any]) -> None:
        """Confirm a verified ``SubscriptionConfirmation`` by fetching its SubscribeURL."""
        url = str(message.get("SubscribeURL", ""))
        if not self._url_check(url):
            raise Unverified("SubscribeURL is not an SNS URL")
        try:
            self._fetch(url)
        except httpx.HTTPError as err:
            raise FeedbackError(f"could not confirm the SNS subscription ({err})") from err
        log.info("confirmed the SNS subscription to %s", self.topic_arn)

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        if not (self._url_check(url) and urlsplit(url).path.endswith(".pem")):
            raise Unverified("SigningCertURL is not an SNS certificate URL")
        with self._lock:
            cached = self._certs.get(url)
        if cached is not None:
            return cached
        key = self._load_key(url)
        with self._lock:
            if len(self._certs) >= _CACHE_MAX:
                self._certs.clear()
            self._certs[url] = key
        return key

    def _load_key(self, url: str) -> rsa.RSAPublicKey:
        try:
            pem = self._fetch(url)
        except httpx.HTTPError:
            raise Unverified("cannot fetch the SNS signing certificate") from None
        if len(pem) > _CERT_MAX_BYTES:
            raise Unverified("SNS signing certificate too large")
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise Unverified("SNS signing certificate is not a PEM certificate") from None
        if not cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc:
            raise Unverified("SNS signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unverified("SNS signing certificate has no RSA key")
        return key


def _parse(body: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise Unverified("not JSON") from None
    if not isinstance(message, dict):
        raise Unverified("not a JSON object")
    return message


def _signature(message: Mapping[str, Any]) -> bytes:
    try:
        return base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Unverified("SNS signature is not base64") from None
