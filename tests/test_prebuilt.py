"""The issue's message built once (``emails.prebuilt``) against the email package's own build.

For any values, a copy filled in from the prebuilt message parses into what
``build_personal_message`` gives: the same headers (bar the Message-ID, which is new for
every message, and the multipart boundary), the same text and HTML. A recipient whose
message cannot be built fails alone, with a reason.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from emails.errors import BadRecipient
from emails.issue import Issue
from emails.message import Campaign, Recipient, build_personal_message, list_unsubscribe
from emails.prebuilt import PrebuiltMessage
from emails.render import render_email
from emails.rendered import PLACEHOLDERS, RenderedEmail
from emails.transports.outbox import OutboxTransport

FIXTURE = Path(__file__).parent / "fixtures" / "issue.json"
DATE = dt.datetime(2026, 2, 25, 6, 30, tzinfo=dt.UTC)
SENDER = "The AI Morning Post <briefing@example.com>"


def _campaign(rendered: RenderedEmail, mailto: str | None = "unsubscribe@example.com") -> Campaign:
    return Campaign(
        sender=SENDER,
        rendered=rendered,
        view_url="https://news.example.com/issues/2026-02-25/",
        list_id="The AI Morning Post <daily.example.com>",
        issue="2026-02-25",
        unsubscribe_mailto=mailto,
    )


ISSUE = _campaign(render_email(Issue.load(FIXTURE), postal_address="1 Example St"))
PREBUILT = PrebuiltMessage.build(ISSUE)


def _recipient(
    email: str = "ada@example.com",
    greeting: str = "Good morning, Ada",
    url: str = "https://news.example.com/unsubscribe/1.abc",
) -> Recipient:
    return Recipient(key=1, email=email, unsubscribe_url=url, greeting=greeting)


def _parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _content(raw: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """What a reader gets: the headers, and each part's type, charset and decoded text.

    The Message-ID is new for every message and the boundary is any string the bodies do
    not hold, so they are left out. Line ends are compared as LF: the email package hands
    back CRLF from 8bit and quoted-printable parts and LF from base64 ones. Spaces in
    headers are left out: the email package writes a word longer than a line (a long URL)
    as RFC 2047 encoded words, and reading them back adds or drops the space beside them
    (the prebuilt message writes such a word as it is: see ``_assert_headers_as_given``).
    """
    message = _parse(raw)
    headers = [
        (name, "".join(str(value).split()))
        for name, value in message.items()
        if name != "Message-ID"
    ]
    headers = [
        (name, value.split(";")[0] if name == "Content-Type" else value) for name, value in headers
    ]
    parts = [
        (
            part.get_content_type(),
            str(part.get_content_charset()),
            str(part.get_content()).replace("\r\n", "\n"),
        )
        for part in message.iter_parts()
    ]
    return headers, parts


def _assert_same_as_the_email_package(
    prebuilt: PrebuiltMessage, campaign: Campaign, recipient: Recipient
) -> None:
    try:
        expected = build_personal_message(campaign, recipient, date=DATE).as_bytes(
            policy=email.policy.SMTP
        )
    except Exception:  # noqa: BLE001 - whatever the email package refuses, we refuse too
        with pytest.raises(BadRecipient, match=r"^could not build the message: "):
            prebuilt.fill(recipient, date=DATE)
        return
    message_id, raw = prebuilt.fill(recipient, date=DATE)
    assert _content(raw) == _content(expected)
    assert str(_parse(raw)["Message-ID"]) == f"<{message_id}>"
    _assert_well_formed(raw)
    _assert_headers_as_given(raw, campaign, recipient)


def _assert_headers_as_given(raw: bytes, campaign: Campaign, recipient: Recipient) -> None:
    """A plain URL's List-Unsubscribe reads back exactly as built, spaces included (one with
    "=?" in it, which could read as an RFC 2047 encoded word, is left to the email package)."""
    url = recipient.unsubscribe_url
    if url.isascii() and url.isprintable() and " " not in url and "=?" not in url:
        given = list_unsubscribe(url, campaign.unsubscribe_mailto)
        assert str(_parse(raw)["List-Unsubscribe"]).strip() == given


def _assert_well_formed(raw: bytes) -> None:
    """CRLF line ends only, no line over RFC 5322's 998 octets, nor over the email package's
    78 characters in quoted-printable (RFC 2045 says 76, and the prebuilt parts keep to it)."""
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    assert max(map(len, lines)) <= 998
    for part in _parse(raw).iter_parts():
        if part["Content-Transfer-Encoding"] == "quoted-printable":
            assert max(map(len, str(part.get_payload()).split("\r\n"))) <= 78


# Mostly short values; now and then one too long for an 8bit line.
anything = st.one_of(
    st.text(max_size=120), st.text(alphabet="ab\u00e9", min_size=900, max_size=1000)
)
# URLs as they come (printable ASCII, no spaces), of every length around a header line's.
urls = st.one_of(
    anything, st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=200)
)
addresses = st.one_of(st.emails(), st.text(max_size=30), st.just("o'brien+news@example.com"))


@examples(max_examples=150, deadline=None)
@given(greeting=anything, url=urls, address=addresses)
# An address that reads as an RFC 2047 encoded word must not be written as it stands.
@example(greeting="Hi", url="https://x.example/u", address="=?utf-8?q?x?=@example.com")
def test_any_values_give_the_email_packages_message(greeting: str, url: str, address: str) -> None:
    _assert_same_as_the_email_package(PREBUILT, ISSUE, _recipient(address, greeting, url))


# Templates with the placeholders anywhere: first, last, side by side, in long lines (which
# go quoted-printable) and in short ones (which go 8bit), beside spaces, dots, "=" and text
# from every script.
template_text = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from([*(f"{{{{{name}}}}}" for name in PLACEHOLDERS), "\n", " ", ".", "="]),
        st.text(alphabet="ab =\u00e9", min_size=70, max_size=200),
    ),
    max_size=12,
).map("".join)


@examples(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=template_text, html=template_text, greeting=anything, url=urls)
def test_any_template_gives_the_email_packages_message(
    text: str, html: str, greeting: str, url: str
) -> None:
    campaign = _campaign(RenderedEmail(html=html, text=text, subject="Today"), mailto=None)
    prebuilt = PrebuiltMessage.build(campaign)
    _assert_same_as_the_email_package(prebuilt, campaign, _recipient(greeting=greeting, url=url))


# No line break of any kind (str.splitlines'): the email package refuses them in headers.
no_line_breaks = st.text(max_size=120).filter(lambda v: len(f"{v}.".splitlines()) == 1)


@examples(max_examples=50, deadline=None)
@given(greeting=no_line_breaks, url=no_line_breaks)
def test_values_without_line_breaks_never_need_the_email_package(greeting: str, url: str) -> None:
    url = "https://news.example.com/unsubscribe/" + url
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PrebuiltMessage, "_built_by_the_email_package", None)  # a call fails
        _, raw = PREBUILT.fill(_recipient(greeting=greeting, url=url), date=DATE)
    assert greeting in _content(raw)[1][0][2]


def test_short_lines_go_as_they_stand_and_long_ones_quoted_printable() -> None:
    short, long = "Good morning, {{greeting}}.\nBye\n", "<p>{{greeting}}</p>" + "\u00e9" * 80
    campaign = _campaign(RenderedEmail(html=long, text=short, subject="S"))
    _, raw = PrebuiltMessage.build(campaign).fill(_recipient(greeting="Ada"), date=DATE)
    text, html = _parse(raw).iter_parts()
    assert text["Content-Transfer-Encoding"] == "7bit"
    assert b"\r\nGood morning, Ada.\r\nBye\r\n" in raw
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    _, raw = PrebuiltMessage.build(campaign).fill(_recipient(greeting="\u00c5sa"), date=DATE)
    assert _parse(raw).get_body(("plain",))["Content-Transfer-Encoding"] == "8bit"


def test_a_real_copy_keeps_quoted_printable_lines_within_76_characters() -> None:
    _, raw = PREBUILT.fill(_recipient(), date=DATE)
    for part in _parse(raw).iter_parts():
        if part["Content-Transfer-Encoding"] == "quoted-printable":
            assert max(map(len, str(part.get_payload()).split("\r\n"))) <= 76  # RFC 2045
    assert b"{{" not in raw


def test_a_long_unsubscribe_url_stays_readable_in_its_header() -> None:
    url = "https://newsletter.the-ai-morning-post.example.org/unsubscribe/123456." + "x" * 40
    _, raw = PREBUILT.fill(_recipient(url=url), date=DATE)
    assert f"List-Unsubscribe: <{url}>,\r\n <mailto:".encode() in raw  # no =?utf-8?q?...?=


def test_each_copy_has_its_own_message_id() -> None:
    ids = {PREBUILT.fill(_recipient())[0] for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[^<>@\s]+@example\.com", i) for i in ids)


def test_the_outbox_rejects_a_bad_recipient_alone(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    batch = [_recipient("ada@example.com"), _recipient("not an address"), _recipient("b@x.org")]
    outcomes = outbox.send_batch(ISSUE, batch)
    assert [o.status for o in outcomes] == ["sent", "rejected", "sent"]
    reason = outcomes[1].reason or ""
    assert reason.startswith("could not build the message: ")
    assert "\n" not in reason
    written = [_parse(f.read_bytes()) for f in tmp_path.glob("*.eml")]
    assert sorted(str(m["To"]) for m in written) == ["ada@example.com", "b@x.org"]
    ids = {f"<{o.message_id}>" for o in outcomes if o.message_id}
    assert ids == {str(m["Message-ID"]) for m in written}


def test_the_outbox_builds_a_campaign_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[Campaign] = []
    build = PrebuiltMessage.build

    def counted(campaign: Campaign) -> PrebuiltMessage:
        builds.append(campaign)
        return build(campaign)

    monkeypatch.setattr(PrebuiltMessage, "build", counted)
    outbox = OutboxTransport(tmp_path)
    for key in range(3):
        outbox.send_batch(ISSUE, [_recipient(f"r{key}@example.com")])
    other = _campaign(RenderedEmail(html="<p>{{greeting}}</p>", text="{{greeting}}", subject="S"))
    outbox.send_batch(other, [_recipient()])
    assert builds == [ISSUE, other]
