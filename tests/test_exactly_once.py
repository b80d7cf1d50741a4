"""Exactly once, whatever runs at once and whatever dies: what the hardening pass broke.

* A reader whose message cannot be built (an address an older release let in) fails alone,
  with the reason, and the send goes on: through the outbox and through the SES bulk path.
* ``send`` and ``send --resend-unknown`` at once: the resend never takes a live process's
  deliveries, only those whose owner is gone.
* After a crash, deliveries left in flight are unknown, never counted as sent; the issue
  is ``incomplete`` until they are settled; a kill leaves at most the calls in flight
  unknown, not every batch a thread had taken.
"""

from __future__ import annotations

import collections
import datetime as dt
import email
import email.policy
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert, select

from emails.message import Campaign, Recipient
from emails.transports.base import Outcome
from emails.transports.outbox import OutboxTransport
from pipeline.cli import main
from pipeline.sending.engine import SendOptions, send_issue
from pipeline.sending.mailing import Mailing
from pipeline.settings import Settings
from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.roster import Subscriber, now
from subscribers.store.states import DeliveryState, EditionState, SubscriberStatus
from tests.fake_ses import FakeSes
from tests.test_send import RecordingTransport, sample_mailing
from tests.test_send_ses import (
    DAY,
    _address,
    _cli_env,
    _fake,
    _morningpost,
    add_readers,
    publish_issue,
    send,
)

# Addresses the form and the import let in before they refused them: the email package
# cannot put them in a To header, SES takes no non-ASCII local part.
FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"  # "admin" in fullwidth letters
ODD = ["пользователь@пример.рф", f"{FULLWIDTH_ADMIN}@example.com"]


def insert_raw(engine: Engine, addresses: Sequence[str]) -> None:
    """Rows as an older release stored them, past today's validation."""
    stamp = now()
    rows = [
        {
            "email": a,
            "email_key": a.casefold(),
            "name": None,
            "status": SubscriberStatus.ACTIVE,
            "source": "old-release",
            "created_at": stamp,
            "updated_at": stamp,
        }
        for a in addresses
    ]
    with engine.begin() as conn:
        conn.execute(schema.subscribers.insert(), rows)


def rows_by_email(engine: Engine) -> dict[str, tuple[str, str | None]]:
    d, s = schema.deliveries, schema.subscribers
    query = select(s.c.email, d.c.state, d.c.last_error).join(s, s.c.id == d.c.subscriber_id)
    with engine.connect() as conn:
        return {email: (state, error) for email, state, error in conn.execute(query)}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def store(env_settings: Path) -> Iterator[Engine]:
    publish_issue(env_settings)
    engine = open_store(f"sqlite:///{env_settings / 'morningpost.db'}")
    yield engine
    engine.dispose()


def _outbox_recipients(data: Path) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for path in (data / "outbox" / DAY.isoformat()).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[str(message["To"])] += 1
    return found


# --- finding 2: one reader's message that cannot be built ----------------------------------


def test_an_unbuildable_address_fails_alone_through_the_outbox(
    store: Engine, env_settings: Path
) -> None:
    add_readers(store, 30)
    insert_raw(store, ODD)
    add_readers(store, 30, first=30)
    first = invoke("send", "--date", DAY.isoformat())
    assert first.exit_code == 1
    assert first.stderr == "error: 2 deliveries failed; re-run `send` to retry them\n"
    assert "sent 60, failed 2" in first.output
    rows = rows_by_email(store)
    for address in ODD:
        state, reason = rows[address]
        assert state == DeliveryState.FAILED
        assert reason is not None
        assert reason.startswith("could not build the message: NonASCIILocalPartDefect")
    got = _outbox_recipients(env_settings)
    assert got == collections.Counter({_address(i): 1 for i in range(60)})
    # Nothing was left unknown, so a resend has nothing to send twice.
    again = invoke("send", "--date", DAY.isoformat(), "--resend-unknown")
    assert "sent 0, failed 2" in again.output
    assert _outbox_recipients(env_settings) == got
    status = invoke("status", "--date", DAY.isoformat(), "--json")
    assert '"state": "incomplete"' in status.output
    assert '"unknown": 0' in status.output


def test_an_address_ses_cannot_take_fails_alone_on_the_bulk_path(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_issue(settings.data_dir)
    engine = open_store(settings.store_url)
    add_readers(engine, 40)
    insert_raw(engine, ODD)
    add_readers(engine, 40, first=40)
    fake = _fake(monkeypatch)
    try:
        ses = settings.model_copy(update={"transport": "ses", "max_send_rate": 5000})
        report = send(ses, engine)
    finally:
        fake.stop()
    assert (report.delivered, report.failed, report.unknown) == (80, 2, 0)
    assert fake.recipients() == collections.Counter({_address(i): 1 for i in range(80)})
    assert fake.stats["calls"] == 2  # the odd ones left out of their call, not refusing it
    rows = rows_by_email(engine)
    for address in ODD:
        state, reason = rows[address]
        assert state == DeliveryState.FAILED
        assert "SES accepts no address with non-ASCII characters before the @" in (reason or "")
    assert report.state == EditionState.INCOMPLETE


@pytest.fixture(scope="module")
def mailing() -> Mailing:
    return sample_mailing()


class BrokenForOne(Mailing):
    """A mailing whose per-reader part fails for one subscriber, as any bug might."""

    def recipient(self, subscriber: Subscriber) -> Recipient:
        if subscriber.email == _address(3):
            raise UnicodeError("a greeting that cannot be encoded")
        return super().recipient(subscriber)


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 28)
    add_readers(engine, 9)
    return engine


