"""``morningpost status``: state, deliveries, rate, errors and the lock, for people and machines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import update

from pipeline.cli import main
from pipeline.status import issue_status, text_lines
from subscribers.store import editions, locks, schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.store.states import EditionState
from tests.store_helpers import claim, force_state, mark_failed, mark_sent

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
        for sid in ids:
            assert claim(conn, DAY, sid)
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
    assert "pending 0, sent 3, failed 2, skipped 0, unknown 1" in lines[1]
    assert any("rate 0.2 messages/s" in line for line in lines)
    assert any(line.startswith("  in progress: host:9") for line in lines)
    # Once the lease ran out (a crashed holder), no one holds the issue.
    assert issue_status(engine, DAY, now=T0 + dt.timedelta(hours=2))["lock"] is None


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
