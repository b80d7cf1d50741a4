"""SNS signature verification, with a test CA-less certificate served from loopback."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from emails.errors import Unverified
from subscribers.feedback.sns import SnsVerifier, is_cert_url, is_sns_url, string_to_sign
from subscribers.store.roster import add_subscriber
from subscribers.store.states import SubscriberStatus
from tests.test_web import RecordingTransport, make_app, serving, status_of

FIXTURES = Path(__file__).parent / "fixtures" / "sns"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:morningpost-feedback"
CERT_PATH = "/SimpleNotificationService-test.pem"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test.invalid")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


SIGNING_KEY = _key()
OTHER_KEY = _key()


@dataclass
class FakeSns:
    """A loopback HTTP server serving the certificate and recording SubscribeURL visits."""

    base: str
    visits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def allows(self, url: str) -> bool:
        """The test-only URL check: our loopback server instead of sns.<region>.amazonaws.com."""
        return url.startswith(self.base + "/")


@pytest.fixture(scope="module")
def fake_sns() -> Iterator[FakeSns]:
    pem = _certificate(SIGNING_KEY)
    state = FakeSns(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.visits.append(self.path)
            body = pem if self.path == CERT_PATH else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    thread.join(timeout=5)


def sign(
    message: dict[str, Any],
    fake: FakeSns,
    *,
    version: str = "2",
    key: rsa.RSAPrivateKey | None = None,
) -> dict[str, Any]:
    signed = dict(message, SignatureVersion=version, SigningCertURL=fake.url(CERT_PATH))
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = (key or SIGNING_KEY).sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def notification(ses_fixture: str, fake: FakeSns, **changes: Any) -> dict[str, Any]:
    envelope = json.loads((FIXTURES / "notification-envelope.json").read_text("utf-8"))
    envelope["Message"] = (FIXTURES / ses_fixture).read_text("utf-8")
    envelope.update(changes)
    return sign(envelope, fake)


def verifier(fake: FakeSns) -> SnsVerifier:
    return SnsVerifier(TOPIC, url_check=fake.allows)


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_verify(fake_sns: FakeSns, version: str) -> None:
    message = sign(notification("complaint.json", fake_sns), fake_sns, version=version)
    verified = verifier(fake_sns).verify(json.dumps(message))
    assert verified["MessageId"] == message["MessageId"]


def test_a_message_without_subject_and_with_subject_both_verify(fake_sns: FakeSns) -> None:
    with_subject = notification("complaint.json", fake_sns, Subject="Amazon SES Email Event")
    assert verifier(fake_sns).verify(json.dumps(with_subject))["Subject"]
    forged = dict(with_subject, Subject="Something else")
    with pytest.raises(Unverified, match="bad SNS signature"):
        verifier(fake_sns).verify(json.dumps(forged))


@pytest.mark.parametrize("field_name", ["Message", "MessageId", "Timestamp", "Type"])
def test_a_forged_field_is_refused(fake_sns: FakeSns, field_name: str) -> None:
    message = notification("bounce-permanent.json", fake_sns)
    forged = copy.deepcopy(message)
    forged[field_name] = "SubscriptionConfirmation" if field_name == "Type" else "forged"
    with pytest.raises(Unverified):
        verifier(fake_sns).verify(json.dumps(forged))


def test_a_message_re_signed_with_another_key_is_refused(fake_sns: FakeSns) -> None:
    envelope = json.loads((FIXTURES / "notification-envelope.json").read_text("utf-8"))
    envelope["Message"] = (FIXTURES / "bounce-permanent.json").read_text("utf-8")
    for version in ("1", "2"):
        resigned = sign(envelope, fake_sns, version=version, key=OTHER_KEY)
        with pytest.raises(Unverified, match="bad SNS signature"):
            verifier(fake_sns).verify(json.dumps(resigned))


def test_another_topic_is_refused_even_when_signed(fake_sns: FakeSns) -> None:
    other = notification("bounce-permanent.json", fake_sns, TopicArn=TOPIC + "-attacker")
    with pytest.raises(Unverified, match="another topic"):
        verifier(fake_sns).verify(json.dumps(other))


def test_the_product_check_refuses_a_loopback_certificate_without_fetching(
    fake_sns: FakeSns,
) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return b""

    message = notification("bounce-permanent.json", fake_sns)
    with pytest.raises(Unverified, match="SigningCertURL"):
        SnsVerifier(TOPIC, fetch=fetch).verify(json.dumps(message))
    assert fetched == []


def test_the_certificate_is_fetched_once_and_cached(fake_sns: FakeSns) -> None:
    check = verifier(fake_sns)
    before = fake_sns.visits.count(CERT_PATH)
    for _ in range(3):
        check.verify(json.dumps(notification("complaint.json", fake_sns)))
    assert fake_sns.visits.count(CERT_PATH) == before + 1


@pytest.mark.parametrize(
    "changes",
    [
        {"SignatureVersion": "3"},
        {"Signature": "not base64!!"},
        {"Signature": ""},
        {"SigningCertURL": "http://127.0.0.1:1/cert.txt"},
    ],
)
def test_unverifiable_messages_are_refused(fake_sns: FakeSns, changes: dict[str, str]) -> None:
    message = notification("complaint.json", fake_sns)
    message.update(changes)
    with pytest.raises(Unverified):
        verifier(fake_sns).verify(json.dumps(message))


@pytest.mark.parametrize("body", [b"", b"[]", b"not json", b'{"Type": "Other"}', b"\xff"])
def test_garbage_is_refused(fake_sns: FakeSns, body: bytes) -> None:
    with pytest.raises(Unverified):
        verifier(fake_sns).verify(body)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
        ("http://sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com/x.pem.txt", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com@evil.example/x.pem", False),
        ("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.amazonaws.com/x.pem", False),
        ("https://sns.eu.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com:8443/x.pem", False),
        ("https://sqs.eu-west-1.amazonaws.com/x.pem", False),
    ],
)
def test_certificate_url_check(url: str, ok: bool) -> None:
    assert is_cert_url(url) is ok


def test_subscribe_url_check() -> None:
    assert is_sns_url("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")
    assert not is_sns_url("https://evil.example/?Action=ConfirmSubscription")


# -- the webhook over HTTP ------------------------------------------------------------------


@pytest.fixture
def webhook(engine: Engine, tmp_path: Path, fake_sns: FakeSns) -> Iterator[httpx.Client]:
    app = make_app(engine, RecordingTransport(), tmp_path / "archive", sns=verifier(fake_sns))
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    from subscribers.store.engine import open_store

    return open_store(f"sqlite:///{tmp_path / 'sns.db'}")


def post(http: httpx.Client, message: dict[str, Any]) -> httpx.Response:
    headers = {"x-amz-sns-message-type": str(message["Type"]), "content-type": "text/plain"}
    return http.post("/sns", content=json.dumps(message).encode(), headers=headers)


def test_a_signed_permanent_bounce_suppresses(
    webhook: httpx.Client, engine: Engine, fake_sns: FakeSns
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "gone@example.com")
    assert post(webhook, notification("bounce-permanent.json", fake_sns)).status_code == 200
    assert status_of(engine, "gone@example.com") == SubscriberStatus.BOUNCED


def test_forged_and_resigned_messages_get_403_and_change_nothing(
    webhook: httpx.Client, engine: Engine, fake_sns: FakeSns
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "gone@example.com")
    genuine = notification("bounce-permanent.json", fake_sns)
    forged = dict(genuine, Message=genuine["Message"].replace("Gone@", "Other@"))
    envelope = {k: v for k, v in genuine.items() if k not in ("Signature",)}
    resigned = sign(envelope, fake_sns, key=OTHER_KEY)
    for message in (forged, resigned):
        assert post(webhook, message).status_code == 403
    assert webhook.post("/sns", content=b"\x00garbage").status_code == 403
    assert status_of(engine, "gone@example.com") == SubscriberStatus.ACTIVE


def test_subscription_confirmed_only_for_our_topic(
    webhook: httpx.Client, fake_sns: FakeSns
) -> None:
    template = json.loads((FIXTURES / "subscription-confirmation.json").read_text("utf-8"))
    ours = sign(dict(template, SubscribeURL=fake_sns.url("/confirm?Token=ours")), fake_sns)
    theirs = sign(
        dict(template, TopicArn=TOPIC + "-x", SubscribeURL=fake_sns.url("/confirm?Token=x")),
        fake_sns,
    )
    elsewhere = sign(dict(template, SubscribeURL="https://evil.example/confirm"), fake_sns)
    assert post(webhook, ours).status_code == 200
    assert post(webhook, theirs).status_code == 403
    assert post(webhook, elsewhere).status_code == 403
    assert "/confirm?Token=ours" in fake_sns.visits
    assert "/confirm?Token=x" not in fake_sns.visits


def test_a_genuine_notification_that_is_not_ses_feedback_is_acknowledged(
    webhook: httpx.Client, fake_sns: FakeSns
) -> None:
    envelope = json.loads((FIXTURES / "notification-envelope.json").read_text("utf-8"))
    envelope["Message"] = "hello"
    assert post(webhook, sign(envelope, fake_sns)).status_code == 200
