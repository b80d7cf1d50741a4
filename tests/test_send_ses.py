"""The send engine through boto3 against the loopback fake SES v2 (tests/fake_ses.py).

Bulk path, throttling, server errors, rejections, and a real ``kill -9`` mid-send.
"""

from __future__ import annotations

import collections
import datetime as dt
import html
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from emails.issue import Issue
from emails.render import render_email
from pipeline import jobs
from pipeline.context import Context
from pipeline.sending.engine import SendReport
from pipeline.settings import Settings
from pipeline.workspace import EMAIL_HTML, EMAIL_TXT, ISSUE_JSON, DataDir
from subscribers.store import editions, schema
from subscribers.store.engine import open_store
from subscribers.store.roster import now
from subscribers.store.states import DeliveryState, EditionState, SubscriberStatus
from subscribers.tokens import read_token
from tests.conftest import TEST_KEY
from tests.fake_ses import FakeSes

FIXTURE = Path(__file__).parent / "fixtures" / "issue.json"
DAY = dt.date(2026, 2, 25)  # the fixture's date
ROOT = Path(__file__).resolve().parent.parent
TRICKY = 'Ada "<&>" {{view_url}} \u00e9'


def _address(i: int) -> str:
    return f"reader{i}@example.com"


def add_readers(engine: Engine, count: int, *, first: int = 0) -> None:
    """``count`` active subscribers in one executemany (the store's own path is per row)."""
    stamp = now()
    rows = [
        {
            "email": _address(i),
            "email_key": _address(i),
            "name": TRICKY if i == first else f"Reader {i}",
            "status": SubscriberStatus.ACTIVE,
            "source": "test",
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i in range(first, first + count)
    ]
    with engine.begin() as conn:
        conn.execute(schema.subscribers.insert(), rows)


def send(settings: Settings, engine: Engine) -> SendReport:
    ctx = Context(settings, engine=engine)
    return jobs.send(ctx, ctx.issue(DAY))


def publish_issue(data_dir: Path) -> None:
    """Put the fixture issue, rendered, where ``send`` looks for it."""
    folder = DataDir(data_dir).issues / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, folder / ISSUE_JSON)
    rendered = render_email(Issue.load(FIXTURE), postal_address="1 Example St")
    (folder / EMAIL_HTML).write_text(rendered.html, encoding="utf-8")
    (folder / EMAIL_TXT).write_text(rendered.text, encoding="utf-8")


@pytest.fixture
def ses_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, Engine]]:
    publish_issue(settings.data_dir)
    engine = open_store(settings.store_url)
    configured = settings.model_copy(
        update={
            "transport": "ses",
            "send_concurrency": 4,
            "ses_configuration_set": "daily-events",
            "unsubscribe_mailto": "unsubscribe@example.com",
            "public_url": "https://news.example.com",
        }
    )
    yield configured, engine
    engine.dispose()


def _fake(monkeypatch: pytest.MonkeyPatch, **options: object) -> FakeSes:
    fake = FakeSes(**options).start()  # type: ignore[arg-type]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
    return fake


def _ledger(engine: Engine) -> dict[int, tuple[str, str | None, str | None]]:
    d = schema.deliveries
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.subscriber_id, d.c.state, d.c.message_id, d.c.last_error))
        return {i: (state, message_id, error) for i, state, message_id, error in rows}


