"""Prometheus metrics: what the store knows, read at scrape time, and what only a process knows.

Everything the store records (deliveries by issue and state, the send rate, the last
issue's state and times, feedback events, the list) is read by ``StoreCollector`` when
Prometheus scrapes, so the web app and the scheduler report the same figures whoever sent.
Process-local counters are kept for what only the process saw: sources that failed while
it drafted (``SOURCE_FAILURES``) and the tokens its AI desk spent (``WRITER_TOKENS``).

``serve`` exposes ``/metrics`` on its own port to requests bearing
``MORNINGPOST_METRICS_TOKEN``; the ``schedule`` daemon serves ``/metrics`` and ``/healthz``
on ``MORNINGPOST_METRICS_HOST:MORNINGPOST_METRICS_PORT`` (``MetricsServer``).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from subscribers.store import figures
from subscribers.store.engine import reader
from subscribers.store.states import EditionState

log = logging.getLogger(__name__)

PREFIX = "morningpost"

# Process-local: registered in no registry of their own, added to each one ``registry`` builds.
SOURCE_FAILURES = Counter(
    f"{PREFIX}_source_fetch_failures",
    "Source fetches that failed and were left out of an issue, in this process.",
    ["source"],
    registry=None,
)
WRITER_TOKENS = Counter(
    f"{PREFIX}_writer_tokens",
    "Tokens the AI desk spent in this process, as its backend counted them.",
    ["backend", "model", "direction"],
    registry=None,
)


def source_failed(source: str) -> None:
    SOURCE_FAILURES.labels(source=source).inc()


def writer_spent(backend: str, model: str, *, input_tokens: int, output_tokens: int) -> None:
    WRITER_TOKENS.labels(backend=backend, model=model, direction="input").inc(input_tokens)
    WRITER_TOKENS.labels(backend=backend, model=model, direction="output").inc(output_tokens)


def registry(engine: Engine) -> CollectorRegistry:
    """A registry with the store's figures, this process's counters and its resource use."""
    found = CollectorRegistry(auto_describe=False)
    for collector in (StoreCollector(engine), SOURCE_FAILURES, WRITER_TOKENS,
                      PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # fmt: skip
        found.register(collector)
    return found


class Exposition:
    """A registry as a scrape answer, for the bearer of ``token`` (anyone when None)."""

    def __init__(self, registry: CollectorRegistry, token: str | None) -> None:
        self.registry, self.token = registry, token

    def allows(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        # Constant time: the answer must not tell how much of a guess was right.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body and content type: OpenMetrics if the scraper asks for it, else text."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class StoreCollector(Collector):
    """The store's figures at the moment of the scrape; ``morningpost_store_up`` 0 if unread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 if the store answered this scrape.")
        try:
            with reader(self.engine) as conn:  # never holds up a send's writes
                found = figures.read(conn)
        except SQLAlchemyError as err:
            log.warning("metrics: the store did not answer: %s", type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _issues(found.issues)
        yield from _last_issue(found.issues[0] if found.issues else None)
        yield from _list_and_feedback(found)


def _issues(issues: list[figures.IssueFigures]) -> Iterator[Metric]:
    deliveries = GaugeMetricFamily(
        f"{PREFIX}_deliveries",
        f"Deliveries of each of the last {figures.RECENT_ISSUES} issues, by ledger state "
        "(sent, failed, sending = in flight or unknown, skipped, pending).",
        labels=["issue", "state"],
    )
    rate = GaugeMetricFamily(
        f"{PREFIX}_send_rate_messages_per_second",
        "Messages handed over per second between the issue's first and last sent delivery.",
        labels=["issue"],
    )
    events = GaugeMetricFamily(
        f"{PREFIX}_issue_events",
        f"SES events tied to each of the last {figures.RECENT_ISSUES} issues, by type, one "
        "per recipient (bounce, complaint, delivery, open...).",
        labels=["issue", "type"],
    )
    for issue in issues:
        for state, n in issue.deliveries.items():
            deliveries.add_metric([issue.date, state.value], n)
        if issue.rate is not None:
            rate.add_metric([issue.date], issue.rate)
        for kind, n in sorted(issue.events.items()):
            events.add_metric([issue.date, kind], n)
    yield from (deliveries, rate, events)


def _last_issue(issue: figures.IssueFigures | None) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        f"{PREFIX}_last_issue_state",
        "The most recent issue's state: 1 for the state it is in, 0 for the others.",
        labels=["issue", "state"],
    )
    number = GaugeMetricFamily(
        f"{PREFIX}_last_issue_number", "The most recent issue's number.", labels=["issue"]
    )
    times = GaugeMetricFamily(
        f"{PREFIX}_last_issue_timestamp_seconds",
        "When the most recent issue was created, last changed state, was approved, and "
        "had its first and last delivery sent (Unix time).",
        labels=["issue", "event"],
    )
    if issue is not None:
        for each in EditionState:
            state.add_metric([issue.date, each.value], 1 if each is issue.state else 0)
        number.add_metric([issue.date], issue.number)
        stamps = {
            "created": issue.created_at,
            "state_changed": issue.updated_at,
            "approved": issue.approved_at,
            "first_sent": issue.first_sent_at,
            "last_sent": issue.last_sent_at,
        }
        for event, when in stamps.items():
            if when is not None:
                times.add_metric([issue.date, event], when.timestamp())
    yield from (state, number, times)


