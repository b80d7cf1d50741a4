"""The subscribers' web app: subscribe, confirm, unsubscribe, the web archive, SES feedback.

``create_app`` takes plain values (an engine, a key, a transport...) and returns a Starlette
app; ``pipeline/commands/web.py`` wires it from the settings and runs it under uvicorn.

Only a POST changes anything: GET and HEAD show a page (mail scanners and link checkers
send both), OPTIONS and every other method get 405. Cross-site requests: every form is a
cookie-less POST, so a forged POST can do only what anyone can do directly. Unsubscribing by
a POST to a token URL is RFC 8058 by design (the token is the authority).

The subscribe form is not a mail relay: it is rate-limited per client and in all
(``limits``, 429 with ``Retry-After``), it sends one confirmation per address per
``resend_after`` at most, and it ignores submissions that fill the hidden honeypot field. It
validates the address and queues the sign-up (``signups``): the store and the mail are
handled off the request path, so the answer, and its timing, are the same whatever the
address. Confirm links expire after ``tokens.CONFIRM_TTL`` and confirm only their own
sign-up. A body that is too large is 413, one that is not a readable form 400: never a 500.
Every response carries the security headers (``headers``) and one access-log event
(``access``), tokens redacted.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from emails import archive
from emails.confirmation import confirmation_message
from emails.errors import (
    BadNotification,
    FeedbackError,
    InvalidAddress,
    TransportError,
    Unverified,
)
from subscribers import lifecycle
from subscribers.addresses import mask, normalise
from subscribers.feedback.notifications import apply_notification, parse_notification
from subscribers.feedback.sns import SnsVerifier
from subscribers.links import confirm_url, unsubscribe_url
from subscribers.store.health import StoreCheck
from subscribers.store.states import SubscriberStatus
from subscribers.tokens import (
    ConfirmToken,
    make_confirm_token,
    make_token,
    read_confirm_token,
    read_token,
)
from subscribers.web import forms, pages
from subscribers.web.access import AccessLog
from subscribers.web.headers import ARCHIVE_CSP, SecurityHeaders, headers_for
from subscribers.web.limits import RateLimiter, client_of
from subscribers.web.signups import Signup, SignupQueue

log = logging.getLogger(__name__)
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]

SNS_LIMIT = 512 * 1024  # SNS messages are at most 256 KB, plus the envelope
# Token pages must not be cached by anyone on the way.
_PAGE_HEADERS = {"Cache-Control": "no-store"}
_HTML = "text/html; charset=utf-8"
_ATOM = "application/atom+xml; charset=utf-8"


class Metrics(Protocol):
    """What ``/metrics`` serves (``pipeline.metrics.Exposition``), and to whom."""

    def allows(self, authorization: str | None) -> bool: ...

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body and its content type."""
        ...


class Mailer(Protocol):
    """What the app needs of a transport: one message at a time (``Transport.send``)."""

    def send(self, message: EmailMessage) -> str: ...


@dataclass(frozen=True)
class AppConfig:
    engine: Engine
    secret_key: str
    public_url: str
    transport: Mailer
    sender: str
    archive_dir: Path
    sns: SnsVerifier | None = None
    metrics: Metrics | None = None  # None: /metrics is off (404)
    transient_limit: int = 3
    resend_after: dt.timedelta = dt.timedelta(minutes=10)
    # Sign-ups an hour: per client, and from everyone together (MORNINGPOST_SIGNUPS_*).
    signups_per_client_hour: int = 5
    signups_per_hour: int = 200
    trust_proxy: bool = False  # believe X-Forwarded-For (MORNINGPOST_TRUST_PROXY)
    clock: Callable[[], float] = time.monotonic  # the rate limits' clock, in seconds


class _App(Starlette):
    """Starlette with the security headers outside everything, its error pages included."""

    def __init__(self, *args: Any, headers: dict[str, str], **kwargs: Any) -> None:
        self._security_headers = headers
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), self._security_headers)