def test_bulk_send_reaches_everyone_once_with_their_own_content(
    ses_settings: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 260)
    fake = _fake(monkeypatch, latency=0.01, quota=2000)
    try:
        report = send(settings, engine)
    finally:
        fake.stop()
    assert (report.delivered, report.failed, report.unknown) == (260, 0, 0)
    assert fake.recipients() == collections.Counter({_address(i): 1 for i in range(260)})
    assert fake.stats["calls"] == 6  # 50 a call: 5 full, one of 10

    by_address = {m.to: m for m in fake.accepted}
    tricky = by_address[_address(0)]
    content = tricky.render()
    assert html.escape(f"Good morning, {TRICKY}") in content.html
    assert f"Good morning, {TRICKY}" in content.text
    assert "{{" not in content.html.replace("{{view_url}}", "")  # only the name's own text
    assert "https://news.example.com/issues/2026-02-25/" in content.text
    unsubscribe = tricky.header("List-Unsubscribe")
    assert unsubscribe is not None
    url, mailto = unsubscribe.split(", ")
    token = url.strip("<>").rsplit("/", 1)[1]
    assert read_token(TEST_KEY, token) == 1
    assert f"https://news.example.com/unsubscribe/{token}" in content.html
    assert mailto == "<mailto:unsubscribe@example.com?subject=unsubscribe>"
    assert tricky.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert tricky.header("List-Id") == "The AI Morning Post <daily.example.com>"
    assert tricky.configuration_set == "daily-events"
    assert tricky.tags["issue"] == "2026-02-25"
    assert (
        content.subject
        == "The Specialization Wave: domain-specific AI models challenge one-size-fits-all"
    )

    recorded = _ledger(engine)
    assert {state for state, _, _ in recorded.values()} == {DeliveryState.SENT}
    assert recorded[1][1] == tricky.message_id
    with engine.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.SENT


def test_throttling_never_drops_a_message(
    ses_settings: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 400)
    fake = _fake(monkeypatch, latency=0.005, quota=200)
    # We claim 2,000/s; the account allows 200/s: SES answers 429 until we slow down.
    try:
        report = send(settings.model_copy(update={"max_send_rate": 2000}), engine)
    finally:
        fake.stop()
    assert fake.stats["throttled"] > 0
    assert (report.delivered, report.failed, report.paused) == (400, 0, None)
    assert set(fake.recipients().values()) == {1}
    assert len(fake.recipients()) == 400


def test_server_errors_and_transient_entries_are_retried_exactly_once(
    ses_settings: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 400)
    fake = _fake(monkeypatch, fault_rate=0.25, transient_rate=0.1, seed=7)
    try:
        report = send(settings.model_copy(update={"max_send_rate": 5000}), engine)
    finally:
        fake.stop()
    assert fake.stats["faults"] > 0
    assert fake.stats["transient"] > 0
    assert (report.delivered, report.failed, report.unknown) == (400, 0, 0)
    assert fake.recipients() == collections.Counter({_address(i): 1 for i in range(400)})


def test_a_rejected_address_fails_alone_with_the_reason(
    ses_settings: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 120)
    fake = _fake(monkeypatch, reject=[_address(42)])
    try:
        report = send(settings.model_copy(update={"max_send_rate": 5000}), engine)
    finally:
        fake.stop()
    assert (report.delivered, report.failed) == (119, 1)
    assert _address(42) not in fake.recipients()
    state, message_id, error = _ledger(engine)[43]
    assert (state, message_id) == (DeliveryState.FAILED, None)
    assert error is not None
    assert "MESSAGE_REJECTED" in error
    assert _address(42) in error


def test_the_rate_comes_from_get_account_when_unset(
    ses_settings: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 200)
    fake = _fake(monkeypatch, quota=300)
    try:
        report = send(settings, engine)
    finally:
        fake.stop()
    # 200 recipients at 300/s with a 60-token burst: at least 140/300 s, and no 429s.
    assert report.delivered == 200
    assert report.seconds >= 0.45
    assert fake.stats["throttled"] == 0


def _cli_env(settings: Settings, fake: FakeSes) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
    return env | {
        "MORNINGPOST_DATA_DIR": str(settings.data_dir),
        "MORNINGPOST_SECRET_KEY": TEST_KEY,
        "MORNINGPOST_TRANSPORT": "ses",
        "MORNINGPOST_SEND_CONCURRENCY": "4",
        "AWS_ENDPOINT_URL_SESV2": fake.url,
        "PYTHONPATH": str(ROOT),
    }


def _morningpost(*args: str) -> list[str]:
    return [sys.executable, "-c", "from pipeline.cli import main; main()", *args]


