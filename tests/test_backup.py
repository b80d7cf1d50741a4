"""`morningpost backup`: a consistent copy while a writer is mid-transaction, restored the way
deploy/README.md says, and pg_dump for PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, func, select, text

from pipeline import jobs
from pipeline.cli import main
from pipeline.context import Context
from pipeline.settings import Settings
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.migrations import MIGRATIONS
from subscribers.store.roster import add_subscriber
from tests.conftest import IN_CI, TEST_KEY

DAY = dt.date(2026, 3, 2)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def subscribers(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.subscribers)) or 0)


def add(engine: Engine, first: int, n: int) -> None:
    with engine.begin() as conn:
        for i in range(first, first + n):
            add_subscriber(conn, f"reader{i}@example.com")


@pytest.fixture
def sent(env_settings: Path) -> Path:
    """A data directory after a real sample send (issue files, archive, ledger)."""
    with Context(Settings()) as ctx:
        jobs.run(ctx, ctx.issue(DAY), sample=True)
    return env_settings


def test_a_consistent_copy_while_a_writer_holds_a_transaction(sent: Path, tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{sent / 'morningpost.db'}")
    add(engine, 0, 300)
    committed = subscribers(engine)  # 6 demo readers and 300 more
    mid_transaction, backed_up = threading.Event(), threading.Event()

    def writer() -> None:
        # Holds the store's write lock, with rows written but not committed, for as long as
        # the backup runs; commits after it.
        with engine.begin() as conn:
            for i in range(1000, 1050):
                add_subscriber(conn, f"late{i}@example.com")
            mid_transaction.set()
            assert backed_up.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert mid_transaction.wait(60)
        result = invoke("backup", "--output", str(tmp_path / "backup"))
    finally:
        backed_up.set()
        thread.join(60)
    assert result.exit_code == 0, result.output
    assert subscribers(engine) == committed + 50  # the writer committed after all

    copy = tmp_path / "backup" / "morningpost.db"
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        emails = {row[0] for row in conn.execute("SELECT email FROM subscribers")}
    conn.close()
    assert len(emails) == committed
    assert {f"reader{i}@example.com" for i in range(300)} <= emails
    assert not any(email.startswith("late") for email in emails)


def test_restore_as_the_deploy_readme_says(sent: Path, tmp_path: Path) -> None:
    result = invoke("backup", "--output", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    assert "store: morningpost.db" in result.output
    backup = tmp_path / "backup"

    # deploy/README.md, "Restore (SQLite)": the store file, then the files, into DATA_DIR.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy2(backup / "morningpost.db", restored / "morningpost.db")
    with tarfile.open(backup / "files.tar.gz") as tar:
        tar.extractall(restored, filter="data")

    engine = open_store(f"sqlite:///{restored / 'morningpost.db'}")
    assert subscribers(engine) == 6
    with engine.connect() as conn:
        sent_rows = conn.scalar(
            select(func.count()).where(schema.deliveries.c.issue_date == DAY.isoformat())
        )
    assert sent_rows == 5
    for name in ("issues/2026-03-02/issue.json", "issues/2026-03-02/email.html",
                 "archive/2026-03-02/index.html", "archive/feed.xml"):  # fmt: skip
        assert (restored / name).read_bytes() == (sent / name).read_bytes(), name


def test_the_manifest_describes_what_is_there(sent: Path, tmp_path: Path) -> None:
    invoke("backup", "--output", str(tmp_path / "backup"))
    backup = tmp_path / "backup"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["format"] == 1
    store, files = manifest["store"], manifest["files"]
    assert store["kind"] == "sqlite"
    assert store["integrity_check"] == "ok"
    assert store["rows"]["subscribers"] == 6
    assert store["rows"]["deliveries"] == 5
    assert store["migrations"] == sorted(m.number for m in MIGRATIONS)
    assert files["issues"] == ["2026-03-02"]
    assert files["folders"] == ["issues", "archive"]
    for part in (store, files):
        content = (backup / part["file"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == part["sha256"]
        assert len(content) == part["bytes"]
    with tarfile.open(backup / "files.tar.gz") as tar:
        names = tar.getnames()
    assert len(names) == files["entries"]
    assert all(n.startswith(("issues/", "archive/")) for n in names)
    assert sorted(p.name for p in backup.iterdir()) == [
        "files.tar.gz", "manifest.json", "morningpost.db"
    ]


def test_the_default_folder_and_refusals(sent: Path, tmp_path: Path) -> None:
    first = invoke("backup")
    assert first.exit_code == 0, first.output
    made = list((sent / "backups").iterdir())
    assert len(made) == 1
    assert (made[0] / "manifest.json").is_file()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "something").write_text("mine")
    refused = CliRunner().invoke(main, ["backup", "--output", str(taken)])
    assert refused.exit_code == 1
    assert refused.output.strip() == f"error: {taken} already exists and is not an empty folder"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("taken")) == ["taken"]


def test_files_only(sent: Path, tmp_path: Path) -> None:
    result = invoke("backup", "--no-store", "--output", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "store: not included (--no-store)" in result.output
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["store"] is None
    assert not (tmp_path / "b" / "morningpost.db").exists()


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgresql_without_pg_dump_says_how_and_leaves_nothing(
    env_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORNINGPOST_DATABASE_URL", "postgresql+psycopg://mp:pw@127.0.0.1:1/mp")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["backup", "--output", str(tmp_path / "b")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: pg_dump is not on PATH: install the PostgreSQL client")
    assert "--no-store" in lines[0]
    assert not (tmp_path / "b").exists()
    assert not (tmp_path / "b.partial").exists()


def test_postgresql_dump_and_restore(
    postgres_url: str, env_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        if IN_CI:  # .ci/debian-packages installs postgresql, which brings both
            pytest.fail("pg_dump / pg_restore are missing")
        pytest.skip("pg_dump / pg_restore not installed")
    monkeypatch.setenv("MORNINGPOST_DATABASE_URL", postgres_url)
    engine = open_store(postgres_url)
    add(engine, 0, 20)
    result = invoke("backup", "--output", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    dump = tmp_path / "b" / "morningpost.pgdump"
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["store"]["kind"] == (
        "postgresql"
    )
    engine.dispose()

    # deploy/README.md, "Restore (PostgreSQL)", into an emptied database.
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    admin.dispose()
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(
        ["pg_restore", "--no-owner", "--dbname", url, str(dump)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert subscribers(open_store(postgres_url)) == 20


def test_backup_needs_no_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(tmp_path / "var"))
    open_store(f"sqlite:///{tmp_path / 'var' / 'morningpost.db'}").dispose()
    result = invoke("backup", "--output", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "0 issues" in result.output
    assert TEST_KEY not in result.output
