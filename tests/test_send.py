"""The send engine against in-memory transports: ledger, batching, retries, pauses."""

from __future__ import annotations

import datetime as dt
import html
import threading
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, update

from emails.errors import (
    DeliveryUnknown,
    SendingBlocked,
    TemporaryFailure,
    Throttled,
    TransportError,
)
from emails.issue import Issue
from emails.message import Campaign, Recipient
from emails.render import render_email
from emails.transports.base import Outcome, send_each
from pipeline.sending.engine import SendOptions, SendReport, send_issue
from pipeline.sending.mailing import Mailing, message_for
from pipeline.sending.progress import LogProgress
from pipeline.sending.ratelimit import TokenBucket, backoff_delay
from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.ledger import Outcomes
from subscribers.store.roster import Subscriber, add_subscriber
from subscribers.store.states import DeliveryState, EditionState, SubscriberStatus
from subscribers.tokens import read_token
from tests.store_helpers import leave_unknown

FIXTURE = Path(__file__).parent / "fixtures" / "issue.json"
DAY = dt.date(2026, 2, 25)
KEY = "send-test-key"
FAST = SendOptions(concurrency=2, backoff_base=0.001, backoff_cap=0.01)
T0 = dt.datetime(2026, 2, 25, 6, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=2)


class RecordingTransport:
    """Records each message; ``refuse`` addresses fail alone; ``before`` runs before a call."""

    name = "recording"

    def __init__(
        self,
        refuse: frozenset[str] = frozenset(),
        *,
        batch_size: int = 2,
        before: Callable[[Sequence[Recipient]], None] | None = None,
    ) -> None:
        self.sent: list[EmailMessage] = []
        self.refuse = refuse
        self.batch_size = batch_size
        self.before = before
        self.calls = 0
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> str:
        to = message["To"].addresses[0].addr_spec
        if to in self.refuse:
            raise TransportError(f"MessageRejected: {to} refused")
        with self.lock:
            self.sent.append(message)
            return f"id-{len(self.sent)}"

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        with self.lock:
            self.calls += 1
        if self.before:
            self.before(recipients)
        return send_each(self, campaign, recipients)

    def prepare(self, campaign: Campaign, recipients: Sequence[Recipient]) -> None:
        pass

    def max_send_rate(self) -> float | None:
        return None

    def recipients(self) -> list[str]:
        return [m["To"].addresses[0].addr_spec for m in self.sent]