def create_app(config: AppConfig) -> Starlette:
    """The web app; ``config.sns`` None turns the ``/sns`` webhook off (404), and
    ``config.metrics`` None turns ``/metrics`` off (404)."""
    h = _Handlers(config)
    routes = [
        Route("/", _by_method(h.subscribe_page, h.subscribe), methods=["GET", "POST"]),
        Route("/subscribe", _by_method(h.subscribe_page, h.subscribe), methods=["GET", "POST"]),
        Route("/confirm/{token}", _by_method(h.confirm_page, h.confirm), methods=["GET", "POST"]),
        Route(
            "/unsubscribe/{token}",
            _by_method(h.unsubscribe_page, h.unsubscribe),
            methods=["GET", "POST"],
        ),
        Route("/issues/", h.archive_index, methods=["GET"]),
        Route("/issues/feed.xml", h.archive_feed, methods=["GET"]),
        Route("/issues/{date}/", h.issue, methods=["GET"]),
        Route("/sns", h.sns, methods=["POST"]),
        # GET routes answer HEAD too (Starlette adds it): probes may use either.
        Route("/healthz", h.health, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
    ]
    app = _App(
        routes=routes,
        exception_handlers={404: _not_found, 405: _not_allowed},
        lifespan=h.lifespan,
        headers=headers_for(config.public_url),
    )
    app.add_middleware(AccessLog, trust_proxy=config.trust_proxy)
    app.state.signups = h.signups
    return app


def _by_method(read: Endpoint, write: Endpoint) -> Endpoint:
    """One URL, two endpoints: POST may change state; GET and HEAD only ever read."""

    async def endpoint(request: Request) -> Response:
        return await (write(request) if request.method == "POST" else read(request))

    return endpoint


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**_PAGE_HEADERS, **(headers or {})})


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return _html(pages.message("Not found", "There is nothing at this address."), 404)


async def _not_allowed(_request: Request, exc: Exception) -> Response:
    allow = getattr(exc, "headers", None) or {}
    page = pages.message("Not allowed", "This page does not take that request.")
    return _html(page, 405, headers=dict(allow))


def _bad_link() -> HTMLResponse:
    text = (
        "This link is not valid: it may have been cut short by your mail program. "
        "Try copying the whole link from the email into your browser."
    )
    return _html(pages.message("This link does not work", text), 400)


def _gone() -> HTMLResponse:
    text = "We have no subscription for this link any more. Nothing was changed."
    return _html(pages.message("Subscription not found", text), 404)


def _too_large() -> HTMLResponse:
    return _html(pages.message("Too large", "That request was far too large."), 413)


def _unreadable() -> HTMLResponse:
    return _html(pages.message("Not understood", "That form could not be read."), 400)


