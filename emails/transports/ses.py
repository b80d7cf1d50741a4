"""The SES transport: messages go out through Amazon SES v2 (``sesv2`` in boto3).

Two paths:

* ``send``: one finished MIME message through ``SendEmail`` (Raw, so every header we
  built survives); for test sends and single messages.
* ``send_batch``: the issue to up to 50 recipients in one ``SendBulkEmail`` call. The
  rendered issue is the inline template (``TemplateContent``); each entry carries its
  recipient's values as ``ReplacementTemplateData`` and its ``List-Unsubscribe`` as a
  replacement header. No MIME is built here: SES does the substitution and the encoding.

SES substitutes values as they are, in the HTML too ("SES doesn't escape HTML content when
rendering the HTML template", SES developer guide, advanced personalisation). So the HTML
part of the template uses its own placeholder names (``{{greeting_html}}`` ...) whose values
we HTML-escape, while the text part and the subject get the raw values.

Request builders are pure functions of their inputs; the boto3 calls are thin edges that
turn botocore errors into the ``TransportError`` tree of ``emails.transports.base``.

The bulk call's body is written once per issue, not per call. ``DefaultContent`` (the
whole issue, ~75 KB of the ~110 KB a 50-recipient call sends) never changes during a send,
yet botocore would walk it and JSON-encode it again on every call. So ``bulk_body`` joins
bytes encoded once per campaign (``bulk_head``) with each recipient's entry (a JSON
template filled with encoded strings), and the call hands botocore the finished body: its
serialiser sees only the sender (``before-parameter-build`` moves the body aside) and the
body is put back before anything reads it (``before-call``, ahead of the request's
creation, so SigV4 signs the body that is sent). ``build_bulk_request`` is the same
request as a dict, the reference the tests hold the body to.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from json.encoder import encode_basestring_ascii as _json_string
from typing import TYPE_CHECKING, Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from emails.errors import (
    DeliveryUnknown,
    SendingBlocked,
    TemporaryFailure,
    Throttled,
    TransportError,
)
from emails.message import ISSUE_HEADER, ONE_CLICK, WIRE, Campaign, Recipient, list_unsubscribe
from emails.rendered import PLACEHOLDER, WORD_JOINER, break_braces
from emails.transports.base import Outcome, rejected, sent, unbuildable

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

BULK_LIMIT = 50  # BulkEmailEntries per SendBulkEmail call (SES limit)
HTML_SUFFIX = "_html"

# Per-entry statuses of SendBulkEmail (BulkEmailEntryResult.Status), by what they mean here.
_RETRY_STATUSES = frozenset({"TRANSIENT_FAILURE", "ACCOUNT_THROTTLED"})
_BLOCKING_STATUSES = frozenset(
    {
        "ACCOUNT_SUSPENDED",
        "ACCOUNT_SENDING_PAUSED",
        "ACCOUNT_DAILY_QUOTA_EXCEEDED",
        "CONFIGURATION_SET_SENDING_PAUSED",
        "CONFIGURATION_SET_NOT_FOUND",
        "MAIL_FROM_DOMAIN_NOT_VERIFIED",
        "TEMPLATE_NOT_FOUND",
        "INVALID_SENDING_POOL_NAME",
    }
)
# Whole-call errors that every later call would meet too.
_BLOCKING_ERRORS = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "LimitExceededException",
    }
)
_THROTTLING_ERRORS = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})


# Where a finished SendBulkEmail body travels through botocore (see the module's docstring).
_BODY = "MorningpostBody"
_OPERATION = "sesv2.SendBulkEmail"


def make_client(*, concurrency: int) -> SESV2Client:
    """One ``sesv2`` client for all sending threads (boto3 clients are thread-safe).

    botocore must not retry on its own: a retry we do not see would spend quota we did not
    count and repeat calls whose outcome we record. Its connection pool holds one
    connection per sending thread, plus one for ``GetAccount``. Its parameter validation
    walks every field of every call (about 4 ms for 50 entries, more than all our own work
    per call); the requests come from the builders below, which the tests check against
    botocore's model instead.
    """
    config = Config(
        # total_max_attempts counts the first try; plain max_attempts would allow one retry.
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=concurrency + 1,
        parameter_validation=False,
        connect_timeout=10,
        read_timeout=60,
    )
    client = boto3.client("sesv2", config=config)
    use_finished_bodies(client)
    return client


def use_finished_bodies(client: SESV2Client) -> None:
    """Let ``client.send_bulk_email`` take a finished JSON body (``MorningpostBody=...``)."""
    events = client.meta.events
    # A unique id per handler: registering again (another transport, same client) is a no-op.
    events.register_first(
        f"before-parameter-build.{_OPERATION}", _set_body_aside, unique_id=f"{_BODY}-aside"
    )
    events.register_last(f"before-call.{_OPERATION}", _put_body_back, unique_id=f"{_BODY}-back")


def _set_body_aside(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # Before serialisation: the serialiser must not see (nor encode) the finished body.
    body = params.pop(_BODY, None)
    if body is not None:
        context[_BODY] = body


def _put_body_back(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # After serialisation, before the request is created and signed: the body to send.
    body = context.pop(_BODY, None)
    if body is not None:
        params["body"] = body


def build_send_email_request(
    message: EmailMessage, *, configuration_set: str | None = None, issue: str | None = None
) -> dict[str, Any]:
    """The ``SendEmail`` arguments for one finished message (Raw, so every header survives)."""
    request: dict[str, Any] = {"Content": {"Raw": {"Data": message.as_bytes(policy=WIRE)}}}
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    if issue:
        request["EmailTags"] = _tags(issue)
    return request


@functools.lru_cache(maxsize=4)
def bulk_default_content(campaign: Campaign) -> dict[str, Any]:
    """``DefaultContent`` of every bulk call of ``campaign``: the issue as inline template.

    Built once per campaign (the HTML is ~100 KB; rewriting it per call would cost more
    than the call).
    """
    rendered = campaign.rendered
    values = _values(campaign, None)
    return {
        "Template": {
            "TemplateContent": {
                "Subject": _template(rendered.subject, joiner=WORD_JOINER),
                "Text": _template(rendered.text, joiner=WORD_JOINER),
                "Html": _template(rendered.html, joiner=" ", suffix=HTML_SUFFIX),
            },
            "TemplateData": json.dumps(values, ensure_ascii=False),
            "Headers": [
                {"Name": "List-Unsubscribe-Post", "Value": ONE_CLICK},
                {"Name": "List-Id", "Value": campaign.list_id},
                {"Name": ISSUE_HEADER, "Value": campaign.issue},
            ],
        }
    }


def build_bulk_request(
    campaign: Campaign, recipients: Sequence[Recipient], *, configuration_set: str | None = None
) -> dict[str, Any]:
    """The ``SendBulkEmail`` arguments sending ``campaign`` to ``recipients`` (at most 50)."""
    entries = [bulk_entry(campaign, r) for r in recipients]
    return _bulk_request(campaign, entries, configuration_set=configuration_set)


def _bulk_request(
    campaign: Campaign, entries: list[dict[str, Any]], *, configuration_set: str | None
) -> dict[str, Any]:
    if not 0 < len(entries) <= BULK_LIMIT:
        raise ValueError(f"a bulk call takes 1 to {BULK_LIMIT} recipients, not {len(entries)}")
    request: dict[str, Any] = {
        "FromEmailAddress": campaign.sender,
        "DefaultContent": bulk_default_content(campaign),
        "DefaultEmailTags": _tags(campaign.issue),
        "BulkEmailEntries": entries,
    }
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


@functools.lru_cache(maxsize=4)
def bulk_head(campaign: Campaign, configuration_set: str | None) -> bytes:
    """A ``SendBulkEmail`` body up to its first entry, JSON-encoded once per campaign."""
    request = _bulk_request(campaign, [{}], configuration_set=configuration_set)
    del request["BulkEmailEntries"]
    encoded = json.dumps(request, separators=(",", ":"))
    return encoded[:-1].encode("ascii") + b',"BulkEmailEntries":['


def bulk_body(campaign: Campaign, entries: Sequence[str], configuration_set: str | None) -> bytes:
    """The JSON body of ``build_bulk_request`` from entries encoded by ``bulk_entry_json``."""
    if not 0 < len(entries) <= BULK_LIMIT:
        raise ValueError(f"a bulk call takes 1 to {BULK_LIMIT} recipients, not {len(entries)}")
    return bulk_head(campaign, configuration_set) + ",".join(entries).encode("ascii") + b"]}"


_ENTRY = (
    '{"Destination":{"ToAddresses":[%s]},'
    '"ReplacementEmailContent":{"ReplacementTemplate":{"ReplacementTemplateData":%s}},'
    '"ReplacementHeaders":[{"Name":"List-Unsubscribe","Value":%s}]}'
)


def bulk_entry_json(campaign: Campaign, recipient: Recipient) -> str:
    """``bulk_entry`` as JSON text (ASCII): each value encoded, the rest written once."""
    data = json.dumps(_values(campaign, recipient), ensure_ascii=False)
    header = list_unsubscribe(recipient.unsubscribe_url, campaign.unsubscribe_mailto)
    address = ses_address(recipient.email)
    return _ENTRY % (_json_string(address), _json_string(data), _json_string(header))


def bulk_entry(campaign: Campaign, recipient: Recipient) -> dict[str, Any]:
    """One ``BulkEmailEntry``: the address, its template values and its own headers."""
    return {
        "Destination": {"ToAddresses": [ses_address(recipient.email)]},
        "ReplacementEmailContent": {
            "ReplacementTemplate": {
                "ReplacementTemplateData": json.dumps(
                    _values(campaign, recipient), ensure_ascii=False
                )
            }
        },
        # RFC 8058: the https URL first; List-Unsubscribe-Post is in the default headers.
        "ReplacementHeaders": [
            {
                "Name": "List-Unsubscribe",
                "Value": list_unsubscribe(recipient.unsubscribe_url, campaign.unsubscribe_mailto),
            }
        ],
    }


def _values(campaign: Campaign, recipient: Recipient | None) -> dict[str, str]:
    """Template data: raw values for the text and subject, escaped ones for the HTML."""
    raw = {"view_url": campaign.view_url}
    if recipient is not None:
        raw |= {"unsubscribe_url": recipient.unsubscribe_url, "greeting": recipient.greeting}
    return raw | {name + HTML_SUFFIX: _escape(value) for name, value in raw.items()}


@functools.lru_cache(maxsize=1024)
def _escape(value: str) -> str:
    # Greetings and the view URL repeat across subscribers: escape each spelling once.
    return html.escape(value, quote=True)


def _template(rendered: str, *, joiner: str, suffix: str = "") -> str:
    """``rendered`` as an SES template: our placeholders renamed with ``suffix``, and any
    other ``{{`` split by ``joiner``.

    Rendering escapes the braces of the content, but CSS and comments keep theirs; a stray
    ``{{`` would make SES fail to render the message. A space inside CSS is harmless.
    """
    parts = PLACEHOLDER.split(rendered)
    # split() with one group: even indices are the text between placeholders, odd ones names.
    parts[::2] = [break_braces(part, joiner) for part in parts[::2]]
    parts[1::2] = ["{{" + name + suffix + "}}" for name in parts[1::2]]
    return "".join(parts)


def _tags(issue: str) -> list[dict[str, str]]:
    return [_tag("newsletter", "morningpost"), _tag("issue", issue)]


def _tag(name: str, value: str) -> dict[str, str]:
    return {"Name": name, "Value": value}


class SesTransport:
    name = "ses"
    batch_size = BULK_LIMIT

    def __init__(self, client: SESV2Client, *, configuration_set: str | None = None) -> None:
        if isinstance(client, BaseClient):  # once per client: handlers are registered by name
            use_finished_bodies(client)
        self.client = client
        self.configuration_set = configuration_set

    def send(self, message: EmailMessage) -> str:
        issue = message.get(ISSUE_HEADER)
        request = build_send_email_request(
            message, configuration_set=self.configuration_set, issue=str(issue) if issue else None
        )
        try:
            response = self.client.send_email(**request)
        except (ClientError, BotoCoreError) as err:
            raise _error(err) from err
        return response["MessageId"]

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        """One ``SendBulkEmail`` call; a recipient whose entry cannot be built (an address
        SES cannot take) is rejected alone and left out of the call."""
        outcomes: list[Outcome | None] = []
        entries: list[str] = []
        for recipient in recipients:
            try:
                entries.append(bulk_entry_json(campaign, recipient))
            except Exception as err:  # noqa: BLE001 - any fault is this recipient's alone
                outcomes.append(rejected(unbuildable(err)))
                continue
            outcomes.append(None)
        answers = iter(self._send_bulk(campaign, entries) if entries else [])
        return [outcome or next(answers) for outcome in outcomes]

    def _send_bulk(self, campaign: Campaign, entries: list[str]) -> list[Outcome]:
        body = bulk_body(campaign, entries, self.configuration_set)
        try:
            # botocore serialises the sender alone; the finished body replaces it.
            call: Callable[..., Any] = self.client.send_bulk_email
            response = call(FromEmailAddress=campaign.sender, **{_BODY: body})
        except (ClientError, BotoCoreError) as err:
            raise _error(err) from err
        results = response["BulkEmailEntryResults"]
        if len(results) != len(entries):
            raise DeliveryUnknown(
                f"SES answered {len(results)} results for {len(entries)} recipients"
            )
        return [_outcome(result) for result in results]

    def prepare(self, campaign: Campaign, recipients: Sequence[Recipient]) -> None:
        entries = [bulk_entry_json(campaign, r) for r in recipients]
        bulk_body(campaign, entries, self.configuration_set)

    def max_send_rate(self) -> float | None:
        """The account's ``SendQuota.MaxSendRate`` (recipients per second)."""
        try:
            account = self.client.get_account()
        except (ClientError, BotoCoreError) as err:
            raise TransportError(f"cannot read the SES sending quota ({_reason(err)})") from err
        rate = account.get("SendQuota", {}).get("MaxSendRate")
        return float(rate) if rate else None


def ses_address(address: str) -> str:
    """``address`` as SES takes it: 7-bit ASCII, a Unicode domain in Punycode.

    SES accepts no SMTPUTF8 address: a local part with non-ASCII characters cannot be sent
    to (``ValueError``, with the reason).
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an address")
    if not local.isascii():
        raise ValueError("SES accepts no address with non-ASCII characters before the @")
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as err:
        raise ValueError(f"the domain cannot be written in Punycode ({err})") from None


def _outcome(result: Any) -> Outcome:
    status = str(result.get("Status", ""))
    if status == "SUCCESS" and result.get("MessageId"):
        return sent(str(result["MessageId"]))
    reason = f"{status}: {result.get('Error') or 'no reason given'}"
    if status in _RETRY_STATUSES:
        return Outcome("retry", reason=reason)
    if status in _BLOCKING_STATUSES:
        return Outcome("blocked", reason=f"SES refuses to send ({reason})")
    return rejected(f"SES rejected the message ({reason})")


def _error(err: ClientError | BotoCoreError) -> TransportError:
    """The ``TransportError`` a failed call becomes: it tells the sender what to do next."""
    reason = _reason(err)
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLING_ERRORS or status == 429:
            return Throttled(f"SES throttled the call ({reason})")
        if status >= 500:
            return TemporaryFailure(f"SES failed ({reason})")
        if code in _BLOCKING_ERRORS:
            return SendingBlocked(f"SES refuses to send ({reason})")
        return TransportError(f"SES refused the message ({reason})")
    if isinstance(err, BotoConnectionError):
        return TemporaryFailure(f"SES could not be reached ({reason})")
    if isinstance(err, HTTPClientError):
        # The request may have arrived: SES might have sent it. Never repeat it blindly.
        return DeliveryUnknown(f"no answer from SES ({reason})")
    if isinstance(err, ParamValidationError):
        return TransportError(f"SES request is invalid ({reason})")
    return SendingBlocked(f"SES could not be called ({reason})")


def _reason(err: ClientError | BotoCoreError) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip(": ")
    return " ".join(str(err).split())
