"""A loopback fake of the SES v2 HTTP API, for the send tests and the benchmark.

boto3 talks to it as to SES (``AWS_ENDPOINT_URL_SESV2`` or ``endpoint_url``): REST-JSON, the
paths of botocore's ``sesv2`` model. It answers

    GET  /v2/email/account                 GetAccount (SendQuota.MaxSendRate = the quota)
    POST /v2/email/outbound-emails         SendEmail (Raw, Simple or inline Template)
    POST /v2/email/outbound-bulk-emails    SendBulkEmail (inline TemplateContent only)

and, for whoever drives it from another process, ``GET /_fake/summary`` and
``GET /_fake/recipients`` (JSON).

Like SES, it checks each request's SigV4 signature against the secret key it was given
(so the body that arrives is the body botocore signed: 403 ``SignatureDoesNotMatch``
otherwise) and, unless told not to, each bulk request against botocore's own model of
SendBulkEmail (400 ``BadRequestException`` for a wrong shape, an unknown key, a wrong
type). Like SES, it counts recipients against a messages-per-second quota (a token bucket holding
one second of quota; over it: 429 ``TooManyRequestsException``, "Maximum sending rate
exceeded.", nothing accepted), and substitutes ``{{name}}`` placeholders simply: one pass,
values inserted as they are (SES does not HTML-escape). It can add latency, answer 500 to a
share of calls, refuse some addresses (``MESSAGE_REJECTED``), and fail a share of bulk
entries with ``TRANSIENT_FAILURE``. Every accepted message is recorded; its content is only
substituted when asked (``Accepted.render``), so recording 20,000 messages stays cheap.

Run alone (the benchmark does, so its CPU is not the sender's)::

    python -m tests.fake_ses --latency 0.05 --quota 1000 [--fault-rate 0.05] [--secret KEY]

prints ``listening http://127.0.0.1:PORT`` and serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import email
import email.policy
import functools
import hmac
import json
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.session import get_session
from botocore.validate import validate_parameters

FORBIDDEN_HEADERS = frozenset(
    {
        "bcc", "cc", "content-disposition", "content-type", "date", "from", "message-id",
        "mime-version", "reply-to", "return-path", "subject", "to",
    }
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Template:
    subject: str
    html: str
    text: str


@dataclass
class Accepted:
    """One message SES would now deliver."""

    message_id: str
    to: str
    operation: str  # SendEmail or SendBulkEmail
    at: float
    template: Template | None = None
    data: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    raw: bytes | None = None

    def render(self) -> Template:
        """The subject, HTML and text as SES would send them (KeyError: a render failure)."""
        if self.template is None:
            raise ValueError("a raw message has no template")
        return Template(*(substitute(part, self.data) for part in vars(self.template).values()))

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


def substitute(template: str, data: dict[str, Any]) -> str:
    """SES's simple substitution: each ``{{name}}`` replaced by its value, in one pass."""
    return _PLACEHOLDER.sub(lambda m: str(data[m.group(1).strip()]), template)


class _Bucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, max(rate, 1.0), time.monotonic()

    def take(self, n: int) -> bool:
        now = time.monotonic()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