def _list_and_feedback(found: figures.StoreFigures) -> Iterator[Metric]:
    in_flight = GaugeMetricFamily(
        f"{PREFIX}_deliveries_in_flight",
        "Deliveries in 'sending', all issues: calls in flight, or unknowns a crash left.",
        value=found.in_flight,
    )
    subscribers = GaugeMetricFamily(
        f"{PREFIX}_subscribers", "Subscribers by status.", labels=["status"]
    )
    for status, n in found.subscribers.items():
        subscribers.add_metric([status.value], n)
    feedback = CounterMetricFamily(
        f"{PREFIX}_feedback_events",
        "SES events recorded (each once, one per recipient), all issues, by type.",
        labels=["type"],
    )
    for kind, n in sorted(found.feedback.items()):
        feedback.add_metric([kind], n)
    yield from (in_flight, subscribers, feedback)


# --- the scheduler's small server ----------------------------------------------------------

_TEXT = "text/plain; charset=utf-8"


class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP on a thread, for a process with no web app.

    ``/healthz`` answers 200 ``ok`` or 503 with the reason, one line of text; ``/metrics``
    asks for the exposition's bearer token when it has one. GET and HEAD; other paths 404.
    """

    def __init__(
        self, exposition: Exposition, check: Callable[[], str | None], *, host: str, port: int
    ) -> None:
        handler = _handler(exposition, check)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        host, port = self.address
        log.info("metrics and health served", extra={"url": f"http://{host}:{port}/metrics"})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server_version = "morningpost"
    exposition: Exposition
    check: Callable[[], str | None]

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            problem = type(self).check()
            self._reply(503 if problem else 200, f"{problem or 'ok'}\n".encode(), body=body)
        elif path != "/metrics":
            self._reply(404, b"not found\n", body=body)
        elif not self.exposition.allows(self.headers.get("Authorization")):
            self._reply(401, b"unauthorized\n", body=body)
        else:
            payload, content_type = self.exposition.render(self.headers.get("Accept"))
            self._reply(200, payload, content_type, body=body)

    def _reply(
        self, status: int, payload: bytes, content_type: str = _TEXT, *, body: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("metrics server: " + format, *args)  # not stderr: the log is JSON lines


def _handler(
    exposition: Exposition, check: Callable[[], str | None]
) -> type[BaseHTTPRequestHandler]:
    # http.server builds a handler per request from a class: the values ride on a subclass.
    return type(
        "Handler", (_Handler,), {"exposition": exposition, "check": staticmethod(check)}
    )
