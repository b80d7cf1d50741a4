"""Chaos: real ``morningpost`` processes sending one issue at once, killed with SIGKILL.

A ``send`` runs throughout (rate-limited, never killed: the live send). Beside it, groups of
``send``, ``send --resend-unknown`` and ``run`` processes start, and each is killed at a
point drawn by a seeded generator (so the plan is the same on every run): once it has
registered its run and claimed a drawn number of deliveries.
Then the live send is stopped (SIGTERM), the dead processes' leases run out, a ``send``
finishes the list and reports the unknowns, and a ``send --resend-unknown`` settles them.

At the end every reader has the issue, and a reader has two copies only if a killed
process held its delivery when it died (an unknown: its copy may have left, and the
resend sent it again). Nothing a live process held was ever resent. The issue is
``incomplete`` while unknowns remain, ``sent`` after.

Run alone with ``pytest -m chaos``; the rest of the suite runs it too.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.states import DeliveryState, EditionState, RunState
from tests.conftest import TEST_KEY
from tests.fake_ses import FakeSes
from tests.polling import until
from tests.test_send_ses import DAY, ROOT, _address, add_readers, publish_issue

pytestmark = pytest.mark.chaos

SEED = 20261313
KILLS = 20
AT_ONCE = 4  # processes started together, each killed at its own point
READERS = 8000
LEASE_SECONDS = 5  # short, so the dead's deliveries turn unknown within the test
KINDS = (
    ("send",),
    ("send", "--resend-unknown"),
    ("run",),
)


@dataclass
class Chaos:
    engine: Engine
    watch: Engine  # the test's own reads while processes send: no write lock taken
    fake: FakeSes
    env: dict[str, str]
    # How many killed processes held each delivery when they died: each time, its copy may
    # have left, and a resend sends it again.
    held_by_the_dead: collections.Counter[int] = field(default_factory=collections.Counter)
    kills: list[tuple[str, int, int]] = field(default_factory=list)  # kind, point, held

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", "from pipeline.cli import main; main()", *args]
        return subprocess.Popen(
            [*command, "--date", DAY.isoformat()],
            env=self.env | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def kill_each(self, procs: list[tuple[subprocess.Popen[bytes], str, int]]) -> None:
        """SIGKILL each process once it has claimed its drawn number of deliveries; all of
        them running at once."""
        waiting = {proc.pid: (proc, kind, point) for proc, kind, point in procs}
        deadline = time.monotonic() + 60
        while waiting:
            assert time.monotonic() < deadline, f"no kill point reached: {list(waiting)}"
            claimed = self.claimed()
            for pid, (proc, kind, point) in list(waiting.items()):
                owner = next((o for o in claimed if f":{pid}:" in o), None)
                if proc.poll() is not None and owner is None and kind == "run":
                    # ``run`` refuses while another process holds the issue's lock (it was
                    # starting): the scheduler or cron would try again, and so do we.
                    # (Or the holder let go between its try and its look: "busy a moment ago".)
                    refusal = _err(proc)
                    assert "is held by" in refusal or "busy a moment ago" in refusal, refusal
                    del waiting[pid]
                    again = self.start(kind)
                    waiting[again.pid] = (again, kind, point)
                elif owner is not None and claimed[owner] >= point:
                    self._kill(proc, kind, point, owner)
                    del waiting[pid]
                else:
                    assert proc.poll() is None, f"{kind} ended before its kill point: {_err(proc)}"
            time.sleep(0.05)  # other processes' progress sends no event to wait on

    def claimed(self) -> dict[str, int]:
        """Deliveries each running run claimed so far (it stays their owner once it settled
        them), read without taking the store's write lock."""
        r, d = schema.send_runs, schema.deliveries
        running = select(r.c.owner).where(r.c.state == RunState.RUNNING)
        query = (
            select(r.c.owner, func.count(d.c.id))
            .select_from(r.outerjoin(d, d.c.owner == r.c.owner))
            .where(r.c.owner.in_(running))
            .group_by(r.c.owner)
        )
        with self.watch.connect() as conn:
            return {str(owner): int(n) for owner, n in conn.execute(query)}

    def _kill(self, proc: subprocess.Popen[bytes], kind: str, point: int, owner: str) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        held = self.rows_held_by(owner)
        self.held_by_the_dead.update(held)
        self.kills.append((kind, point, len(held)))

    def rows_held_by(self, owner: str) -> set[int]:
        d = schema.deliveries
        query = select(d.c.subscriber_id).where(
            d.c.state == DeliveryState.SENDING, d.c.owner == owner
        )
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def tally(self) -> ledger.Tally:
        with self.engine.connect() as conn:
            return ledger.tally(conn, DAY, now=dt.datetime.now(dt.UTC))


