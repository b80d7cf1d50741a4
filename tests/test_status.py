"""``morningpost status``: state, deliveries, rate, errors and the lock, for people and machines."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, update

from emails.errors import SendingBlocked
from pipeline.cli import main
from pipeline.sending.engine import SendOptions, send_issue
from pipeline.settings import Settings
from pipeline.status import Approval, duration, issue_status, text_lines
from subscribers.store import editions, ledger, locks, schema, sendruns
from subscribers.store.engine import open_store
from subscribers.store.ledger import Outcomes
from subscribers.store.roster import add_subscriber
from subscribers.store.states import EditionState
from tests.store_helpers import claim, force_state, leave_unknown, mark_failed, mark_sent
from tests.test_exactly_once import Gate
from tests.test_send import ScriptedTransport, sample_mailing
from tests.test_send_ses import add_readers as add_many

DAY = dt.date(2026, 11, 27)
T0 = dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.UTC)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _store(data: Path):  # type: ignore[no-untyped-def]
    return open_store(f"sqlite:///{data / 'morningpost.db'}")


def test_no_issue_yet(env_settings: Path) -> None:
    result = invoke("status", "--date", "2026-11-27", "--json")
    assert result.exit_code == 0, result.stderr
    status = json.loads(result.output)
    assert (status["state"], status["number"], status["lock"]) == (None, None, None)
    assert set(status["deliveries"]) == {"pending", "sent", "failed", "skipped", "unknown"}
    assert invoke("status", "--date", "2026-11-27").output.startswith("2026-11-27: no issue")


def test_rate_errors_unknowns_and_lock_from_the_ledger(env_settings: Path) -> None:
    engine = _store(env_settings)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 7)
        force_state(conn, DAY, EditionState.SENDING)
        ids = [add_subscriber(conn, f"r{n}@example.com") for n in range(6)]
        for sid in ids[:5]:
            assert claim(conn, DAY, sid, at=T0)
        assert leave_unknown(conn, DAY, ids[5], before=T0)
        for n, sid in enumerate(ids[:3]):
            mark_sent(conn, DAY, sid, f"m{n}")
            # Three sends over ten seconds: 0.2 messages a second between first and last.
            conn.execute(
                update(schema.deliveries)
                .where(schema.deliveries.c.subscriber_id == sid)
                .values(updated_at=T0 + dt.timedelta(seconds=5 * n))
            )
        mark_failed(conn, DAY, ids[3], "MessageRejected: r3@example.com refused")
        mark_failed(conn, DAY, ids[4], "MessageRejected: r4@example.com refused")
        locks.acquire(conn, "issue:2026-11-27", "host:9", ttl=dt.timedelta(hours=1), now=T0)
    status = issue_status(engine, DAY, now=T0 + dt.timedelta(minutes=1))
    assert status["state"] == "sending"
    assert status["number"] == 7
    assert status["deliveries"] == {
        "pending": 0,
        "sent": 3,
        "failed": 2,
        "skipped": 0,
        "unknown": 1,
    }
    assert status["rate_per_second"] == 0.2
    # The same reason but for the address: masked, then counted together.
    assert status["errors"] == [{"error": "MessageRejected: r**@example.com refused", "count": 2}]
    assert status["lock"] == {"owner": "host:9", "expires_at": "2026-11-27T07:30:00+00:00"}
    lines = text_lines(status)
    assert lines[0] == "2026-11-27: #7 sending"
    assert "pending 0, sent 3, failed 2, skipped 0, unknown 1, in flight 0" in lines[1]
    assert any("rate 0.2 messages/s" in line for line in lines)
    assert any(line.startswith("  drafting or starting: host:9") for line in lines)
    # Once the lease ran out (a crashed holder), no one holds the issue.
    assert issue_status(engine, DAY, now=T0 + dt.timedelta(hours=2))["lock"] is None


LEASE = dt.timedelta(minutes=2)
ALIVE, DEAD = "host-a:11:aaaa1111", "host-b:22:bbbb2222"


def _two_workers(engine: Engine) -> list[int]:
    """Two send processes on one issue since T0: each has 50 deliveries claimed."""
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 7)
        force_state(conn, DAY, EditionState.SENDING)
    add_many(engine, 400)
    with engine.begin() as conn:
        for owner, ids in ((ALIVE, range(1, 51)), (DEAD, range(51, 101))):
            sendruns.start(
                conn, DAY, owner, total=400, resend_unknown=False, now=T0, lease=LEASE
            )
            ledger.claim_batch(conn, DAY, list(ids), owner=owner, now=T0, lease=LEASE)
        ledger.finish_batch(conn, DAY, ALIVE, Outcomes(sent=[(i, "m") for i in range(1, 21)]),
                            now=T0)  # fmt: skip
    return list(range(1, 401))


def test_a_live_send_is_in_flight_not_unknown_with_its_workers(env_settings: Path) -> None:
    engine = _store(env_settings)
    _two_workers(engine)
    later = T0 + dt.timedelta(seconds=100)
    with engine.begin() as conn:  # one worker beats and reports 300 sent; the other is silent
        sendruns.beat(conn, DAY, ALIVE, sendruns.Counts(300, 0, 0), now=later, lease=LEASE)
        ledger.finish_batch(conn, DAY, ALIVE, Outcomes(sent=[(i, "m") for i in range(21, 31)]),
                            now=later)  # fmt: skip
    during = issue_status(engine, DAY, now=T0 + dt.timedelta(seconds=60))
    assert during["deliveries"]["unknown"] == 0  # nobody's lease has run out yet
    assert during["in_flight"] == 70
    assert during["lock"] is None  # no lock while sending: the leases are the guarantee
    send = during["send"]
    assert send["live"] is True
    assert [w["owner"] for w in send["workers"]] == [ALIVE, DEAD]
    assert send["started_at"] == "2026-11-27T06:30:00+00:00"
    assert send["ended_at"] is None
    # Past the dead one's lease: its rows are unknown, and it is named as lost.
    after = issue_status(engine, DAY, now=T0 + dt.timedelta(seconds=150))
    assert after["deliveries"]["unknown"] == 50
    assert after["in_flight"] == 20
    send = after["send"]
    assert [w["owner"] for w in send["workers"]] == [ALIVE]
    worker = send["workers"][0]
    assert (worker["in_flight"], worker["delivered"], worker["rate_per_second"]) == (20, 300, 3.0)
    assert send["lost"] == [
        {
            "owner": DEAD,
            "started_at": "2026-11-27T06:30:00+00:00",
            "last_beat": "2026-11-27T06:30:00+00:00",
            "unknown": 50,
            "delivered": 0,
        }
    ]
    # 30 sent; 300 never tried; 300 messages in 100 s: 100 s to go.
    assert send["progress"] == {"done": 30, "total": 400}
    assert (send["rate_per_second"], send["eta_seconds"]) == (3.0, 100)
    lines = text_lines(after)
    assert "  sending since 2026-11-27T06:30:00+00:00: 30/400, 3.0 messages/s, eta 1m40s" in lines
    assert f"  worker {ALIVE}: 20 in flight, sent 300" in lines
    died = [line for line in lines if line.startswith(f"  died mid-send: {DEAD}")]
    assert len(died) == 1
    assert "left 50 unknown" in died[0]


def test_a_paused_send_says_why(settings: Settings, tmp_path: Path) -> None:
    engine = open_store(settings.store_url)
    add_many(engine, 3)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 7)
    mailing = sample_mailing(DAY)
    blocked = ScriptedTransport([SendingBlocked("SES refuses to send (AccountSuspended)")])
    report = send_issue(engine, blocked, mailing, options=SendOptions(concurrency=1))
    assert report.paused == "SES refuses to send (AccountSuspended)"
    status = issue_status(engine, DAY)
    assert status["state"] == "paused"
    assert status["send"]["paused_reason"] == "SES refuses to send (AccountSuspended)"
    assert status["send"]["live"] is False
    assert status["send"]["ended_at"] is not None
    assert "  paused: SES refuses to send (AccountSuspended); `morningpost send` resumes" in (
        text_lines(status)
    )


def test_a_draft_waiting_for_approval_says_until_when(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _store(env_settings)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 3)
    monkeypatch.setenv("MORNINGPOST_REQUIRE_APPROVAL", "true")
    monkeypatch.setenv("MORNINGPOST_TIMEZONE", "Europe/London")
    monkeypatch.setenv("MORNINGPOST_CUTOFF_TIME", "10:00")
    status = json.loads(invoke("status", "--date", "2026-11-27", "--json").output)
    assert status["state"] == "draft"
    waiting = status["waiting_for_approval"]
    # 10:00 in London in November is 10:00 UTC; in July it would be 09:00 UTC.
    assert (waiting["until"], waiting["timezone"]) == ("2026-11-27T10:00:00+00:00", "Europe/London")
    cutoff = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    approval = Approval(required=True, cutoff=cutoff, zone="Europe/London")
    before = issue_status(engine, DAY, now=cutoff - dt.timedelta(hours=1), approval=approval)
    assert before["waiting_for_approval"]["cut_off"] is False
    assert text_lines(before)[1] == (
        "  waiting for approval until the cut-off 2026-11-27T10:00:00+00:00 (Europe/London):"
        " `morningpost approve`"
    )
    past = issue_status(engine, DAY, now=cutoff, approval=approval)
    assert text_lines(past)[1].startswith("  not approved by the cut-off")
    # Without required approval, a draft is just a draft.
    free = Approval(required=False, cutoff=cutoff, zone="Europe/London")
    assert issue_status(engine, DAY, approval=free)["waiting_for_approval"] is None


def test_approval_shows_in_text_and_json(env_settings: Path) -> None:
    engine = _store(env_settings)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 3)
        editions.approve(conn, DAY, by="ada")
    text = invoke("status", "--date", "2026-11-27").output
    assert "2026-11-27: #3 approved" in text
    assert "approved by ada at 20" in text
    status = json.loads(invoke("status", "--date", "2026-11-27", "--json").output)
    assert status["approved_by"] == "ada"
    assert dt.datetime.fromisoformat(status["approved_at"]).tzinfo is not None


def test_status_of_a_send_in_progress_is_in_flight_with_its_owner(settings: Settings) -> None:
    engine = open_store(settings.store_url)
    with engine.begin() as conn:
        editions.ensure(conn, DAY, 7)
    add_many(engine, 9)
    mailing = sample_mailing(DAY)
    gate = Gate()
    owner = "host-c:33:cccc3333"
    live = threading.Thread(
        target=send_issue,
        args=(engine, gate, mailing),
        kwargs={"options": SendOptions(concurrency=1), "owner": owner},
    )
    live.start()
    try:
        assert gate.in_call.wait(30)
        status = issue_status(engine, DAY)
    finally:
        gate.release.set()
        live.join(30)
    assert status["state"] == "sending"
    assert (status["in_flight"], status["deliveries"]["unknown"]) == (3, 0)
    assert status["send"]["live"] is True
    assert [(w["owner"], w["in_flight"]) for w in status["send"]["workers"]] == [(owner, 3)]
    done = issue_status(engine, DAY)
    assert (done["state"], done["in_flight"], done["send"]["live"]) == ("sent", 0, False)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0s"), (42, "42s"), (59.6, "1m00s"), (185, "3m05s"), (3599, "59m59s"), (7620, "2h07m")],
)
def test_a_time_left_is_written_as_an_operator_reads_it(seconds: float, words: str) -> None:
    # One writer for the status line and the send's progress line.
    assert duration(seconds) == words
