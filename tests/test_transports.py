from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from emails.errors import TransportError
from emails.message import ONE_CLICK, Envelope, build_message, list_unsubscribe, sender_domain
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import SesTransport, build_send_email_request

ENVELOPE = Envelope(
    sender="The AI Morning Post <briefing@example.com>",
    to="ada@example.com",
    subject="The Specialization Wave \u2014 caf\u00e9",
    html="<p>Hello \u00e9</p>",
    text="Hello \u00e9",
    unsubscribe_url="https://news.example.com/unsubscribe/abc.def",
    list_id="The AI Morning Post <daily.example.com>",
)


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_message_has_both_parts_and_the_list_headers() -> None:
    parsed = _parse(build_message(ENVELOPE).as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content().strip() == "Hello \u00e9"
    assert parsed["Subject"] == ENVELOPE.subject
    assert parsed["List-Unsubscribe"] == f"<{ENVELOPE.unsubscribe_url}>"
    assert parsed["List-Unsubscribe-Post"] == ONE_CLICK
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"] is not None


def test_list_unsubscribe_puts_https_before_mailto() -> None:
    value = list_unsubscribe("https://x.example.com/u/t", "unsub@example.com")
    assert value == "<https://x.example.com/u/t>, <mailto:unsub@example.com?subject=unsubscribe>"


def test_sender_domain() -> None:
    assert sender_domain("The AI Morning Post <briefing@News.example.com>") == "News.example.com"
    assert sender_domain("nobody") == "localhost"


def test_outbox_writes_one_parseable_file_per_message(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    ids = {outbox.send(build_message(ENVELOPE)) for _ in range(3)}
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(ids) == len(files) == 3
    assert not list((tmp_path / "outbox").glob(".tmp-*"))
    assert all(_parse(f.read_bytes())["To"] == "ada@example.com" for f in files)


def test_outbox_reports_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransportError, match="outbox: cannot write"):
        OutboxTransport(blocker / "outbox").send(build_message(ENVELOPE))


def test_send_email_request_is_raw_with_every_header() -> None:
    request = build_send_email_request(build_message(ENVELOPE), configuration_set="daily")
    assert request["ConfigurationSetName"] == "daily"
    parsed = _parse(request["Content"]["Raw"]["Data"])
    assert parsed["List-Unsubscribe-Post"] == ONE_CLICK


@pytest.fixture(scope="module")
def ses_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_ses_transport_sends_through_a_loopback_endpoint(ses_endpoint: str) -> None:
    client = boto3.client("sesv2", endpoint_url=ses_endpoint, region_name="eu-west-1")
    client.create_email_identity(EmailIdentity="briefing@example.com")
    message_id = SesTransport(client).send(build_message(ENVELOPE))
    assert message_id
    import moto.ses.models as ses_models  # the server runs in this process: look inside

    sent = ses_models.ses_backends["123456789012"]["eu-west-1"].sent_messages
    assert any("List-Unsubscribe-Post" in str(getattr(m, "raw_data", "")) for m in sent)


def test_ses_refusal_becomes_a_transport_error(ses_endpoint: str) -> None:
    client = boto3.client("sesv2", endpoint_url=ses_endpoint, region_name="us-east-2")
    unverified = Envelope(**{**ENVELOPE.__dict__, "sender": "x <nobody@unverified.example.com>"})
    with pytest.raises(TransportError, match=r"^SES refused the message \(MessageRejected"):
        SesTransport(client).send(build_message(unverified))