def _err(proc: subprocess.Popen[bytes]) -> str:
    return (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")[-500:]


def test_sigkill_at_twenty_points_beside_a_live_send_sends_everyone_once(
    store_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    publish_issue(data)
    engine = open_store(store_url)
    add_readers(engine, READERS)
    rng = random.Random(SEED)
    plan = [(rng.choice(KINDS), rng.randint(1, 200)) for _ in range(KILLS)]
    assert ("send", "--resend-unknown") in {kind for kind, _ in plan}
    with FakeSes(latency=0.02) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MORNINGPOST_")} | {
            "MORNINGPOST_DATA_DIR": str(data),
            "MORNINGPOST_DATABASE_URL": store_url,
            "MORNINGPOST_SECRET_KEY": TEST_KEY,
            "MORNINGPOST_TRANSPORT": "ses",
            "MORNINGPOST_SEND_CONCURRENCY": "4",
            "MORNINGPOST_MAX_SEND_RATE": "1000",
            "MORNINGPOST_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
            "AWS_ENDPOINT_URL_SESV2": fake.url,
            "PYTHONPATH": str(ROOT),
        }
        chaos = Chaos(engine, create_engine(store_url), fake, env)
        live = chaos.start("send", MORNINGPOST_MAX_SEND_RATE="20")
        for first in range(0, KILLS, AT_ONCE):
            group = plan[first : first + AT_ONCE]
            chaos.kill_each([(chaos.start(*kind), " ".join(kind), point) for kind, point in group])
        assert live.poll() is None, f"the live send ended early: {_err(live)}"
        live.send_signal(signal.SIGTERM)  # a clean stop: its calls in flight are recorded
        assert live.wait(timeout=60) == 1
        assert b"the send was stopped" in (live.stderr.read() if live.stderr else b"")
        fake.wait_for(lambda f: f.inflight == 0, timeout=30)
        assert len(chaos.kills) == KILLS
        assert any(held for _, _, held in chaos.kills), "no kill caught a call in flight"

        # The dead's leases run out: what they held is unknown; a send finishes the rest.
        until(lambda: chaos.tally().in_flight == 0, LEASE_SECONDS * 4)
        unknown = chaos.tally().unknown
        assert 0 < unknown <= len(chaos.held_by_the_dead)  # unknown: held when they died
        rest = _finish(chaos, "send")
        assert rest.returncode == 1, rest.stderr
        assert f"unknown {unknown} in" in rest.stdout
        assert "the issue is incomplete" in rest.stderr
        counts = chaos.tally()
        assert (counts.unknown, counts.pending, counts.in_flight) == (unknown, 0, 0)
        with engine.connect() as conn:
            assert editions.state(conn, DAY) == EditionState.INCOMPLETE

        resend = _finish(chaos, "send", "--resend-unknown")
        assert resend.returncode == 0, resend.stderr
        got = fake.recipients()

    everyone = {_address(i) for i in range(READERS)}
    assert set(got) == everyone
    # A copy more than one only where a dead process held the delivery, once per death.
    extra = {i: got[_address(i - 1)] - 1 for i in range(1, READERS + 1)}
    assert {i: n for i, n in extra.items() if n > chaos.held_by_the_dead[i]} == {}
    assert chaos.tally() == ledger.Tally(sent=READERS)
    with engine.connect() as conn:
        assert editions.state(conn, DAY) == EditionState.SENT


def _finish(chaos: Chaos, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pipeline.cli import main; main()", *args]
    env = chaos.env | {"MORNINGPOST_MAX_SEND_RATE": "5000"}
    return subprocess.run(
        [*command, "--date", DAY.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