class _Handlers:
    def __init__(self, config: AppConfig) -> None:
        self.c = config
        self.limiter = RateLimiter(
            per_client_hour=config.signups_per_client_hour,
            per_hour=config.signups_per_hour,
            clock=config.clock,
        )
        self.signups = SignupQueue(self._sign_up)
        self.store_check = StoreCheck(config.engine)

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(self.signups.stop)  # queued sign-ups are handled first

    async def _db(self, action: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.c.engine.begin() as conn:
                return action(conn)

        return await run_in_threadpool(run)

    async def health(self, _request: Request) -> Response:
        """200 ``ok``, or 503 with one line saying what is wrong (text, for people and probes)."""
        problem = await run_in_threadpool(self.store_check.check)
        headers = {"Cache-Control": "no-store"}
        if problem:
            return PlainTextResponse(f"{problem}\n", status_code=503, headers=headers)
        return PlainTextResponse("ok\n", headers=headers)

    async def metrics(self, request: Request) -> Response:
        endpoint = self.c.metrics
        if endpoint is None:
            return await _not_found(request, LookupError("metrics"))
        if not endpoint.allows(request.headers.get("authorization")):
            return PlainTextResponse(
                "unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body, content_type = await run_in_threadpool(endpoint.render, request.headers.get("accept"))
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    # -- subscribe -------------------------------------------------------------------------

    async def subscribe_page(self, _request: Request) -> Response:
        return _html(pages.subscribe_form())

    async def subscribe(self, request: Request) -> Response:
        wait = self.limiter.take(client_of(request, trust_proxy=self.c.trust_proxy))
        if wait is not None:
            text = "Too many sign-ups just now. Please try again a little later."
            page = pages.message("Please try again later", text)
            return _html(page, 429, headers={"Retry-After": str(wait)})
        body = await forms.read_body(request, forms.FORM_LIMIT)
        if body is None:
            return _too_large()
        form = await forms.parse_form(request, body)
        if form is None:
            return _unreadable()
        email, name = forms.field(form, "email").strip(), forms.field(form, "name")
        if forms.field(form, "website"):
            return _check_inbox()  # a bot filled the honeypot: say the usual, do nothing
        try:
            address = normalise(email)
        except InvalidAddress as err:
            error = f"That address cannot be used: {err.reason}."
            return _html(pages.subscribe_form(email=email, name=name[:200], error=error), 400)
        if not self.signups.submit(Signup(address.email, name)):
            text = "We cannot take sign-ups just now. Please try again in a few minutes."
            return _html(pages.message("Please try again", text), 503)
        return _check_inbox()

    def _sign_up(self, signup: Signup) -> None:
        """In the sign-up worker: record the request, mail the confirmation if one is due."""
        with self.c.engine.begin() as conn:
            req = lifecycle.request_subscription(
                conn,
                signup.email,
                signup.name,
                resend_after=self.c.resend_after,
                secret_key=self.c.secret_key,  # an erased address is not stored again
            )
        if req.stamp is None:
            return
        message = confirmation_message(
            sender=self.c.sender,
            to=req.email,
            confirm_url=confirm_url(
                self.c.public_url,
                make_confirm_token(self.c.secret_key, req.subscriber_id, req.stamp),
            ),
            unsubscribe_url=unsubscribe_url(
                self.c.public_url, make_token(self.c.secret_key, req.subscriber_id)
            ),
        )
        try:
            self.c.transport.send(message)
        except TransportError as err:
            log.warning("confirmation to %s not sent: %s", mask(req.email), err)
            with self.c.engine.begin() as conn:
                lifecycle.release_confirmation(conn, req.subscriber_id)

    # -- confirm ---------------------------------------------------------------------------

    def _confirm_token(self, request: Request) -> ConfirmToken | None:
        return read_confirm_token(self.c.secret_key, str(request.path_params["token"]))

    async def confirm_page(self, request: Request) -> Response:
        token = self._confirm_token(request)
        if token is None:
            return _bad_link()
        outcome = await self._db(lambda conn: lifecycle.confirmation(conn, token))
        if outcome is lifecycle.Outcome.DONE:
            text = "Press the button to confirm that you want The AI Morning Post every morning."
            page = pages.button_page(
                "Confirm your subscription", text, field="confirm", label="Confirm my subscription"
            )
            return _html(page)
        return _confirmed_page(outcome, now=False)

    async def confirm(self, request: Request) -> Response:
        token = self._confirm_token(request)
        if token is None:
            return _bad_link()
        if await forms.read_body(request, forms.FORM_LIMIT) is None:
            return _too_large()
        outcome = await self._db(lambda conn: lifecycle.confirm(conn, token))
        return _confirmed_page(outcome, now=True)

    # -- unsubscribe -----------------------------------------------------------------------

    def _unsubscriber(self, request: Request) -> int | None:
        return read_token(self.c.secret_key, str(request.path_params["token"]))

    async def unsubscribe_page(self, request: Request) -> Response:
        subscriber_id = self._unsubscriber(request)
        if subscriber_id is None:
            return _bad_link()
        status = await self._db(lambda conn: lifecycle.status_of(conn, subscriber_id))
        return _unsubscribe_page(status)

    async def unsubscribe(self, request: Request) -> Response:
        subscriber_id = self._unsubscriber(request)
        if subscriber_id is None:
            return _bad_link()
        body = await forms.read_body(request, forms.FORM_LIMIT)
        if body is None:
            return _too_large()
        if not await forms.asks_to_unsubscribe(request, body):
            return _html(
                pages.message("Nothing done", "This request did not ask for anything."), 400
            )
        outcome = await self._db(lambda conn: lifecycle.unsubscribe(conn, subscriber_id))
        if outcome is lifecycle.Outcome.UNKNOWN:
            return _gone()
        # RFC 8058: the answer to a one-click POST is final, never a redirect.
        text = "You will not receive The AI Morning Post any more. Sorry to see you go."
        return _html(pages.message("You are unsubscribed", text))

    # -- the web archive -------------------------------------------------------------------

    async def issue(self, request: Request) -> Response:
        raw = str(request.path_params["date"])
        try:
            date = dt.date.fromisoformat(raw)
        except ValueError:
            return await _not_found(request, LookupError(raw))
        if raw != date.isoformat():  # one spelling per issue: no "20261127" twins
            return await _not_found(request, LookupError(raw))
        return await self._archive_file(request, f"{date.isoformat()}/{archive.PAGE_HTML}", _HTML)

    async def archive_index(self, request: Request) -> Response:
        return await self._archive_file(request, archive.INDEX_HTML, _HTML)

    async def archive_feed(self, request: Request) -> Response:
        return await self._archive_file(request, archive.FEED_XML, _ATOM)

    async def _archive_file(self, request: Request, name: str, media_type: str) -> Response:
        path = self.c.archive_dir / name
        if not path.is_file():
            return await _not_found(request, LookupError(name))
        headers = {"Content-Security-Policy": ARCHIVE_CSP}
        return FileResponse(path, media_type=media_type, headers=headers)

    # -- SES feedback through SNS ----------------------------------------------------------

    async def sns(self, request: Request) -> Response:
        verifier = self.c.sns
        if verifier is None:
            return await _not_found(request, LookupError("sns"))
        body = await forms.read_body(request, SNS_LIMIT)
        if body is None:
            return PlainTextResponse("too large", status_code=413)
        try:
            message = await run_in_threadpool(verifier.verify, body)
        except Unverified as err:
            log.warning("refused an SNS message: %s", err)
            return PlainTextResponse("forbidden", status_code=403)
        return await self._sns_message(verifier, message)

    async def _sns_message(self, verifier: SnsVerifier, message: dict[str, Any]) -> Response:
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            try:
                await run_in_threadpool(verifier.confirm_subscription, message)
            except Unverified:
                return PlainTextResponse("forbidden", status_code=403)
            except FeedbackError as err:
                log.warning("%s", err)
                return PlainTextResponse("could not confirm", status_code=502)
            return PlainTextResponse("subscribed")
        if kind == "Notification":
            await self._feedback(str(message.get("Message", "")))
        return PlainTextResponse("ok")  # UnsubscribeConfirmation: nothing to do

    async def _feedback(self, text: str) -> None:
        try:
            data = parse_notification(text)
        except BadNotification as err:
            # Genuine, from our topic, but not SES feedback: acknowledge so SNS stops retrying.
            log.warning("ignored an SNS notification: %s", err)
            return
        limit = self.c.transient_limit
        await self._db(lambda conn: apply_notification(conn, data, transient_limit=limit))


def _check_inbox() -> HTMLResponse:
    text = (
        "If this address is not on the list yet, we are sending it a link to confirm. "
        "Open that email and press the button to start receiving the briefing."
    )
    return _html(pages.message("Check your inbox", text))


def _confirmed_page(outcome: lifecycle.Outcome, *, now: bool) -> HTMLResponse:
    if outcome is lifecycle.Outcome.UNKNOWN:
        return _gone()
    if outcome is lifecycle.Outcome.REFUSED:
        text = "This confirmation link has expired. Subscribe again to get a new one."
        return _html(pages.message("Link expired", text), 410)
    if now and outcome is lifecycle.Outcome.DONE:
        text = "Thank you: the first issue arrives tomorrow morning."
        return _html(pages.message("You are subscribed", text))
    return _html(pages.message("You are subscribed", "Your subscription is confirmed."))


def _unsubscribe_page(status: SubscriberStatus | None) -> HTMLResponse:
    if status is None:
        return _gone()
    if status in lifecycle.SUPPRESSED:
        return _html(pages.message("You are unsubscribed", "This address gets no more issues."))
    text = "Press the button to stop receiving The AI Morning Post at this address."
    return _html(pages.button_page("Unsubscribe", text, field="unsubscribe", label="Unsubscribe"))