def test_a_test_send_goes_to_one_address_and_leaves_the_ledger_alone(
    ses_settings: tuple[Settings, Engine],
) -> None:
    settings, engine = ses_settings
    add_readers(engine, 3)
    with FakeSes() as fake:
        done = subprocess.run(
            _morningpost("send", "--date", DAY.isoformat(), "--to", "Editor@Example.com"),
            env=_cli_env(settings, fake),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Test copy of 2026-02-25 sent to Editor@Example.com")
    assert [(m.operation, m.to) for m in fake.accepted] == [("SendEmail", "Editor@example.com")]
    assert fake.accepted[0].tags == {"newsletter": "morningpost", "issue": "2026-02-25"}
    assert _ledger(engine) == {}


def _fast_forward_past_leases(engine: Engine) -> None:
    """What waiting out the dead process's leases would do, without the wait."""
    gone = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    d, r = schema.deliveries, schema.send_runs
    with engine.begin() as conn:
        conn.execute(update(d).where(d.c.state == DeliveryState.SENDING).values(lease_until=gone))
        conn.execute(update(r).values(lease_until=gone))


def test_kill_9_mid_send_then_rerun_leaves_nobody_missing_or_doubled(
    ses_settings: tuple[Settings, Engine],
) -> None:
    settings, engine = ses_settings
    total, concurrency, batch = 2000, 4, 50
    add_readers(engine, total)
    everyone = {_address(i) for i in range(total)}
    with FakeSes(latency=0.03, quota=2000) as fake:
        env = _cli_env(settings, fake)
        sender = subprocess.Popen(
            _morningpost("send", "--date", DAY.isoformat()),
            env=env | {"MORNINGPOST_SEND_LEASE_SECONDS": "60"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            fake.wait_for(lambda f: len(f.accepted) >= 500, timeout=60)
        finally:
            sender.send_signal(signal.SIGKILL)
            sender.wait(timeout=30)
        assert sender.returncode == -signal.SIGKILL
        fake.wait_for(lambda f: f.inflight == 0, timeout=30)  # the dead client's calls end

        by_id = _ledger(engine)
        held = {
            _address(i - 1) for i, (state, _, _) in by_id.items() if state == DeliveryState.SENDING
        }
        sent = {
            _address(i - 1) for i, (state, _, _) in by_id.items() if state == DeliveryState.SENT
        }
        got = fake.recipients()
        assert 0 < len(got) < total  # killed mid-send, really
        assert len(held) <= concurrency * batch  # at most one call per thread
        assert set(got) <= sent | held  # nothing went out without a claim
        assert sent <= set(got)  # nothing is marked sent that did not go
        assert set(got.values()) == {1}

        # At once, the dead process's rows are still under its lease: a re-run leaves them.
        rerun = subprocess.run(
            _morningpost("send", "--date", DAY.isoformat()),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert f"in flight with other processes {len(held)}" in rerun.stdout
        assert "the issue is sending" in rerun.stdout  # not concluded under a live lease
        got = fake.recipients()
        assert set(got.values()) == {1}  # nobody twice
        assert everyone - set(got) == held - set(got)  # missing: the rows the dead one held

        # Once its lease ran out they are unknown: reported, the issue incomplete.
        _fast_forward_past_leases(engine)
        after = subprocess.run(
            _morningpost("send", "--date", DAY.isoformat()),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert after.returncode == 1
        assert f"unknown {len(held)} in" in after.stdout
        assert "the issue is incomplete" in after.stderr
        with engine.connect() as conn:
            assert editions.state(conn, DAY) == EditionState.INCOMPLETE

        resend = subprocess.run(
            _morningpost("send", "--date", DAY.isoformat(), "--resend-unknown"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resend.returncode == 0, resend.stderr
        got = fake.recipients()
    assert set(got) == everyone  # now nobody is missing
    assert {a for a, n in got.items() if n > 1} <= held  # doubles only among the unknowns
    assert {state for state, _, _ in _ledger(engine).values()} == {DeliveryState.SENT}
    with engine.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.SENT
