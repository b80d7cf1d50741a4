from __future__ import annotations

import email
import email.policy
import html
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.validate import validate_parameters
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from emails.errors import (
    DeliveryUnknown,
    SendingBlocked,
    TemporaryFailure,
    Throttled,
    TransportError,
)
from emails.message import (
    ONE_CLICK,
    WIRE,
    Campaign,
    Envelope,
    Recipient,
    build_message,
    list_unsubscribe,
    sender_domain,
)
from emails.rendered import RenderedEmail
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import (
    SesTransport,
    build_bulk_request,
    build_send_email_request,
    bulk_body,
    bulk_default_content,
    bulk_entry_json,
    make_client,
)
from pipeline import jobs
from pipeline.context import Context
from pipeline.settings import Settings
from tests.conftest import moto_server
from tests.fake_ses import substitute

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
    with moto_server() as url:
        yield url


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


# -- the bulk path: pure request builders, checked against botocore's model and the fake's
# -- SES-like substitution (botocore's own validation is off in production: see make_client)

RENDERED = RenderedEmail(
    html=(
        "<html><style>a{{color:red}}</style><p>{{greeting}}</p>"
        '<a href="{{unsubscribe_url}}">u</a> <a href="{{view_url}}">v</a> &#123;&#123;x}}</html>'
    ),
    text="{{greeting}}\nUnsubscribe: {{unsubscribe_url}}\nView: {{view_url}}\n{\u2060{x}}",
    subject="Issue #28 {\u2060{no}}",
)
CAMPAIGN = Campaign(
    sender="The AI Morning Post <briefing@example.com>",
    rendered=RENDERED,
    view_url="https://news.example.com/issues/2026-02-25/",
    list_id="The AI Morning Post <daily.example.com>",
    issue="2026-02-25",
    unsubscribe_mailto="unsub@example.com",
)


def _recipient(i: int, greeting: str = "Good morning") -> Recipient:
    return Recipient(
        i, f"r{i}@example.com", f"https://news.example.com/unsubscribe/{i}.t", greeting
    )


def test_bulk_request_is_valid_for_botocore_and_carries_every_list_header() -> None:
    request = build_bulk_request(
        CAMPAIGN, [_recipient(i) for i in range(50)], configuration_set="cs"
    )
    model = boto3.client("sesv2", region_name="eu-west-1").meta.service_model
    validate_parameters(request, model.operation_model("SendBulkEmail").input_shape)
    template = request["DefaultContent"]["Template"]
    assert {h["Name"]: h["Value"] for h in template["Headers"]} == {
        "List-Unsubscribe-Post": ONE_CLICK,
        "List-Id": "The AI Morning Post <daily.example.com>",
        "X-MorningPost-Issue": "2026-02-25",
    }
    entry = request["BulkEmailEntries"][7]
    assert entry["ReplacementHeaders"] == [
        {
            "Name": "List-Unsubscribe",
            "Value": "<https://news.example.com/unsubscribe/7.t>, "
            "<mailto:unsub@example.com?subject=unsubscribe>",
        }
    ]
    assert request["ConfigurationSetName"] == "cs"
    assert {"Name": "issue", "Value": "2026-02-25"} in request["DefaultEmailTags"]


def test_bulk_template_keeps_only_our_placeholders() -> None:
    content = bulk_default_content(CAMPAIGN)["Template"]["TemplateContent"]
    assert content["Html"].count("{{") == 3
    assert "{{greeting_html}}" in content["Html"]
    assert "a{ {color:red}}" in content["Html"]  # CSS braces, split so SES leaves them
    assert content["Text"].count("{{") == 3
    assert "{{unsubscribe_url}}" in content["Text"]
    assert "{{" not in content["Subject"]


def test_bulk_request_takes_one_to_fifty_recipients() -> None:
    with pytest.raises(ValueError, match="1 to 50"):
        build_bulk_request(CAMPAIGN, [_recipient(i) for i in range(51)])
    with pytest.raises(ValueError, match="1 to 50"):
        build_bulk_request(CAMPAIGN, [])


@examples(max_examples=60, deadline=None)
@given(greeting=st.text(min_size=1, max_size=40))
def test_values_arrive_intact_through_ses_substitution(greeting: str) -> None:
    # Whatever a name holds, SES's one-pass substitution gives the text the raw value and
    # the HTML the escaped one; a value that spells a placeholder is not substituted again.
    request = build_bulk_request(CAMPAIGN, [_recipient(1, greeting)])
    content = request["DefaultContent"]["Template"]["TemplateContent"]
    data = json.loads(request["DefaultContent"]["Template"]["TemplateData"])
    data |= json.loads(
        request["BulkEmailEntries"][0]["ReplacementEmailContent"]["ReplacementTemplate"][
            "ReplacementTemplateData"
        ]
    )
    assert substitute(content["Text"], data).startswith(greeting + "\nUnsubscribe: https://")
    html_part = substitute(content["Html"], data)
    assert f"<p>{html.escape(greeting, quote=True)}</p>" in html_part
    assert 'href="https://news.example.com/unsubscribe/1.t"' in html_part


