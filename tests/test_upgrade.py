"""A store made by the first release (0.1.0) opens, migrates and reads the same.

``fixtures/stores/release-0.1.0.sql`` is the SQLite dump of a data directory that release
made: `run --sample` for 2026-11-27 (five readers sent), `subscribers add` afterwards, the
next day drafted and approved by Ada, and one delivery left in flight as a crash leaves it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pipeline.cli import main
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.migrations import MIGRATIONS, schema_migrations
from tests.conftest import TEST_KEY

DUMP = Path(__file__).parent / "fixtures" / "stores" / "release-0.1.0.sql"


@pytest.fixture
def old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "var"
    data.mkdir()
    with sqlite3.connect(data / "morningpost.db") as conn:
        conn.executescript(DUMP.read_text(encoding="utf-8"))
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(data))
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", TEST_KEY)
    monkeypatch.delenv("MORNINGPOST_DATABASE_URL", raising=False)
    return data


def test_the_first_release_store_migrates_and_keeps_every_row(old_store: Path) -> None:
    engine = open_store(f"sqlite:///{old_store / 'morningpost.db'}")
    with engine.connect() as conn:
        applied = list(conn.scalars(select(schema_migrations.c.number)))
        people = {row.email: row.status for row in conn.execute(select(schema.subscribers))}
        issues = {
            row.date: (row.number, row.state, row.approved_by)
            for row in conn.execute(select(schema.editions))
        }
    engine.dispose()
    assert sorted(applied) == sorted(m.number for m in MIGRATIONS)
    assert len(people) == 7
    assert people["left.last.week@example.com"] == "unsubscribed"
    assert people["grace@example.com"] == "active"
    assert issues == {"2026-11-27": (1, "sent", None), "2026-11-28": (2, "approved", "Ada")}


def test_status_reads_the_old_ledger_with_its_crash_leftover_unknown(old_store: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--date", "2026-11-27", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["deliveries"] == {
        "pending": 0,
        "sent": 4,
        "failed": 0,
        "skipped": 0,
        "unknown": 1,
    }
    approved = json.loads(
        CliRunner().invoke(main, ["status", "--date", "2026-11-28", "--json"]).output
    )
    assert (approved["state"], approved["approved_by"]) == ("approved", "Ada")
