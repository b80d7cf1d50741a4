"""Operations: approve, draft, run under approval and the store lock, numbering, logging."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from emails.errors import EditionError, LockHeld
from pipeline import logs
from pipeline.cli import main
from pipeline.workspace import TEST_COPIES
from subscribers.store import editions, ledger, locks
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.store.states import DeliveryState, EditionState
from tests.conftest import TEST_KEY
from tests.store_helpers import force_state

DATE = "2026-11-27"
DAY = dt.date(2026, 11, 27)
T0 = dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


# --- approve -------------------------------------------------------------------------------


def test_approve_without_a_draft_is_refused_in_one_line(env_settings: Path) -> None:
    result = invoke("approve", "--date", DATE)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: there is no draft of 2026-11-27 to approve")
    assert result.stderr.count("\n") == 1


def test_approve_records_who_and_when_and_status_shows_it(env_settings: Path) -> None:
    assert invoke("draft", "--sample", "--date", DATE).exit_code == 0
    result = invoke("approve", "--sample", "--date", DATE, "--by", "Ada")
    assert result.exit_code == 0, result.stderr
    assert result.output.startswith("Issue #1 of 2026-11-27 approved by Ada at 20")
    status = json.loads(invoke("status", "--sample", "--date", DATE, "--json").output)
    assert (status["state"], status["approved_by"]) == ("approved", "Ada")
    again = invoke("approve", "--sample", "--date", DATE, "--by", "Bob")
    assert "approved by Ada" in again.output  # the first approval stands


def test_approving_a_sent_issue_is_refused(env_settings: Path) -> None:
    assert invoke("run", "--sample", "--date", DATE).exit_code == 0
    result = invoke("approve", "--sample", "--date", DATE)
    assert result.exit_code == 1
    assert "is sent: there is nothing to approve" in result.stderr


def test_run_with_approval_required_drafts_but_does_not_send_until_approved(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORNINGPOST_REQUIRE_APPROVAL", "true")
    refused = invoke("run", "--sample", "--date", DATE)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: issue #1 of 2026-11-27 is drafted but not approved")
    assert "morningpost approve --date 2026-11-27" in refused.stderr
    outbox = env_settings / "sample" / "outbox" / DATE
    assert not list(outbox.glob("*.eml"))
    assert invoke("approve", "--sample", "--date", DATE).exit_code == 0
    sent = invoke("run", "--sample", "--date", DATE)
    assert sent.exit_code == 0, sent.stderr
    assert len(list(outbox.glob("*.eml"))) == 5


def test_draft_sends_test_copies_to_editors_and_touches_no_ledger(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORNINGPOST_EDITORS", '["Ed@Example.com", "sub@example.org"]')
    result = invoke("draft", "--sample", "--date", DATE)
    assert result.exit_code == 0, result.stderr
    assert "Test copies sent: 2 of 2" in result.output
    sample = env_settings / "sample"
    copies = sorted((sample / "outbox" / DATE / TEST_COPIES).glob("*.eml"))
    parsed = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in copies]
    assert sorted(m["To"].addresses[0].addr_spec for m in parsed) == [
        "Ed@example.com",
        "sub@example.org",
    ]
    assert not list((sample / "outbox" / DATE).glob("*.eml"))
    engine = open_store(f"sqlite:///{sample / 'morningpost.db'}")
    with engine.connect() as conn:
        assert sum(ledger.counts(conn, DAY).values()) == 0
        assert editions.state(conn, DAY) == EditionState.DRAFT


# --- the store lock ------------------------------------------------------------------------


def test_a_lock_has_one_holder_until_it_expires(engine: Engine) -> None:
    ttl = dt.timedelta(minutes=5)
    with engine.begin() as conn:
        assert locks.acquire(conn, "issue:x", "a", ttl=ttl, now=T0)
        assert not locks.acquire(conn, "issue:x", "b", ttl=ttl, now=T0 + MINUTE)
        assert locks.acquire(conn, "issue:x", "a", ttl=ttl, now=T0 + MINUTE)  # re-entrant
        assert locks.holder(conn, "issue:x", now=T0 + MINUTE) == locks.Lease(
            "issue:x", "a", T0 + MINUTE + ttl
        )
        # A crashed holder stops renewing: once its lease ran out, anyone may take it.
        assert locks.acquire(conn, "issue:x", "b", ttl=ttl, now=T0 + 7 * MINUTE)
        assert not locks.renew(conn, "issue:x", "a", ttl=ttl, now=T0 + 7 * MINUTE)
        assert locks.renew(conn, "issue:x", "b", ttl=ttl, now=T0 + 8 * MINUTE)
        locks.release(conn, "issue:x", "a")  # not a's to release: nothing happens
        assert locks.holder(conn, "issue:x", now=T0 + 8 * MINUTE) is not None
        locks.release(conn, "issue:x", "b")
        assert locks.holder(conn, "issue:x", now=T0 + 8 * MINUTE) is None
        assert locks.acquire(conn, "issue:y", "a", ttl=ttl, now=T0)  # names are independent


def test_held_raises_lock_held_naming_the_owner_and_releases(engine: Engine) -> None:
    with (
        locks.held(engine, "issue:z", owner="host-a:1"),
        pytest.raises(LockHeld, match=r"issue:z is held by host-a:1 \(lease until"),
        locks.held(engine, "issue:z", owner="host-b:2"),
    ):
        pass
    with locks.held(engine, "issue:z", owner="host-b:2") as lease:
        assert lease.owner == "host-b:2"


def test_held_renews_in_the_background(engine: Engine) -> None:
    ttl = dt.timedelta(seconds=0.3)
    with locks.held(engine, "issue:beat", owner="me", ttl=ttl):
        deadline = time.monotonic() + 5
        first = None
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                lease = locks.holder(conn, "issue:beat", now=dt.datetime.now(dt.UTC))
            assert lease is not None  # never lapses while held
            first = first or lease.expires_at
            if lease.expires_at > first:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the lease was never renewed")


def test_run_refuses_while_another_process_holds_the_issue(
    env_settings: Path,
) -> None:
    engine = open_store(f"sqlite:///{env_settings / 'sample' / 'morningpost.db'}")
    with engine.begin() as conn:
        now = dt.datetime.now(dt.UTC)
        assert locks.acquire(conn, f"issue:{DATE}", "other:42", ttl=dt.timedelta(hours=1), now=now)
    result = invoke("run", "--sample", "--date", DATE)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: issue:{DATE} is held by other:42")
    status = json.loads(invoke("status", "--sample", "--date", DATE, "--json").output)
    assert status["lock"]["owner"] == "other:42"


def _morningpost(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    script = Path(sys.executable).with_name("morningpost")
    return subprocess.Popen(
        [str(script), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")}
    return env | {"MORNINGPOST_DATA_DIR": str(data), "MORNINGPOST_SECRET_KEY": TEST_KEY} | extra


def test_two_runs_started_at_once_send_each_subscriber_one_copy(tmp_path: Path) -> None:
    env = _env(tmp_path / "var")
    data = tmp_path / "var" / "sample"  # where sample runs work
    # The store exists already, as after any first command: two processes creating a
    # brand-new SQLite store at the same instant can race in its migrations (one fails to
    # open it, cleanly), which is not what this test is about.
    open_store(f"sqlite:///{data / 'morningpost.db'}").dispose()
    procs = [_morningpost("run", "--sample", "--date", DATE, env=env) for _ in range(2)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    # Either both ran (one after the other: the second sends nothing), or one was refused.
    assert codes in ([0, 0], [0, 1]), outcomes
    for code, _, err in outcomes:
        if code == 1:
            assert err.startswith(f"error: issue:{DATE} is held by "), err
            assert err.count("\n") == 1
    files = list((data / "outbox" / DATE).glob("*.eml"))
    recipients = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["To"] for f in files
    ]
    assert len(files) == 5
    assert len(set(map(str, recipients))) == 5
    engine = open_store(f"sqlite:///{data / 'morningpost.db'}")
    with engine.connect() as conn:
        assert ledger.counts(conn, DAY)[DeliveryState.SENT] == 5


# --- the long-running scheduler as a real process ------------------------------------------


def _wait_for(predicate: object, deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


READERS = 200  # the outbox writes ~40 messages/s (one fsync each): enough to stop mid-send


def test_schedule_stops_cleanly_on_sigterm_mid_send_with_an_exact_ledger(tmp_path: Path) -> None:
    data = tmp_path / "var" / "sample"  # where a sample schedule works
    now = dt.datetime.now(dt.UTC)
    if now.hour == 23 and now.minute > 30:
        pytest.skip("too close to midnight UTC for a same-day schedule")
    start = (now - dt.timedelta(minutes=1)).strftime("%H:%M")
    engine = open_store(f"sqlite:///{data / 'morningpost.db'}")
    with engine.begin() as conn:
        for n in range(READERS):  # demo readers: a sample store holds nothing else
            add_subscriber(conn, f"reader{n}@example.com", source="demo")
    env = _env(
        data.parent,
        MORNINGPOST_TIMEZONE="UTC",
        MORNINGPOST_DRAFT_TIME=start,
        MORNINGPOST_SEND_TIME=start,
        MORNINGPOST_CUTOFF_TIME="23:59",
        MORNINGPOST_SEND_CONCURRENCY="2",
        # 200 readers at 20 a second take 10 s: the SIGTERM after the first 10 lands mid-send.
        MORNINGPOST_MAX_SEND_RATE="20",
    )
    proc = _morningpost("schedule", "--sample", env=env)
    today = now.date()

    def some_sent() -> bool:
        with engine.connect() as conn:
            return ledger.counts(conn, today)[DeliveryState.SENT] >= 10

    try:
        _wait_for(some_sent, 60, "the send to begin")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    _, err = proc.communicate()
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "scheduler started" in names
    assert "stop requested" in names
    assert names[-1] == "scheduler stopped"
    assert re.search(r"reader\d+@", err) is None  # no address in the log, masked or not
    with engine.connect() as conn:
        counts = ledger.counts(conn, today)
    files = list((data / "outbox" / today.isoformat()).glob("*.eml"))
    assert counts[DeliveryState.SENDING] == 0, counts  # no unknowns: calls in flight were recorded
    assert counts[DeliveryState.SENT] == len(files) < READERS, counts
    # A re-run sends exactly what is missing.
    rerun = subprocess.run(
        [str(Path(sys.executable).with_name("morningpost")), "run", "--sample"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    files = list((data / "outbox" / today.isoformat()).glob("*.eml"))
    assert len(files) == READERS
    with engine.connect() as conn:
        assert ledger.counts(conn, today)[DeliveryState.SENT] == READERS


# --- issue numbers -------------------------------------------------------------------------


def _number(engine: Engine, day: dt.date) -> int:
    with engine.begin() as conn:
        return editions.issue_number(conn, day)


def _set(engine: Engine, day: dt.date, state: str) -> None:
    with engine.begin() as conn:
        force_state(conn, day, state)


D = dt.date(2026, 3, 2)
NEXT = D + dt.timedelta(days=1)


def test_numbers_follow_the_last_issue_sent_and_reassembly_keeps_them(engine: Engine) -> None:
    assert _number(engine, D - dt.timedelta(days=1)) == 1
    _set(engine, D - dt.timedelta(days=1), EditionState.SENT)
    assert _number(engine, D) == 2
    assert _number(engine, D) == 2  # re-assembled: same number


def test_an_unsent_draft_gives_its_number_to_the_next_day(engine: Engine) -> None:
    for n, day in enumerate([D - dt.timedelta(days=2), D - dt.timedelta(days=1)], start=1):
        assert _number(engine, day) == n
        _set(engine, day, EditionState.SENT)
    assert _number(engine, D) == 3  # drafted, never approved, cut-off passed
    assert _number(engine, NEXT) == 3  # the next issue readers get is still #3
    with engine.begin() as conn:
        assert editions.state(conn, D) is None  # D's record gave the number up
        with pytest.raises(EditionError, match="now belongs to the issue of 2026-03-03"):
            editions.ensure(conn, D, 3)  # sending D's stale draft fails in one clear line
    assert _number(engine, D) == 4  # re-assembled D: a fresh number, no collision


def test_a_later_drafts_number_is_never_taken(engine: Engine) -> None:
    assert _number(engine, NEXT) == 1
    assert _number(engine, D) == 2  # an earlier date assembled after: next free number


def test_a_number_that_went_out_is_never_reused(engine: Engine) -> None:
    assert _number(engine, D) == 1
    _set(engine, D, EditionState.SENDING)  # some readers have #1
    assert _number(engine, NEXT) == 2


def _replay(engine: Engine, plan: list[tuple[int, bool]]) -> dict[dt.date, int]:
    """Assemble (and maybe send) the days of ``plan`` in order; the numbers of the sent."""
    sent: dict[dt.date, int] = {}
    for offset, send in plan:
        day = D + dt.timedelta(days=offset)
        number = _number(engine, day)
        if day in sent:
            assert number == sent[day]  # a sent issue keeps its number for good
        elif send:
            _set(engine, day, EditionState.SENT)
            sent[day] = number
    return sent


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=12))
def test_numbers_never_collide_in_any_order(plan: list[tuple[int, bool]]) -> None:
    engine = open_store("sqlite://")  # in memory: one fresh store per example
    sent = _replay(engine, plan)
    assert len(set(sent.values())) == len(sent)
    with engine.connect() as conn:
        numbers = [e.number for d in range(7) if (e := editions.get(conn, D + dt.timedelta(d)))]
    assert len(set(numbers)) == len(numbers)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.booleans(), min_size=1, max_size=10), st.sets(st.integers(0, 9)))
def test_day_by_day_the_issues_sent_are_numbered_1_to_n(
    sends: list[bool], redrafted: set[int]
) -> None:
    # Day after day, some drafts go out, some never do (and some are drafted twice).
    engine = open_store("sqlite://")  # in memory: one fresh store per example
    plan = [(day, False) for day in range(len(sends)) if day in redrafted]
    plan += [(day, send) for day, send in enumerate(sends)]
    plan.sort(key=lambda step: step[0])
    sent = _replay(engine, plan)
    assert [sent[d] for d in sorted(sent)] == list(range(1, len(sent) + 1))


# --- logging -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_line(json_lines: bool, *args: object, **extra: object) -> str:
    logs.setup(verbose=True, json_lines=json_lines)
    stream = io.StringIO()
    saved, sys.stderr = sys.stderr, stream
    try:
        logging.getLogger("pipeline.test").info(*args, extra=extra)  # type: ignore[arg-type]
    finally:
        sys.stderr = saved
    return stream.getvalue()


def test_json_log_line_with_fields_and_masked_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _log_line(
        True, "sent to %s", "ada.lovelace@example.com", date=DATE, to="bob@example.org"
    )
    assert line.count("\n") == 1
    event = json.loads(line)
    assert event["event"] == "sent to a***********@example.com"
    assert event["to"] == "b**@example.org"
    assert (event["level"], event["logger"], event["date"]) == ("info", "pipeline.test", DATE)
    assert event["time"].endswith("+00:00")


def test_secrets_are_redacted_and_tracebacks_stay_on_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", "s3cr3t-value-xyz")
    logs.setup(verbose=True, json_lines=False)
    stream = io.StringIO()
    saved, sys.stderr = sys.stderr, stream
    try:
        try:
            raise ValueError("key s3cr3t-value-xyz for eve@example.net")
        except ValueError:
            logging.getLogger("pipeline.test").exception("it broke")
    finally:
        sys.stderr = saved
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "s3cr3t-value-xyz" not in text
    assert "eve@example.net" not in text
    assert "e**@example.net" in text
    assert "ValueError" in text


@given(st.emails())
def test_any_address_is_masked(address: str) -> None:
    # A local part of nothing but "*" is indistinguishable from its own mask.
    assume(set(address.partition("@")[0]) != {"*"})
    assert address not in logs.redact(f"to {address}, then")


def test_a_secret_from_the_dotenv_file_is_redacted(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MORNINGPOST_SECRET_KEY=dotenv-secret-123456\n")
    handler = logs.setup(json_lines=True)
    stream = io.StringIO()
    saved, sys.stderr = sys.stderr, stream
    try:
        result = CliRunner().invoke(main, ["subscribers", "count"])
        assert result.exit_code == 0
        logging.getLogger("pipeline.test").warning("key is dotenv-secret-123456")
    finally:
        sys.stderr = saved
        logging.getLogger().removeHandler(handler)
    assert "dotenv-secret-123456" not in stream.getvalue()
    assert "[redacted]" in stream.getvalue()
