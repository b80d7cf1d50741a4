"""Suppression and personal data: `subscribers show`, `unsuppress`, `erase`, the export's
reason columns, and an erased address that no import, `add` or web form brings back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from emails.errors import ConfigError
from pipeline.cli import main
from subscribers import erasure, lifecycle
from subscribers.csvio import import_csv
from subscribers.feedback.notifications import apply_notification, parse_notification
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.store.states import SubscriberStatus
from tests.conftest import TEST_KEY
from tests.test_feedback_events import DAY, fixture_text, seed
from tests.test_web import RecordingTransport, make_app, web_client

CAT = "cat@example.com"


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


@pytest.fixture
def engine(env_settings: Path) -> Engine:
    return open_store(f"sqlite:///{env_settings / 'morningpost.db'}")


def apply(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        apply_notification(conn, parse_notification(fixture_text(name)), transient_limit=3)


def status_of(engine: Engine, email: str) -> str | None:
    t = schema.subscribers
    with engine.connect() as conn:
        return conn.scalar(select(t.c.status).where(t.c.email_key == email.casefold()))


def rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.metadata.tables[table])))


# -- show ------------------------------------------------------------------------------------


def test_show_says_why_when_and_which_event_suppressed_and_the_last_issues(
    engine: Engine,
) -> None:
    seed(engine)
    apply(engine, "bounce-permanent-cat.json")
    result = invoke("subscribers", "show", "CAT@example.com")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "cat@example.com (subscriber 3)"
    assert lines[1].startswith("  status    bounced since 20")
    assert lines[2] == (
        "  why       Permanent bounce (General) 5.1.1 smtp; 550 5.1.1 <c**@example.com>:"
        " Recipient address rejected: User unknown"
    )
    assert lines[3].startswith("  event     #1 bounce of the issue of 2026-11-27 at 2026-11-27")
    assert "active -> bounced  Permanent bounce" in result.stdout
    assert "[ses]" in result.stdout
    assert "    2026-11-27  sent; SES: bounce (permanent)" in result.stdout


def test_show_of_an_unknown_address_is_one_line(engine: Engine) -> None:
    result = invoke("subscribers", "show", "nobody@example.com")
    assert result.exit_code == 1
    assert result.stderr == "error: nobody@example.com is not on the list\n"


# -- unsuppress ------------------------------------------------------------------------------


def test_a_bounce_is_lifted_with_its_reason_recorded(engine: Engine) -> None:
    seed(engine)
    apply(engine, "bounce-permanent-cat.json")
    result = invoke("subscribers", "unsuppress", CAT, "--reason", "mailbox restored, ticket 7")
    assert result.exit_code == 0, result.output
    assert "cat@example.com: was bounced, now active (reason recorded)" in result.stdout
    assert "delete-suppressed-destination" in result.stdout
    assert status_of(engine, CAT) == SubscriberStatus.ACTIVE
    shown = invoke("subscribers", "show", CAT).stdout
    assert "bounced -> active  suppression lifted: mailbox restored, ticket 7" in shown


def test_a_complaint_is_lifted_only_with_force_and_a_warning(engine: Engine) -> None:
    seed(engine)
    apply(engine, "notification-complaint-eve.json")
    refused = invoke("subscribers", "unsuppress", "eve@example.com", "--reason", "asked")
    assert refused.exit_code == 1
    assert "add --force" in refused.stderr
    assert status_of(engine, "eve@example.com") == SubscriberStatus.COMPLAINED
    forced = invoke("subscribers", "unsuppress", "eve@example.com", "--reason", "asked", "--force")
    assert forced.exit_code == 0, forced.output
    assert forced.stderr.startswith("warning: eve@example.com had complained")
    assert status_of(engine, "eve@example.com") == SubscriberStatus.ACTIVE


@pytest.mark.parametrize("start", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.ACTIVE])
def test_an_unsubscribe_or_an_active_address_is_never_lifted(
    engine: Engine, start: SubscriberStatus
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "ada@example.com", status=start)
    result = invoke("subscribers", "unsuppress", "ada@example.com", "--reason", "x", "--force")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert status_of(engine, "ada@example.com") == start


def test_unsuppress_needs_a_reason(engine: Engine) -> None:
    assert invoke("subscribers", "unsuppress", CAT).exit_code == 2


# -- erase -----------------------------------------------------------------------------------


def test_erase_removes_the_person_and_keeps_only_a_keyed_hash(engine: Engine) -> None:
    seed(engine)
    apply(engine, "bounce-permanent-cat.json")
    before = {t: rows(engine, t) for t in ("subscribers", "deliveries", "events")}
    result = invoke("subscribers", "erase", CAT, stdin="y\n")
    assert result.exit_code == 0, result.output
    assert "erased cat@example.com: the subscriber row, 1 deliveries, 1 SES events and 1 status" \
        in result.stdout  # fmt: skip
    assert "keyed hash" in result.stdout
    assert "not touched: .eml files in the outbox" in result.stdout
    after = {t: rows(engine, t) for t in ("subscribers", "deliveries", "events")}
    assert after == {t: n - 1 for t, n in before.items()}
    with engine.connect() as conn:
        kept = list(conn.scalars(select(schema.erased.c.fingerprint)))
        history = conn.scalar(select(func.count()).select_from(schema.status_history))
    assert kept == [erasure.fingerprint(TEST_KEY, CAT)]
    assert CAT not in kept[0]
    assert history == 0
    engine.dispose()  # checkpoints the WAL into the file
    database = Path(engine.url.database or "")
    files = [database, database.with_name(database.name + "-wal")]
    dump = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"cat@example.com" not in dump  # secure_delete: no copy left in free pages


def test_erase_asks_first_and_needs_the_key(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, CAT)
    assert invoke("subscribers", "erase", CAT, stdin="n\n").exit_code == 1
    assert status_of(engine, CAT) == SubscriberStatus.ACTIVE
    monkeypatch.delenv("MORNINGPOST_SECRET_KEY")
    result = invoke("subscribers", "erase", CAT, "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: MORNINGPOST_SECRET_KEY is not set")


def test_an_erased_address_cannot_return_through_add(engine: Engine) -> None:
    assert invoke("subscribers", "add", CAT).exit_code == 0
    assert invoke("subscribers", "erase", CAT, "--yes").exit_code == 0
    result = invoke("subscribers", "add", "Cat@Example.com")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: Cat@example.com was erased at the person's request: it cannot be added again\n"
    )
    assert status_of(engine, CAT) is None


def test_an_erased_address_cannot_return_through_import(engine: Engine, tmp_path: Path) -> None:
    assert invoke("subscribers", "erase", CAT, "--yes").exit_code == 0  # never on the list
    path = tmp_path / "list.csv"
    path.write_text("email,name\nada@example.com,Ada\nCAT@example.com,Cat\n", "utf-8")
    result = invoke("subscribers", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 1, updated 0, skipped 1" in result.stdout
    assert "line 3: erased at the person's request: never added again" in result.stderr
    assert status_of(engine, CAT) is None
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_an_import_without_the_key_fails_closed_once_anyone_was_erased(engine: Engine) -> None:
    with engine.begin() as conn:
        erasure.erase(conn, TEST_KEY, CAT)
    with pytest.raises(ConfigError, match="MORNINGPOST_SECRET_KEY"):
        import_csv(engine, io.BytesIO(b"email\ncat@example.com\n"))
    assert status_of(engine, CAT) is None


@pytest.fixture
def web(engine: Engine, tmp_path: Path) -> Iterator[tuple[httpx.Client, RecordingTransport]]:
    transport = RecordingTransport()
    with web_client(make_app(engine, transport, tmp_path / "archive")) as http:
        yield http, transport  # sign-ups are handled by the time a test looks


def test_an_erased_address_cannot_return_through_the_web_form(
    engine: Engine, web: tuple[httpx.Client, RecordingTransport]
) -> None:
    http, transport = web
    with engine.begin() as conn:
        erasure.erase(conn, TEST_KEY, CAT)
    answer = http.post("/subscribe", data={"email": "Cat@Example.com", "name": "Cat"})
    other = http.post("/subscribe", data={"email": "dog@example.com"})
    assert answer.status_code == other.status_code == 200
    assert "Check your inbox" in answer.text  # the same answer as for anyone: nothing leaks
    assert [m["To"] for m in transport.sent] == ["dog@example.com"]
    assert status_of(engine, CAT) is None


# -- export ----------------------------------------------------------------------------------


def test_export_carries_the_status_reason_and_date(engine: Engine) -> None:
    seed(engine)
    apply(engine, "bounce-permanent-cat.json")
    with engine.begin() as conn:
        lifecycle.unsubscribe(conn, 1)  # ada, through the link
    result = invoke("subscribers", "export")
    table = {row["email"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert list(next(iter(table.values()))) == [
        "email", "name", "status", "source", "created_at", "status_reason", "status_changed_at",
    ]  # fmt: skip
    assert table[CAT]["status_reason"].startswith("Permanent bounce (General) 5.1.1")
    assert table[CAT]["status_changed_at"].startswith("20")
    assert table["ada@example.com"]["status_reason"] == "unsubscribed through the link"
    assert table["bob@example.com"]["status_reason"] == "added (cli)"


def test_an_unsubscribe_counts_against_the_last_issue_delivered(engine: Engine) -> None:
    ids = seed(engine)
    with engine.begin() as conn:
        lifecycle.unsubscribe(conn, ids["bob"])
        lifecycle.unsubscribe(conn, ids["cat"], actor="alice")  # `subscribers remove`
        assert lifecycle.last_issue(conn, ids["bob"]) == DAY.isoformat()
    stats = json.loads(invoke("stats", "--date", DAY.isoformat(), "--json").stdout)
    assert stats["unsubscribed"] == 1
