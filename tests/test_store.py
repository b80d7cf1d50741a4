from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, select

from emails.errors import InvalidAddress, SubscriberError
from subscribers.addresses import mask, normalise
from subscribers.store import editions, ledger, schema
from subscribers.store.engine import open_store
from subscribers.store.migrations import MIGRATIONS, schema_migrations
from subscribers.store.roster import add_subscriber, count, iter_active
from subscribers.store.states import EditionState, SubscriberStatus
from subscribers.tokens import (
    ConfirmToken,
    make_confirm_token,
    make_token,
    read_confirm_token,
    read_token,
)
from tests.store_helpers import claim, force_state, mark_failed, mark_sent

DAY = dt.date(2026, 11, 27)


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


def test_open_creates_the_file_and_records_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'mp.db'}"
    engine = open_store(url)
    assert (tmp_path / "nested" / "mp.db").exists()
    assert {"subscribers", "editions", "deliveries"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        recorded = list(conn.scalars(select(schema_migrations.c.number)))
    assert recorded == [m.number for m in MIGRATIONS]
    open_store(url)  # a second open applies nothing and fails on nothing
    with engine.connect() as conn:
        assert list(conn.scalars(select(schema_migrations.c.number))) == recorded


def test_address_normalisation_keeps_local_part_and_lowers_domain() -> None:
    address = normalise("  Ada.Lovelace@Example.COM ")
    assert address.email == "Ada.Lovelace@example.com"
    assert address.key == "ada.lovelace@example.com"


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "two@@example.com", "a b@example.com"])
def test_invalid_addresses_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidAddress, match="is not a valid address"):
        normalise(raw)


def test_mask_hides_the_local_part() -> None:
    assert mask("ada.lovelace@example.com") == "a***********@example.com"
    assert "lovelace" not in mask("ada.lovelace@example.com")


def test_duplicate_in_other_case_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "ada@example.com")
    with engine.begin() as conn, pytest.raises(SubscriberError, match="already on the list"):
        add_subscriber(conn, "ADA@EXAMPLE.COM")
    with engine.connect() as conn:
        assert count(conn) == 1


def test_iter_active_streams_in_id_order_across_pages(engine: Engine) -> None:
    with engine.begin() as conn:
        for i in range(23):
            status = SubscriberStatus.UNSUBSCRIBED if i % 5 == 0 else SubscriberStatus.ACTIVE
            add_subscriber(conn, f"reader{i}@example.com", status=status)
    got = list(iter_active(engine, batch_size=4))
    assert [s.email for s in got] == [f"reader{i}@example.com" for i in range(23) if i % 5 != 0]
    assert [s.id for s in got] == sorted(s.id for s in got)


def test_count_by_status(engine: Engine) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "a@example.com")
        add_subscriber(conn, "b@example.com", status=SubscriberStatus.BOUNCED)
    with engine.connect() as conn:
        assert (
            count(conn),
            count(conn, SubscriberStatus.ACTIVE),
            count(conn, SubscriberStatus.BOUNCED),
        ) == (2, 1, 1)


def test_issue_numbers_are_kept_per_date_and_grow(engine: Engine) -> None:
    with engine.begin() as conn:
        first = editions.issue_number(conn, DAY)
        again = editions.issue_number(conn, DAY)
        force_state(conn, DAY, EditionState.SENT)  # numbers follow the last issue sent
        second = editions.issue_number(conn, DAY + dt.timedelta(days=1))
    assert (first, again, second) == (1, 1, 2)


def test_ledger_claims_each_delivery_once(engine: Engine) -> None:
    with engine.begin() as conn:
        sid = add_subscriber(conn, "a@example.com")
        editions.issue_number(conn, DAY)
        assert claim(conn, DAY, sid) is True
        assert claim(conn, DAY, sid) is False  # in flight: never claimed twice
        mark_sent(conn, DAY, sid, "msg-1")
        assert claim(conn, DAY, sid) is False
        assert ledger.counts(conn, DAY) == {
            "pending": 0,
            "sending": 0,
            "sent": 1,
            "failed": 0,
            "skipped": 0,
        }


def test_a_failed_delivery_can_be_claimed_again(engine: Engine) -> None:
    with engine.begin() as conn:
        sid = add_subscriber(conn, "a@example.com")
        editions.issue_number(conn, DAY)
        claim(conn, DAY, sid)
        mark_failed(conn, DAY, sid, "MessageRejected: " + "x" * 2000)
        assert claim(conn, DAY, sid) is True
        row = conn.execute(select(schema.deliveries)).one()
    assert (row.state, row.attempts) == ("sending", 2)
    assert len(row.last_error) == 500