def test_any_error_building_one_readers_part_fails_that_reader_alone(
    engine: Engine, mailing: Mailing, tmp_path: Path
) -> None:
    broken = BrokenForOne(**{k: getattr(mailing, k) for k in mailing.__dataclass_fields__})
    outbox = OutboxTransport(tmp_path / "outbox")
    report = send_issue(engine, outbox, broken, options=SendOptions(concurrency=2))
    assert (report.delivered, report.failed, report.unknown) == (8, 1, 0)
    state, reason = rows_by_email(engine)[_address(3)]
    assert state == DeliveryState.FAILED
    assert reason == "could not build the message: UnicodeError: a greeting that cannot be encoded"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 8


def test_a_transport_that_breaks_leaves_its_call_unknown_and_the_send_goes_on(
    engine: Engine, mailing: Mailing
) -> None:
    class BreaksOnce(RecordingTransport):
        broke = False

        def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
            if not self.broke:
                self.broke = True
                raise KeyError("a bug, halfway through the call")
            return super().send_batch(campaign, recipients)

    transport = BreaksOnce(batch_size=3)
    report = send_issue(engine, transport, mailing, options=SendOptions(concurrency=1))
    assert (report.delivered, report.unknown, report.failed) == (6, 3, 0)
    assert report.state == EditionState.INCOMPLETE


# --- finding 3: a resend running beside a live send ----------------------------------------


class Gate(RecordingTransport):
    """Holds its first call until released: a call in flight, for as long as a test needs."""

    def __init__(self) -> None:
        super().__init__(batch_size=3)
        self.in_call = threading.Event()
        self.release = threading.Event()

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        if not self.in_call.is_set():
            self.in_call.set()
            assert self.release.wait(30), "the test never released the call"
        return super().send_batch(campaign, recipients)


@pytest.mark.parametrize("resend_unknown", [True, False], ids=["resend-unknown", "send"])
def test_a_second_send_never_takes_a_live_sends_deliveries(
    store_url: str, mailing: Mailing, resend_unknown: bool
) -> None:
    first, second = open_store(store_url), open_store(store_url)  # two processes' pools
    with first.begin() as conn:
        editions.ensure(conn, DAY, 28)
    add_readers(first, 12)
    gate = Gate()
    live = threading.Thread(
        target=send_issue, args=(first, gate, mailing), kwargs={"options": SendOptions(1)}
    )
    live.start()
    try:
        assert gate.in_call.wait(30)  # three deliveries in flight in the live send
        other = RecordingTransport(batch_size=3)
        options = SendOptions(concurrency=2, resend_unknown=resend_unknown)
        report = send_issue(second, other, mailing, options=options)
    finally:
        gate.release.set()
        live.join(30)
    everyone = collections.Counter(gate.recipients()) + collections.Counter(other.recipients())
    assert everyone == collections.Counter({_address(i): 1 for i in range(12)})
    assert report.elsewhere == 3  # the live send's call, left to it
    with first.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.SENT


# --- finding 4: a crash, unknowns, and what the issue says --------------------------------


def test_a_crash_leftover_is_unknown_not_already_sent_and_the_issue_is_incomplete(
    store: Engine, env_settings: Path
) -> None:
    add_readers(store, 4)
    with store.begin() as conn:
        editions.ensure(conn, DAY, 28)
        # A row as a crashed process left it: in ``sending``, its owner gone.
        conn.execute(
            insert(schema.deliveries).values(
                issue_date=DAY.isoformat(),
                subscriber_id=1,
                state=DeliveryState.SENDING,
                attempts=1,
                updated_at=now() - dt.timedelta(hours=1),
            )
        )
    result = invoke("send", "--date", DAY.isoformat())
    assert "already sent 0" in result.output
    assert "unknown 1" in result.output
    assert "1 deliveries are unknown" in result.output
    assert result.exit_code == 1
    assert "the issue is incomplete" in result.stderr
    with store.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.INCOMPLETE
    resent = invoke("send", "--date", DAY.isoformat(), "--resend-unknown")
    assert resent.exit_code == 0, resent.stderr
    assert "sent 1, failed 0, skipped 0, already sent 3, unknown 0" in resent.output
    with store.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.SENT


def test_a_kill_leaves_unknown_only_the_calls_in_flight(settings: Settings) -> None:
    publish_issue(settings.data_dir)
    engine = open_store(settings.store_url)
    add_readers(engine, 3000)
    # Eight threads, and a rate that lets one 50-recipient call out every half second: the
    # other seven threads wait for the limiter, holding nothing.
    with FakeSes(latency=0.02) as fake:
        env = _cli_env(settings, fake) | {
            "MORNINGPOST_SEND_CONCURRENCY": "8",
            "MORNINGPOST_MAX_SEND_RATE": "100",
        }
        sender = subprocess.Popen(
            _morningpost("send", "--date", DAY.isoformat()),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            fake.wait_for(lambda f: len(f.accepted) >= 200, timeout=60)
        finally:
            sender.send_signal(signal.SIGKILL)
            sender.wait(timeout=30)
        fake.wait_for(lambda f: f.inflight == 0, timeout=30)
    with engine.connect() as conn:
        held = ledger.counts(conn, DAY)[DeliveryState.SENDING]
        state = editions.state(conn, DAY)
    # At most the call in flight and one claimed an instant before its own went out.
    assert 0 < held <= 2 * 50, held
    assert state == EditionState.SENDING  # a crash never reads as sent