class FakeSes:
    """The fake SES v2 endpoint; start() it, point boto3 at ``url``, read ``accepted``."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        quota: float | None = None,
        fault_rate: float = 0.0,
        transient_rate: float = 0.0,
        reject: Iterable[str] = (),
        seed: int = 0,
        secret: str | None = "testing",
        check_model: bool = True,
    ) -> None:
        self.latency, self.fault_rate, self.transient_rate = latency, fault_rate, transient_rate
        self.quota = quota
        self.secret = secret  # the AWS secret key requests are signed with; None: unchecked
        self.check_model = check_model
        self.reject = {a.lower() for a in reject}
        self.accepted: list[Accepted] = []
        self.stats: collections.Counter[str] = collections.Counter()
        self.inflight = 0
        self.busy_seconds = 0.0  # handler time, latency excluded: is the fake the bottleneck?
        self._bucket = _Bucket(quota) if quota else None
        self._random = random.Random(seed)
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._ids = 0

    # -- life -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeSes:
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSes:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests read --------------------------------------------------------------------

    def recipients(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(a.to for a in self.accepted)

    def wait_for(self, condition: Callable[[FakeSes], bool], timeout: float = 30.0) -> None:
        """Wait until ``condition(self)`` holds (checked on every change), or fail."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"fake SES: condition not met in {timeout}s: {self.summary()}"
                    )
                self._lock.wait(left)

    def summary(self) -> dict[str, Any]:
        counts = collections.Counter(a.to for a in self.accepted)
        times = [a.at for a in self.accepted]
        return {
            "accepted": len(self.accepted),
            "unique": len(counts),
            "duplicates": sum(n - 1 for n in counts.values() if n > 1),
            "first_at": min(times, default=0.0),
            "last_at": max(times, default=0.0),
            "inflight": self.inflight,
            "busy_seconds": self.busy_seconds,
            **self.stats,
        }

    # -- the API ----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, body: bytes, headers: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        checked = self.secret and path.startswith("/v2/")
        if checked and not self._signed(method, path, body, headers):
            self.stats["bad_signatures"] += 1
            message = "The request signature we calculated does not match the one you provided."
            return 403, {"x-amzn-ErrorType": "SignatureDoesNotMatch"}, {"message": message}
        route = {
            ("GET", "/v2/email/account"): self._get_account,
            ("POST", "/v2/email/outbound-emails"): self._send_email,
            ("POST", "/v2/email/outbound-bulk-emails"): self._send_bulk_email,
            ("GET", "/_fake/summary"): lambda _: self._locked(self.summary),
            ("GET", "/_fake/recipients"): lambda _: dict(self.recipients()),
        }.get((method, path.split("?")[0]))
        if route is None:
            return 404, {"x-amzn-ErrorType": "NotFoundException"}, {"message": f"no {path}"}
        try:
            return 200, {}, route(_json_object(body or b"{}", "SerializationException"))
        except ApiError as err:
            return err.status, {"x-amzn-ErrorType": err.code}, {"message": err.message}

    def _signed(self, method: str, path: str, body: bytes, headers: Any) -> bool:
        """Whether SigV4 signed exactly this request (method, path, headers, body) with our
        secret: the signature is computed again here, by botocore's own signer."""
        found = _AUTHORIZATION.fullmatch((headers or {}).get("Authorization", ""))
        if found is None or self.secret is None:
            return False
        key, region, service, names, signature = found.groups()
        try:
            signed = {name: headers[name] for name in names.split(";")}
        except KeyError:
            return False
        request = AWSRequest(method, f"http://{headers['Host']}{path}", signed, body)
        request.context["timestamp"] = headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(key, self.secret), service, region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return hmac.compare_digest(expected, signature)

    def _locked(self, read: Callable[[], Any]) -> Any:
        with self._lock:
            return read()

    def _get_account(self, _: Any) -> Any:
        rate = self.quota or 14.0
        with self._lock:
            sent = len(self.accepted)
        return {
            "SendQuota": {
                "Max24HourSend": 10_000_000.0,
                "MaxSendRate": rate,
                "SentLast24Hours": sent,
            },
            "SendingEnabled": True,
            "ProductionAccessEnabled": True,
            "EnforcementStatus": "HEALTHY",
            "DedicatedIpAutoWarmupEnabled": False,
        }

    def _admit(self, recipients: int) -> None:
        """Faults, then the quota; the caller holds the lock."""
        self.stats["calls"] += 1
        if self.fault_rate and self._random.random() < self.fault_rate:
            self.stats["faults"] += 1
            raise ApiError(500, "InternalFailure", "We encountered an internal error. Try again.")
        if self._bucket is not None and not self._bucket.take(recipients):
            self.stats["throttled"] += 1
            raise ApiError(429, "TooManyRequestsException", "Maximum sending rate exceeded.")

    def _message_id(self) -> str:
        self._ids += 1
        return f"0100{self._ids:012x}-{uuid.uuid4()}-000000"

    def _send_email(self, request: Any) -> Any:
        content = request.get("Content") or {}
        raw = base64.b64decode(content["Raw"]["Data"]) if "Raw" in content else None
        to = _raw_recipient(raw) if raw else _first_to(request.get("Destination"))
        with self._lock:
            self._admit(1)
            if to.lower() in self.reject:
                raise ApiError(400, "MessageRejected", f"Email address is not verified: {to}")
            accepted = Accepted(
                message_id=self._message_id(),
                to=to,
                operation="SendEmail",
                at=time.monotonic(),
                raw=raw,
                tags=_tags(request.get("EmailTags")),
                configuration_set=request.get("ConfigurationSetName"),
            )
            self._record([accepted])
        return {"MessageId": accepted.message_id}

    def _send_bulk_email(self, request: Any) -> Any:
        if self.check_model:
            try:
                validate_parameters(request, _input_shape("SendBulkEmail"))
            except ParamValidationError as err:
                self.stats["malformed"] += 1
                raise ApiError(400, "BadRequestException", " ".join(str(err).split())) from None
        template, defaults, default_headers = _bulk_template(request)
        entries = request.get("BulkEmailEntries") or []
        if not 1 <= len(entries) <= 50:
            raise ApiError(400, "BadRequestException", "BulkEmailEntries: 1 to 50 entries")
        parsed = [_entry(e, defaults, default_headers) for e in entries]
        results, accepted = [], []
        with self._lock:
            self._admit(len(entries))
            for to, data, headers, tags in parsed:
                result = self._bulk_result(to)
                results.append(result)
                if result["Status"] == "SUCCESS":
                    accepted.append(
                        Accepted(
                            message_id=result["MessageId"],
                            to=to,
                            operation="SendBulkEmail",
                            at=time.monotonic(),
                            template=template,
                            data=data,
                            headers=headers,
                            tags=_tags(request.get("DefaultEmailTags")) | tags,
                            configuration_set=request.get("ConfigurationSetName"),
                        )
                    )
            self._record(accepted)
        return {"BulkEmailEntryResults": results}

    def _bulk_result(self, to: str) -> dict[str, str]:
        if to.lower() in self.reject:
            self.stats["rejected"] += 1
            return {"Status": "MESSAGE_REJECTED", "Error": f"Address blacklisted: {to}"}
        if self.transient_rate and self._random.random() < self.transient_rate:
            self.stats["transient"] += 1
            return {"Status": "TRANSIENT_FAILURE", "Error": "Try again later"}
        return {"Status": "SUCCESS", "MessageId": self._message_id()}

    def _record(self, accepted: list[Accepted]) -> None:
        self.accepted.extend(accepted)
        self._lock.notify_all()


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})"
)