def test_two_stores_on_one_file_never_both_claim(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mp.db'}"
    one, two = open_store(url), open_store(url)
    with one.begin() as conn:
        sid = add_subscriber(conn, "a@example.com")
        editions.issue_number(conn, DAY)
    with one.begin() as c1:
        first = claim(c1, DAY, sid)
    with two.begin() as c2:
        second = claim(c2, DAY, sid)
    assert (first, second) == (True, False)


@given(st.integers(min_value=0, max_value=2**53))
def test_tokens_round_trip(subscriber_id: int) -> None:
    token = make_token("k", subscriber_id)
    assert read_token("k", token) == subscriber_id
    assert token.isascii()
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "@" not in token


@given(
    st.integers(min_value=0, max_value=2**53),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)
def test_confirm_tokens_round_trip_with_their_stamp(subscriber_id: int, when: dt.datetime) -> None:
    stamp = when.replace(tzinfo=dt.UTC)
    token = make_confirm_token("k", subscriber_id, stamp)
    assert read_confirm_token("k", token) == ConfirmToken(subscriber_id, stamp)
    assert read_token("k", token) is None
    assert all(c.isalnum() or c in "-_." for c in token)


def test_unsubscribe_tokens_are_those_of_every_issue_already_sent() -> None:
    # Links in issues already in inboxes must keep working: the format is frozen.
    assert make_token("k", 12345) == "9ix.JF5bUSqUVzXJwe0dczP1Jw"


@given(st.integers(min_value=0, max_value=10**9), st.data())
def test_tampered_tokens_name_nobody(subscriber_id: int, data: st.DataObject) -> None:
    token = make_token("k", subscriber_id)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    assert read_token("k", tampered) in (None,)


def test_tokens_are_bound_to_key_and_purpose() -> None:
    token = make_token("k", 42)
    assert read_token("other-key", token) is None
    assert read_confirm_token("k", token) is None
    assert read_token("k", "") is None
    assert read_token("k", "42") is None
    assert read_token("k", "0" + token) is None


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    import datetime as _dt

    from sqlalchemy import create_engine, text

    from subscribers.store.migrations import _ledger

    url = f"sqlite:///{tmp_path / 'v1.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # the store as migration 1 alone left it, with one reader
        _ledger.create_all(conn)
        MIGRATIONS[0].apply(conn)
        conn.execute(
            schema_migrations.insert().values(
                number=1, name=MIGRATIONS[0].name, applied_at=_dt.datetime.now(_dt.UTC)
            )
        )
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, status, source, created_at,"
                " updated_at) VALUES ('ada@example.com', 'ada@example.com', 'Ada', 'active',"
                " 'cli', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    old.dispose()
    engine = open_store(url)
    with engine.connect() as conn:
        recorded = list(conn.scalars(select(schema_migrations.c.number)))
        row = conn.execute(select(schema.subscribers)).one()
    assert recorded == [m.number for m in MIGRATIONS]
    assert recorded[:2] == [1, 2]
    assert (row.email, row.status, row.transient_bounces, row.confirm_sent_at) == (
        "ada@example.com",
        "active",
        0,
        None,
    )
    assert "feedback_events" in inspect(engine).get_table_names()


def test_migration_1_is_frozen_whatever_the_schema_says_now(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'm1.db'}")
    with engine.begin() as conn:
        MIGRATIONS[0].apply(conn)
    columns = {c["name"] for c in inspect(engine).get_columns("subscribers")}
    assert "transient_bounces" not in columns
    assert "feedback_events" not in inspect(engine).get_table_names()


def test_an_outer_rollback_undoes_a_nested_insert(engine: Engine) -> None:
    conn = engine.connect()
    outer = conn.begin()
    add_subscriber(conn, "nested@example.com")  # runs in a SAVEPOINT
    outer.rollback()
    conn.close()
    with engine.connect() as conn:
        assert count(conn) == 0


def test_processes_opening_a_new_store_at_once_all_succeed(store_url: str) -> None:
    import subprocess
    import sys

    url = store_url
    code = "import sys; from subscribers.store.engine import open_store; open_store(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    with open_store(url).connect() as conn:
        assert list(conn.scalars(select(schema_migrations.c.number))) == sorted(
            m.number for m in MIGRATIONS
        )