class ScriptedTransport(RecordingTransport):
    """Raises the next scripted error for each call (None: behave), then behaves."""

    def __init__(self, script: list[Exception | None], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.script = script

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        with self.lock:
            error = self.script.pop(0) if self.script else None
        if error is not None:
            with self.lock:
                self.calls += 1
            raise error
        return super().send_batch(campaign, recipients)


def sample_mailing(date: dt.date = DAY) -> Mailing:
    """The fixture issue, rendered, as a send of ``date`` takes it (links signed with ``KEY``)."""
    return Mailing(
        date=date,
        rendered=render_email(Issue.load(FIXTURE), postal_address="1 Example St"),
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key=KEY,
    )


@pytest.fixture(scope="module")
def mailing() -> Mailing:
    return sample_mailing()


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 28)
        for name in ("a", "b", "c"):
            add_subscriber(conn, f"{name}@example.com", name=name.upper())
        add_subscriber(conn, "gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    return engine


def _states(engine: Engine) -> dict[str, str]:
    d, s = schema.deliveries, schema.subscribers
    query = select(s.c.email, d.c.state).join(s, s.c.id == d.c.subscriber_id)
    with engine.connect() as conn:
        return {email: state for email, state in conn.execute(query)}


def _edition_state(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return editions.state(conn, DAY)


def test_message_is_personal_and_escaped(mailing: Mailing) -> None:
    person = Subscriber(7, "ada@example.com", 'Ada "<&>" {{view_url}}', "active")
    message = message_for(mailing, person)
    text_part, html_part = message.iter_parts()
    html_body, text_body = html_part.get_content(), text_part.get_content()
    assert html.escape('Ada "<&>" {{view_url}}') in html_body
    assert 'Ada "<&>" {{view_url}}' in text_body
    token = message["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    assert read_token(KEY, token) == 7
    assert f"https://news.example.com/unsubscribe/{token}" in html_body
    assert "https://news.example.com/issues/2026-02-25/" in text_body
    assert message["X-MorningPost-Issue"] == "2026-02-25"


def test_each_active_subscriber_once_and_rerun_sends_nothing(
    engine: Engine, mailing: Mailing
) -> None:
    first = RecordingTransport()
    report = send_issue(engine, first, mailing, options=FAST)
    assert sorted(first.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert (report.delivered, report.failed, report.already, report.unknown) == (3, 0, 0, 0)
    assert first.calls == 2  # batches of two
    second = RecordingTransport()
    again = send_issue(engine, second, mailing, options=FAST)
    assert (second.sent, again.delivered, again.already) == ([], 0, 3)
    assert _edition_state(engine) == EditionState.SENT
    assert set(_states(engine).values()) == {DeliveryState.SENT}


def test_a_refused_recipient_fails_alone_and_is_retried_next_run(
    engine: Engine, mailing: Mailing
) -> None:
    refusing = RecordingTransport(refuse=frozenset({"b@example.com"}))
    report = send_issue(engine, refusing, mailing, options=FAST)
    assert (report.delivered, report.failed) == (2, 1)
    with engine.connect() as conn:
        error = conn.scalar(
            select(schema.deliveries.c.last_error).where(
                schema.deliveries.c.state == DeliveryState.FAILED
            )
        )
    assert error == "MessageRejected: b@example.com refused"
    assert _edition_state(engine) == EditionState.INCOMPLETE
    retry = RecordingTransport()
    send_issue(engine, retry, mailing, options=FAST)
    assert retry.recipients() == ["b@example.com"]
    assert _edition_state(engine) == EditionState.SENT


def test_a_whole_call_refused_for_one_address_is_halved_until_it_fails_alone(
    engine: Engine, mailing: Mailing
) -> None:
    class RefusesCallsWithB(RecordingTransport):
        def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
            if any(r.email == "b@example.com" for r in recipients):
                raise TransportError("SES refused the message (BadRequestException: bad)")
            return super().send_batch(campaign, recipients)

    transport = RefusesCallsWithB(batch_size=3)
    report = send_issue(engine, transport, mailing, options=SendOptions(concurrency=1))
    assert sorted(transport.recipients()) == ["a@example.com", "c@example.com"]
    assert (report.delivered, report.failed, report.paused) == (2, 1, None)
    assert _states(engine)["b@example.com"] == DeliveryState.FAILED


def test_an_unknown_delivery_is_not_resent_unless_asked(engine: Engine, mailing: Mailing) -> None:
    with engine.begin() as conn:
        leave_unknown(conn, DAY, 1)  # a process died after this: the message may have left
    transport = RecordingTransport()
    report = send_issue(engine, transport, mailing, options=FAST)
    assert "a@example.com" not in transport.recipients()
    assert (report.already, report.passed_unknown, report.unknown) == (0, 1, 1)
    assert report.state == EditionState.INCOMPLETE
    resend = RecordingTransport()
    again = send_issue(
        engine, resend, mailing, options=SendOptions(concurrency=2, resend_unknown=True)
    )
    assert resend.recipients() == ["a@example.com"]
    assert (again.delivered, again.already, again.unknown) == (1, 2, 0)
    assert again.state == EditionState.SENT


def test_unsubscribed_before_the_send_gets_nothing(engine: Engine, mailing: Mailing) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(schema.subscribers)
            .where(schema.subscribers.c.email == "c@example.com")
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    transport = RecordingTransport()
    send_issue(engine, transport, mailing, options=FAST)
    assert sorted(transport.recipients()) == ["a@example.com", "b@example.com"]


def test_unsubscribed_mid_send_is_skipped(engine: Engine, mailing: Mailing) -> None:
    def unsubscribe_c(recipients: Sequence[Recipient]) -> None:
        # While the first batch is with the transport, c unsubscribes in the web app.
        if recipients[0].email == "a@example.com":
            with engine.begin() as conn:
                conn.execute(
                    update(schema.subscribers)
                    .where(schema.subscribers.c.email == "c@example.com")
                    .values(status=SubscriberStatus.UNSUBSCRIBED)
                )

    transport = RecordingTransport(batch_size=1, before=unsubscribe_c)
    report = send_issue(engine, transport, mailing, options=SendOptions(concurrency=1))
    assert sorted(transport.recipients()) == ["a@example.com", "b@example.com"]
    assert (report.delivered, report.skipped) == (2, 1)
    assert _states(engine)["c@example.com"] == DeliveryState.SKIPPED
    assert _edition_state(engine) == EditionState.SENT


def test_throttling_and_server_errors_are_retried_not_failed(
    engine: Engine, mailing: Mailing
) -> None:
    script: list[Exception | None] = [
        Throttled("429"),
        TemporaryFailure("500"),
        Throttled("429"),
        None,
        TemporaryFailure("503"),
    ]
    transport = ScriptedTransport(script, batch_size=1)
    report = send_issue(engine, transport, mailing, options=FAST)
    assert sorted(transport.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert (report.delivered, report.failed, report.paused) == (3, 0, None)


def test_retries_that_run_out_fail_the_batch(engine: Engine, mailing: Mailing) -> None:
    transport = ScriptedTransport([Throttled("429")] * 3, batch_size=3)
    options = SendOptions(concurrency=1, max_attempts=3, backoff_base=0.001)
    report = send_issue(engine, transport, mailing, options=options)
    assert (report.delivered, report.failed, transport.calls) == (0, 3, 3)
    assert set(_states(engine).values()) == {DeliveryState.FAILED}


def test_per_entry_transient_failures_are_retried_alone(engine: Engine, mailing: Mailing) -> None:
    tried: list[str] = []

    class FlakyForB(RecordingTransport):
        def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
            tried.extend(r.email for r in recipients)
            if tried.count("b@example.com") == 1 and any(
                r.email == "b@example.com" for r in recipients
            ):
                real = super().send_batch(
                    campaign, [r for r in recipients if r.email != "b@example.com"]
                )
                out = iter(real)
                return [
                    Outcome("retry", reason="TRANSIENT_FAILURE: later")
                    if r.email == "b@example.com"
                    else next(out)
                    for r in recipients
                ]
            return super().send_batch(campaign, recipients)

    transport = FlakyForB(batch_size=3)
    report = send_issue(
        engine, transport, mailing, options=SendOptions(concurrency=1, backoff_base=0.001)
    )
    assert sorted(transport.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert tried == ["a@example.com", "b@example.com", "c@example.com", "b@example.com"]
    assert report.delivered == 3


def test_consecutive_errors_pause_the_send_and_a_rerun_resumes(
    engine: Engine, mailing: Mailing
) -> None:
    broken = ScriptedTransport([TemporaryFailure("SES failed (InternalFailure)")] * 100)
    options = SendOptions(concurrency=2, max_consecutive_errors=4, backoff_base=0.001)
    report = send_issue(engine, broken, mailing, options=options)
    assert report.paused is not None
    assert "4 errors in a row" in report.paused
    assert "InternalFailure" in report.paused
    assert broken.calls <= 4 + 2  # the streak trips; threads in flight finish their call
    assert _edition_state(engine) == EditionState.PAUSED
    # Nothing is left unknown: a refused call was certainly not sent.
    assert DeliveryState.SENDING not in _states(engine).values()
    assert report.unknown == 0
    fixed = RecordingTransport()
    resumed = send_issue(engine, fixed, mailing, options=FAST)
    assert sorted(fixed.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert resumed.paused is None
    assert _edition_state(engine) == EditionState.SENT


def test_a_blocked_account_pauses_at_once(engine: Engine, mailing: Mailing) -> None:
    blocked = ScriptedTransport([SendingBlocked("SES refuses to send (AccountSuspended)")] * 9)
    report = send_issue(engine, blocked, mailing, options=SendOptions(concurrency=1))
    assert report.paused == "SES refuses to send (AccountSuspended)"
    assert blocked.calls == 1
    assert _edition_state(engine) == EditionState.PAUSED
    assert set(_states(engine).values()) <= {DeliveryState.PENDING}


def test_an_unanswered_call_leaves_its_rows_unknown(engine: Engine, mailing: Mailing) -> None:
    transport = ScriptedTransport(
        [DeliveryUnknown("no answer from SES (read timeout)")], batch_size=2
    )
    report = send_issue(engine, transport, mailing, options=SendOptions(concurrency=1))
    assert (report.delivered, report.unknown) == (1, 2)
    assert sorted(transport.recipients()) == ["c@example.com"]
    states = _states(engine)
    assert (states["a@example.com"], states["b@example.com"]) == (
        DeliveryState.SENDING,
        DeliveryState.SENDING,
    )


def test_a_stop_request_drains_without_sending_more(engine: Engine, mailing: Mailing) -> None:
    stop = threading.Event()
    transport = RecordingTransport(batch_size=1, before=lambda _: stop.set())
    report = send_issue(engine, transport, mailing, options=SendOptions(concurrency=1), stop=stop)
    assert len(transport.sent) == 1  # the call in flight finished and was recorded
    assert report.interrupted
    assert report.paused is None
    # The others wait in the queue, claimed by nobody.
    assert sorted(_states(engine).values()) == ["pending", "pending", DeliveryState.SENT]
    assert _edition_state(engine) == EditionState.SENDING


def test_dry_run_touches_neither_transport_nor_ledger(engine: Engine, mailing: Mailing) -> None:
    transport = RecordingTransport()
    report = send_issue(engine, transport, mailing, dry_run=True, options=FAST)
    assert (report.delivered, transport.sent, transport.calls) == (3, [], 0)
    with engine.connect() as conn:
        assert sum(ledger.counts(conn, DAY).values()) == 0
    assert _edition_state(engine) == EditionState.DRAFT


def _claim(conn: Connection, ids: list[int], **kwargs: Any) -> ledger.Claim:
    at = kwargs.pop("at", T0)
    return ledger.claim_batch(conn, DAY, ids, now=at, lease=LEASE, **{"owner": "me", **kwargs})


def test_claim_batch_claims_once_and_skips_the_inactive(engine: Engine) -> None:
    with engine.begin() as conn:
        first = _claim(conn, [1, 2, 3, 4])
        second = _claim(conn, [1, 2, 3, 4])
    assert (first.claimed, first.skipped, first.left) == ({1, 2, 3}, {4}, 0)
    assert (second.claimed, second.skipped, second.left) == (set(), set(), 4)
    done = Outcomes(sent=[(1, "m1")], failed=[(2, "no")], released=[(3, "x")])
    with engine.begin() as conn:
        assert ledger.finish_batch(conn, DAY, "me", done, now=T0) == 3
        # Only rows in ``sending`` for their owner change.
        assert ledger.finish_batch(conn, DAY, "me", Outcomes(sent=[(2, "late")]), now=T0) == 0
        third = _claim(conn, [1, 2, 3])
    assert third.claimed == {2, 3}
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.deliveries.c.message_id, schema.deliveries.c.attempts).where(
                schema.deliveries.c.subscriber_id == 1
            )
        ).one()
    assert tuple(row) == ("m1", 1)


def test_a_row_in_flight_is_never_taken_an_expired_one_only_by_a_resend(engine: Engine) -> None:
    with engine.begin() as conn:
        assert _claim(conn, [1, 2], owner="alive").claimed == {1, 2}
    live, expired = T0 + LEASE - dt.timedelta(seconds=1), T0 + LEASE + dt.timedelta(seconds=1)
    with engine.begin() as conn:
        # Its owner is alive (the lease lasts): nobody takes it, resending or not.
        assert _claim(conn, [1], owner="other", at=live).claimed == set()
        assert _claim(conn, [1], owner="other", at=live, resend_unknown=True).claimed == set()
        assert ledger.tally(conn, DAY, now=live) == ledger.Tally(in_flight=2)
        # The owner's heartbeat pushes the lease on: still alive after the first expiry.
        assert ledger.renew(conn, DAY, "alive", until=expired + LEASE) == 2
        assert _claim(conn, [1], owner="other", at=expired, resend_unknown=True).claimed == set()
        # Once it ran out, the row is unknown: a plain send leaves it, a resend takes it.
        later = expired + LEASE + dt.timedelta(seconds=1)
        assert ledger.tally(conn, DAY, now=later) == ledger.Tally(unknown=2)
        assert _claim(conn, [1], owner="other", at=later).claimed == set()
        assert _claim(conn, [1], owner="other", at=later, resend_unknown=True).claimed == {1}
        # The dead owner cannot finish a row it lost; the new owner can.
        assert ledger.finish_batch(conn, DAY, "alive", Outcomes(sent=[(1, "a")]), now=later) == 0
        assert ledger.finish_batch(conn, DAY, "other", Outcomes(sent=[(1, "b")]), now=later) == 1
        # An owner that gets no answer gives its rows up: unknown at once, never renewed.
        lost = Outcomes(unknown=[(2, "no answer")])
        assert _claim(conn, [2], owner="third", at=later, resend_unknown=True).claimed == {2}
        assert ledger.finish_batch(conn, DAY, "third", lost, now=later) == 1
        assert ledger.renew(conn, DAY, "third", until=later + LEASE) == 0
        assert ledger.tally(conn, DAY, now=later) == ledger.Tally(sent=1, unknown=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_spends_tokens_per_recipient_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=50, clock=clock)
    waits: list[float] = []

    class RecordingStop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            clock.now += timeout or 0.0
            return False

    stop = RecordingStop()
    assert bucket.acquire(50, stop)  # the burst: no wait
    assert bucket.acquire(50, stop)  # 50 more at 100/s: half a second
    assert waits == [pytest.approx(0.5)]
    clock.now += 10  # idle time refills only up to the burst
    assert bucket.acquire(100, stop)
    assert waits[-1] == pytest.approx(0.5)


def test_token_bucket_backs_off_and_recovers() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000.0, burst=50, clock=clock)
    bucket.slow_down()
    bucket.slow_down()  # the same throttling episode: counted once
    assert bucket.rate == 500.0
    clock.now += 1
    bucket.slow_down()
    assert bucket.rate == 250.0
    for _ in range(100):
        bucket.speed_up()
    assert bucket.rate == 1000.0


def test_a_stopped_wait_returns_false() -> None:
    bucket = TokenBucket(1.0, burst=1)
    stop = threading.Event()
    stop.set()
    assert bucket.acquire(1, stop) is False
    assert bucket.acquire(100, stop) is False


def test_backoff_is_exponential_with_full_jitter() -> None:
    assert backoff_delay(0, base=0.1, cap=10, rng=lambda: 1.0) == pytest.approx(0.1)
    assert backoff_delay(3, base=0.1, cap=10, rng=lambda: 1.0) == pytest.approx(0.8)
    assert backoff_delay(30, base=0.1, cap=10, rng=lambda: 1.0) == 10
    assert backoff_delay(5, base=0.1, cap=10, rng=lambda: 0.0) == 0


def test_log_progress_writes_a_line_per_interval_with_rate_and_eta() -> None:
    clock = FakeClock()
    lines: list[str] = []
    sink = LogProgress(lines.append, interval=10.0, clock=clock)
    sink.start(1000)
    clock.now = 5.0
    sink.update(SendReport(delivered=100))
    assert lines == []  # not yet: one line per interval
    clock.now = 10.0
    sink.update(SendReport(delivered=200, skipped=50))
    assert lines == [
        "sending: 250/1,000 (25%) 20 msg/s, eta 30s; sent 200, failed 0, skipped 50, already 0"
    ]