@functools.cache
def _input_shape(operation: str) -> Shape:
    """The request shape of ``operation`` in botocore's model of SES v2."""
    model = get_session().get_service_model("sesv2")
    shape = model.operation_model(operation).input_shape
    assert shape is not None
    return shape


def _bulk_template(request: Any) -> tuple[Template, dict[str, Any], list[tuple[str, str]]]:
    if not request.get("FromEmailAddress"):
        raise ApiError(400, "BadRequestException", "FromEmailAddress is required")
    default = (request.get("DefaultContent") or {}).get("Template") or {}
    content = default.get("TemplateContent")
    if content is None:
        raise ApiError(404, "NotFoundException", "Template does not exist (inline content only)")
    template = Template(
        content.get("Subject", ""), content.get("Html", ""), content.get("Text", "")
    )
    defaults = _json_object(default.get("TemplateData") or "{}")
    return template, defaults, _headers(default.get("Headers"))


def _entry(
    entry: Any, defaults: dict[str, Any], default_headers: list[tuple[str, str]]
) -> tuple[str, dict[str, Any], list[tuple[str, str]], dict[str, str]]:
    to = _first_to(entry.get("Destination"))
    replacement = (entry.get("ReplacementEmailContent") or {}).get("ReplacementTemplate") or {}
    data = defaults | _json_object(replacement.get("ReplacementTemplateData") or "{}")
    own = _headers(entry.get("ReplacementHeaders"))
    names = {n.lower() for n, _ in own}
    headers = own + [(n, v) for n, v in default_headers if n.lower() not in names]
    return to, data, headers, _tags(entry.get("ReplacementTags"))


def _headers(items: Any) -> list[tuple[str, str]]:
    headers = [(h["Name"], h["Value"]) for h in items or []]
    if len(headers) > 15:
        raise ApiError(400, "BadRequestException", "at most 15 headers")
    for name, value in headers:
        if name.lower() in FORBIDDEN_HEADERS or len(value) > 870:
            raise ApiError(400, "BadRequestException", f"header {name} is not allowed")
    return headers


def _json_object(text: str | bytes, code: str = "BadRequestException") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise ApiError(400, code, f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise ApiError(400, code, "not a JSON object")
    return value


def _tags(items: Any) -> dict[str, str]:
    return {t["Name"]: t["Value"] for t in items or []}


def _first_to(destination: Any) -> str:
    addresses = (destination or {}).get("ToAddresses") or []
    if len(addresses) != 1:
        raise ApiError(400, "BadRequestException", "one ToAddresses entry expected")
    return str(addresses[0])


def _raw_recipient(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["To"].addresses[0].addr_spec)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog, read when the socket starts listening (in the constructor: set
    # on an instance it comes too late, and socketserver's default is 5). Several workers
    # open dozens of connections at once; a connection the backlog dropped was closed
    # before any answer, and its deliveries became unknown.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the crash test) is expected, not news


def _handler(fake: FakeSes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its pooled connections
        # The headers and the body leave in two writes: with Nagle's algorithm on, the body
        # waits for the client's delayed ACK of the headers (up to 40 ms on Linux), a
        # latency SES does not add.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            with fake._lock:
                fake.inflight += 1
            busy = 0.0
            try:
                started = time.thread_time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = fake.handle(method, self.path, body, self.headers)
                data = json.dumps(payload).encode()
                busy = time.thread_time() - started
                if fake.latency and self.path.startswith("/v2/"):
                    time.sleep(fake.latency)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                with fake._lock:
                    fake.inflight -= 1
                    fake.busy_seconds += busy
                    fake._lock.notify_all()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests read the records, not a log

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback fake of the SES v2 API.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--quota", type=float, default=None, help="messages per second")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of calls answered 500")
    parser.add_argument("--transient-rate", type=float, default=0.0, help="share of bulk entries")
    parser.add_argument("--reject", action="append", default=[], help="an address to refuse")
    parser.add_argument("--secret", default=None, help="the AWS secret key to check signatures")
    parser.add_argument(
        "--no-model-check",
        action="store_true",
        help="skip checking bulk requests against botocore's model (costly at high rates)",
    )
    args = parser.parse_args(argv)
    fake = FakeSes(
        latency=args.latency,
        quota=args.quota,
        fault_rate=args.fault_rate,
        transient_rate=args.transient_rate,
        reject=args.reject,
        secret=args.secret,
        check_model=not args.no_model_check,
    ).start(args.port)
    print(f"listening {fake.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    fake.stop()


if __name__ == "__main__":
    main()
