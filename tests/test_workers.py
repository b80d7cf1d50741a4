"""Three real ``morningpost send`` workers on one issue; one is killed (SIGKILL) mid-send.

The other two split the rest of the list between them and finish; no reader gets a copy
twice (counted at the fake SES); the dead worker's deliveries in flight are reported as
unknown (the survivors' summaries, ``status``), and only a resend takes them, once the
dead worker's lease has run out. Runs on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, create_engine, func, select

from emails.errors import EditionError
from pipeline import jobs
from pipeline.context import Context
from pipeline.settings import Settings
from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.states import DeliveryState, EditionState, RunState
from tests.conftest import TEST_KEY
from tests.fake_ses import FakeSes
from tests.polling import until
from tests.test_send_ses import DAY, ROOT, _address, add_readers, publish_issue

READERS = 3600
RATE = 600  # messages/s for the account, shared by the workers sending
# Seconds a claimed delivery stays its worker's without a heartbeat. The survivors cannot
# be done sooner than the rate lets them: with the kill early, the rest of the list takes
# them longer than this, so the dead worker's lease has run out by the time they end.
LEASE = 4
LATENCY = 0.2  # seconds per call at the fake: a worker has a call in flight most of the time

T = TypeVar("T")


def _in_flight_by_owner(watch: Engine) -> dict[str, int]:
    """Deliveries each running worker holds in ``sending`` now."""
    r, d = schema.send_runs, schema.deliveries
    query = (
        select(d.c.owner, func.count())
        .where(
            d.c.issue_date == DAY.isoformat(),
            d.c.state == DeliveryState.SENDING,
            d.c.owner.in_(select(r.c.owner).where(r.c.state == RunState.RUNNING)),
        )
        .group_by(d.c.owner)
    )
    with watch.connect() as conn:
        return {str(owner): int(n) for owner, n in conn.execute(query)}


def _running(watch: Engine) -> list[str]:
    """The owners of the runs sending the issue now."""
    r = schema.send_runs
    query = select(r.c.owner).where(
        r.c.issue_date == DAY.isoformat(), r.c.state == RunState.RUNNING
    )
    with watch.connect() as conn:
        return [str(owner) for owner in conn.scalars(query)]


def _held_by(engine: Engine, owner: str) -> tuple[set[int], dt.datetime]:
    """The subscribers whose delivery ``owner`` holds, and when its lease on them ends."""
    d = schema.deliveries
    query = select(d.c.subscriber_id, d.c.lease_until).where(
        d.c.issue_date == DAY.isoformat(), d.c.state == DeliveryState.SENDING, d.c.owner == owner
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {row.subscriber_id for row in rows}, max((row.lease_until for row in rows), default=_NO)


_NO = dt.datetime.min.replace(tzinfo=dt.UTC)


def _utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def test_one_of_three_workers_killed_mid_send(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "var"
    publish_issue(data)
    engine = open_store(store_url)
    watch = create_engine(store_url)  # reads while the workers send
    add_readers(engine, READERS)
    with FakeSes(latency=LATENCY) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")} | {
            "MORNINGPOST_DATA_DIR": str(data),
            "MORNINGPOST_DATABASE_URL": store_url,
            "MORNINGPOST_SECRET_KEY": TEST_KEY,
            "MORNINGPOST_TRANSPORT": "ses",
            "MORNINGPOST_MAX_SEND_RATE": str(RATE),
            "MORNINGPOST_SEND_LEASE_SECONDS": str(LEASE),
            "AWS_ENDPOINT_URL_SESV2": fake.url,
            "PYTHONPATH": str(ROOT),
        }

        def start(*args: str) -> subprocess.Popen[str]:
            command = [sys.executable, "-c", "from pipeline.cli import main; main()", *args]
            return subprocess.Popen(
                [*command, "--date", DAY.isoformat()],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        workers = {proc.pid: proc for proc in (start("send") for _ in range(3))}

        # The victim: a worker seen holding deliveries in flight, once all three have begun
        # sending (so the other two are sending beside it when it dies).
        def victim() -> str | None:
            holding = _in_flight_by_owner(watch)
            if len(_running(watch)) < 3 or not holding:
                return None
            return max(holding, key=lambda o: holding[o])

        owner = until(victim, 60, "three workers with deliveries in flight")
        dead = next(p for pid, p in workers.items() if f":{pid}:" in owner)
        dead.send_signal(signal.SIGKILL)
        assert dead.wait(timeout=30) == -signal.SIGKILL
        held, lease_end = _held_by(engine, owner)
        assert held, "the kill caught no call in flight"
        with engine.connect() as conn:
            # Under the dead worker's lease: in flight, nobody's to take yet.
            now = dt.datetime.now(dt.UTC)
            assert now < _utc(lease_end), "the lease ran out before the test could look"
            assert ledger.tally(conn, DAY, now=now).unknown == 0

        survivors = [p for p in workers.values() if p is not dead]
        outs = [p.communicate(timeout=60) for p in survivors]
        assert dt.datetime.now(dt.UTC) > _utc(lease_end)  # the rate kept them past it

        # Every reader once, bar those the dead worker held: at most once (its call may or
        # may not have reached SES). The survivors left those alone.
        got = fake.recipients()
        assert max(got.values()) == 1
        assert set(got) >= {_address(i - 1) for i in range(1, READERS + 1) if i not in held}
        assert _held_by(engine, owner)[0] == held
        for proc, (out, err) in zip(survivors, outs, strict=True):
            assert proc.returncode in (0, 1), err
            assert f"unknown {len(held)} in" in out, out + err  # the dead's, by their count
        assert "the issue is incomplete" in "".join(err for _, err in outs)
        with engine.connect() as conn:
            assert editions.state(conn, DAY) == EditionState.INCOMPLETE
            counts = ledger.tally(conn, DAY, now=dt.datetime.now(dt.UTC))
        assert (counts.unknown, counts.in_flight, counts.pending) == (len(held), 0, 0)
        assert counts.sent == READERS - len(held)

        shown = subprocess.run(
            [sys.executable, "-c", "from pipeline.cli import main; main()", "status", "--json",
             "--date", DAY.isoformat()],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        lost = json.loads(shown.stdout)["send"]["lost"]
        assert [(d["owner"], d["unknown"]) for d in lost] == [(owner, len(held))]

        # A resend takes them now that the lease has run out.
        before = fake.recipients()
        resend = start("send", "--resend-unknown")
        out, err = resend.communicate(timeout=60)
        assert resend.returncode == 0, err
        assert f"sent {len(held)}," in out
        got = fake.recipients()

    assert got - before == {_address(i - 1): 1 for i in held}  # only the dead's, once more
    assert set(got) == {_address(i) for i in range(READERS)}
    with engine.connect() as conn:
        assert ledger.tally(conn, DAY, now=dt.datetime.now(dt.UTC)) == ledger.Tally(sent=READERS)
        assert editions.state(conn, DAY) == EditionState.SENT
    watch.dispose()
    engine.dispose()


def test_a_joining_worker_sends_only_beside_a_send_that_began(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The extra workers of a deployment start with `run`, which drafts and checks the
    # approval: until it has begun the send, a joining worker sends nothing.
    publish_issue(settings.data_dir)
    engine = open_store(settings.store_url)
    add_readers(engine, 3)
    ctx = Context(settings, engine=engine)
    ws = ctx.issue(DAY)
    monkeypatch.setattr(jobs, "JOIN_WAIT", dt.timedelta(0))
    with pytest.raises(EditionError, match="no send of the issue of 2026-02-25 began"):
        jobs.send(ctx, ws, join=True)
    assert not ws.outbox.exists() or not any(ws.outbox.rglob("*.eml"))
    with engine.begin() as conn:
        assert editions.state(conn, DAY) is None
        editions.ensure(conn, DAY, 1)
        editions.move(conn, DAY, EditionState.SENDING)  # as `run` leaves it
    report = jobs.send(ctx, ws, join=True)
    assert (report.delivered, report.state) == (3, EditionState.SENT)
    engine.dispose()
