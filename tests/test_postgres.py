"""The store on PostgreSQL: what the SQLite-only tests cannot show.

The store tests elsewhere run on every backend through the ``store_url`` fixture (conftest);
these add what needs a server to mean anything: a schema built from nothing by the
migrations, claimers racing on two engines, a bulk import, and the whole CLI run. They run
on SQLite too, except the CLI run, which ``tests/test_cli.py`` already covers there.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, inspect, select

from subscribers import lifecycle
from subscribers.csvio import export_csv, import_csv
from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.ledger import Outcomes
from subscribers.store.migrations import MIGRATIONS, schema_migrations
from subscribers.store.roster import add_subscriber, count, get_subscriber, iter_active
from subscribers.store.stamps import now as utc_now
from subscribers.store.states import SubscriberStatus
from subscribers.tokens import ConfirmToken
from tests.drafts import draft_from_recordings
from tests.test_cli import DATE, _outbox, invoke

READERS = 3

DAY = dt.date(2026, 11, 27)
LEASE = dt.timedelta(minutes=2)
T = TypeVar("T")


def test_migrations_build_the_schema_from_nothing(store_url: str) -> None:
    engine = open_store(store_url)
    found = inspect(engine)
    for table in schema.metadata.sorted_tables:  # the migrations and ``schema`` agree
        columns = {c["name"] for c in found.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
    with engine.connect() as conn:
        recorded = list(conn.scalars(select(schema_migrations.c.number)))
    assert sorted(recorded) == [m.number for m in MIGRATIONS]
    reopened = open_store(store_url)  # a second open applies nothing and fails on nothing
    with reopened.begin() as conn:
        assert sorted(conn.scalars(select(schema_migrations.c.number))) == sorted(recorded)
        sid = add_subscriber(conn, "ada@example.com", name="Ada")
        row = conn.execute(select(schema.subscribers).where(schema.subscribers.c.id == sid)).one()
    assert (row.transient_bounces, row.confirm_sent_at) == (0, None)  # the column defaults


def _race(*workers: Callable[[], T]) -> list[T]:
    """Run ``workers`` in threads at once; their results, or the first error raised."""
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = workers[i]()
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a claimer never finished"
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(workers))]


def test_two_engines_claiming_at_once_never_both_claim(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)  # two processes, as far as the
    with one.begin() as conn:  # database can tell: separate pools, separate connections
        editions.ensure(conn, DAY, 1)
        ids = [add_subscriber(conn, f"reader{i}@example.com") for i in range(120)]
        conn.execute(  # a few left since the list was read: skipped, by whoever gets them
            schema.subscribers.update()
            .where(schema.subscribers.c.id.in_(ids[::10]))
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    chunks = [ids[i : i + 30] for i in range(0, len(ids), 30)]
    barrier = threading.Barrier(2, timeout=30)

    def claimer(engine: Engine, owner: str, release: bool) -> tuple[set[int], set[int]]:
        claimed: set[int] = set()
        skipped: set[int] = set()
        for chunk in chunks:
            barrier.wait()  # both claim the same chunk at the same moment
            with engine.begin() as conn:
                got = ledger.claim_batch(
                    conn, DAY, chunk, owner=owner, now=utc_now(), lease=LEASE
                )
            barrier.wait()  # neither finishes (or releases) a row before both claimed
            with engine.begin() as conn:
                outcome = [(i, "x") for i in got.claimed]
                # Round one hands the rows back: round two claims by UPDATE.
                done = Outcomes(released=outcome) if release else Outcomes(sent=outcome)
                ledger.finish_batch(conn, DAY, owner, done, now=utc_now())
            claimed |= got.claimed
            skipped |= got.skipped
        return claimed, skipped

    inactive = set(ids[::10])
    for release in (True, False):  # the INSERT path, then the UPDATE path
        (a, a_skipped), (b, b_skipped) = _race(
            partial(claimer, one, "one", release), partial(claimer, two, "two", release)
        )
        assert not a & b, "a delivery was claimed by both"
        assert a | b == set(ids) - inactive
        if release:
            assert a_skipped | b_skipped == inactive
    with one.connect() as conn:
        assert ledger.counts(conn, DAY)["sent"] == len(ids) - len(inactive)
        assert ledger.counts(conn, DAY)["skipped"] == len(inactive)


def test_a_few_thousand_rows_import_and_export_alike(store_url: str) -> None:
    engine = open_store(store_url)
    rows = [f"reader{i}@example.com,Reader {i}," for i in range(3000)]
    rows[1234] = "reader17@EXAMPLE.com,Again,"  # a duplicate across batches
    rows[2500] = "reader2500@example.com,Left,unsubscribed"
    text = "email,name,status\n" + "\n".join(rows)
    report = import_csv(engine, io.BytesIO(text.encode()))
    assert (report.imported, [line for line, _ in report.skipped]) == (2999, [1236])
    with engine.connect() as conn:
        assert (count(conn), count(conn, SubscriberStatus.UNSUBSCRIBED)) == (2999, 1)
    assert len(list(iter_active(engine, batch_size=700))) == 2998
    out = io.StringIO()
    assert export_csv(engine, out) == 2999
    again = import_csv(engine, io.BytesIO(out.getvalue().encode()))  # reads back unchanged
    assert (again.imported, again.updated, len(again.skipped)) == (0, 0, 2999)


def test_a_subscriber_lifecycle(store_url: str) -> None:
    engine = open_store(store_url)
    window = dt.timedelta(hours=1)
    with engine.begin() as conn:
        first = lifecycle.request_subscription(conn, "Ada@Example.com", "Ada", resend_after=window)
        again = lifecycle.request_subscription(conn, "ada@example.com", None, resend_after=window)
        assert (first.send_confirmation, again.send_confirmation) == (True, False)
        assert first.stamp is not None
        link = ConfirmToken(first.subscriber_id, first.stamp)
        assert lifecycle.confirm(conn, link) is lifecycle.Outcome.DONE
        assert lifecycle.confirm(conn, link) is lifecycle.Outcome.ALREADY
        assert lifecycle.unsubscribe(conn, first.subscriber_id) is lifecycle.Outcome.DONE
        assert lifecycle.confirm(conn, link) is lifecycle.Outcome.REFUSED
        back = lifecycle.request_subscription(conn, "ada@example.com", None, resend_after=window)
        subscriber = get_subscriber(conn, first.subscriber_id)
    assert back.subscriber_id == first.subscriber_id
    assert subscriber is not None
    assert subscriber.status == SubscriberStatus.PENDING


def test_a_send_on_postgres_reaches_each_reader_once_and_samples_stay_off_it(
    postgres_url: str, env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORNINGPOST_DATABASE_URL", postgres_url)
    draft_from_recordings(DATE)
    assert invoke("render", "--date", DATE).exit_code == 0
    for n in range(READERS):
        assert invoke("subscribers", "add", f"reader{n}@example.com").exit_code == 0
    first = invoke("send", "--date", DATE)
    assert first.exit_code == 0, first.output + first.stderr
    assert f"Delivered {READERS} " in first.output
    again = invoke("send", "--date", DATE)
    assert again.exit_code == 0, again.output + again.stderr
    assert "Delivered 0 " in again.output
    recipients = [m["To"].addresses[0].addr_spec for m in _outbox(env_settings)]
    assert len(recipients) == len(set(recipients)) == READERS
    assert not (env_settings / "morningpost.db").exists()  # the store really was PostgreSQL
    status = json.loads(invoke("status", "--date", DATE, "--json").output)
    assert (status["state"], status["number"]) == ("sent", 1)
    assert status["deliveries"]["sent"] == READERS
    # A sample run never uses MORNINGPOST_DATABASE_URL: PostgreSQL stays as it was.
    assert invoke("run", "--sample", "--date", DATE).exit_code == 0
    assert json.loads(invoke("status", "--date", DATE, "--json").output) == status
    assert invoke("subscribers", "count").output.strip() == str(READERS)