def test_outbox_batch_writes_one_message_each(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    outcomes = outbox.send_batch(CAMPAIGN, [_recipient(1), _recipient(2)])
    assert [o.status for o in outcomes] == ["sent", "sent"]
    parsed = [_parse(f.read_bytes()) for f in sorted((tmp_path / "outbox").glob("*.eml"))]
    assert sorted(str(m["To"]) for m in parsed) == ["r1@example.com", "r2@example.com"]
    assert all(m["List-Unsubscribe-Post"] == ONE_CLICK for m in parsed)


def test_ses_errors_say_what_to_do_next() -> None:
    def client_error(status: int, code: str) -> ClientError:
        body = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(body, "SendBulkEmail")  # type: ignore[arg-type]

    class Failing:
        def __init__(self, err: Exception) -> None:
            self.err = err

        def send_bulk_email(self, **_: object) -> None:
            raise self.err

    cases = [
        (client_error(429, "TooManyRequestsException"), Throttled),
        (client_error(500, "InternalFailure"), TemporaryFailure),
        (client_error(400, "AccountSuspendedException"), SendingBlocked),
        (client_error(400, "MessageRejected"), TransportError),
        (EndpointConnectionError(endpoint_url="http://x"), TemporaryFailure),
        (ReadTimeoutError(endpoint_url="http://x"), DeliveryUnknown),
    ]
    for err, kind in cases:
        transport = SesTransport(Failing(err))  # type: ignore[arg-type]
        with pytest.raises(TransportError) as caught:
            transport.send_batch(CAMPAIGN, [_recipient(1)])
        assert type(caught.value) is kind, err


def test_bulk_entry_statuses_become_outcomes() -> None:
    class Answering:
        def send_bulk_email(self, **_: object) -> dict[str, object]:
            return {
                "BulkEmailEntryResults": [
                    {"Status": "SUCCESS", "MessageId": "m-1"},
                    {"Status": "MESSAGE_REJECTED", "Error": "blacklisted"},
                    {"Status": "TRANSIENT_FAILURE", "Error": "later"},
                    {"Status": "ACCOUNT_SENDING_PAUSED", "Error": "paused"},
                ]
            }

    outcomes = SesTransport(Answering()).send_batch(  # type: ignore[arg-type]
        CAMPAIGN, [_recipient(i) for i in range(4)]
    )
    assert [o.status for o in outcomes] == ["sent", "rejected", "retry", "blocked"]
    assert outcomes[0].message_id == "m-1"
    assert outcomes[1].reason == "SES rejected the message (MESSAGE_REJECTED: blacklisted)"


def test_a_test_send_goes_through_send_email_on_moto(
    ses_endpoint: str, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from tests.test_send_ses import DAY, publish_issue

    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", ses_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    boto3.client("sesv2").create_email_identity(EmailIdentity="briefing@example.com")
    publish_issue(settings.data_dir)
    ses = settings.model_copy(update={"transport": "ses", "ses_configuration_set": None})
    with Context(ses) as ctx:
        message_id = jobs.send_test(ctx, ctx.issue(DAY), "editor@example.com")
    import moto.ses.models as ses_models

    sent = ses_models.ses_backends["123456789012"]["eu-central-1"].sent_messages
    raw = [m for m in sent if getattr(m, "id", None) == message_id]
    assert raw
    parsed = _parse(raw[0].raw_data.encode())
    assert parsed["To"] == "editor@example.com"
    assert parsed["X-MorningPost-Issue"] == "2026-02-25"
    assert parsed["List-Unsubscribe"].startswith("<http://127.0.0.1:8080/unsubscribe/0.")


def test_botocore_never_repeats_a_call_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A repeated SendBulkEmail whose first try may have been accepted is a duplicate for
    # every reader in it: the send engine alone decides what to try again.
    from tests.fake_ses import FakeSes

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with FakeSes(fault_rate=1.0) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
        transport = SesTransport(make_client(concurrency=1))
        with pytest.raises(TemporaryFailure):
            transport.send_batch(CAMPAIGN, [_recipient(1)])
        assert fake.stats["calls"] == 1


def test_a_long_unsubscribe_url_reaches_the_wire_as_written() -> None:
    # Folded at 78, a URL longer than a line became RFC 2047 encoded words, which no mail
    # client decodes in List-Unsubscribe: one-click unsubscribe was lost.
    url = "https://newsletter.morningpost.example.com/unsubscribe/" + "k" * 60
    envelope = Envelope(
        sender="The AI Morning Post <briefing@example.com>",
        to="reader@example.com",
        subject="Issue #1",
        html="<p>Hello</p>",
        text="Hello",
        unsubscribe_url=url,
        list_id="The AI Morning Post <daily.example.com>",
        unsubscribe_mailto="unsub@example.com",
    )
    raw = build_message(envelope).as_bytes(policy=WIRE)
    assert b"=?utf-8?" not in raw
    assert (
        f"List-Unsubscribe: <{url}>, <mailto:unsub@example.com?subject=unsubscribe>".encode() in raw
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"] == f"<{url}>, <mailto:unsub@example.com?subject=unsubscribe>"


# -- the bulk body, JSON-encoded once per issue (botocore's serialiser skipped) -------------


def _botocore_body(request: dict[str, object]) -> object:
    """The body botocore's own serialiser writes for ``request``, parsed."""
    from botocore.serialize import create_serializer

    model = boto3.client("sesv2", region_name="eu-west-1").meta.service_model
    serialized = create_serializer("rest-json").serialize_to_request(
        request, model.operation_model("SendBulkEmail")
    )
    return json.loads(serialized["body"])


@examples(max_examples=40, deadline=None)
@given(
    greeting=st.text(min_size=1, max_size=30),
    host=st.sampled_from(["example.com", "пример.рф", "bücher.example"]),
    configuration_set=st.sampled_from([None, "cs"]),
)
def test_the_finished_bulk_body_is_what_botocore_would_serialise(
    greeting: str, host: str, configuration_set: str | None
) -> None:
    recipients = [
        Recipient(i, f"r{i}@{host}", f"https://news.example.com/unsubscribe/{i}.t", greeting)
        for i in range(3)
    ]
    entries = [bulk_entry_json(CAMPAIGN, r) for r in recipients]
    body = bulk_body(CAMPAIGN, entries, configuration_set)
    assert body.isascii()  # as botocore's json.dumps writes it
    request = build_bulk_request(CAMPAIGN, recipients, configuration_set=configuration_set)
    assert json.loads(body) == _botocore_body(request)


def test_the_finished_body_takes_one_to_fifty_entries() -> None:
    entry = bulk_entry_json(CAMPAIGN, _recipient(1))
    with pytest.raises(ValueError, match="1 to 50"):
        bulk_body(CAMPAIGN, [entry] * 51, None)
    with pytest.raises(ValueError, match="1 to 50"):
        bulk_body(CAMPAIGN, [], None)


def test_a_bulk_call_goes_out_signed_by_botocore_with_the_finished_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fake computes each request's SigV4 signature again (botocore's signer, our
    # secret) and checks the body against botocore's model: the finished body is the one
    # that was signed, and it has SendBulkEmail's shape.
    from tests.fake_ses import FakeSes

    with FakeSes() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
        outcomes = SesTransport(make_client(concurrency=1), configuration_set="cs").send_batch(
            CAMPAIGN, [_recipient(i) for i in range(50)]
        )
        assert [o.status for o in outcomes] == ["sent"] * 50
        assert (fake.stats["bad_signatures"], fake.stats["malformed"]) == (0, 0)
        accepted = fake.accepted[7]
        assert accepted.configuration_set == "cs"
        assert accepted.header("List-Unsubscribe") == (
            "<https://news.example.com/unsubscribe/7.t>, "
            "<mailto:unsub@example.com?subject=unsubscribe>"
        )
        assert accepted.render().text.startswith("Good morning\nUnsubscribe: https://")


def test_the_fake_refuses_a_wrong_signature_and_a_wrong_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fake_ses import FakeSes

    with FakeSes(secret="not-the-key") as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
        with pytest.raises(TransportError, match="SignatureDoesNotMatch"):
            SesTransport(make_client(concurrency=1)).send_batch(CAMPAIGN, [_recipient(1)])
        assert (fake.stats["bad_signatures"], len(fake.accepted)) == (1, 0)
    with FakeSes() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
        client = make_client(concurrency=1)
        wrong = {"FromEmailAddress": "a@example.com", "BulkEmailEntries": [{"To": "x"}]}
        with pytest.raises(ClientError, match="BadRequestException"):
            client.send_bulk_email(
                FromEmailAddress="a@example.com", MorningpostBody=json.dumps(wrong).encode()
            )
        assert (fake.stats["malformed"], len(fake.accepted)) == (1, 0)
