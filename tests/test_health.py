"""/healthz asks the store a real question, within a time limit, and says what is wrong; the
container image's HEALTHCHECK command reads it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, delete

from subscribers.store.engine import open_store
from subscribers.store.health import StoreCheck
from subscribers.store.migrations import schema_migrations
from subscribers.web.app import AppConfig, create_app
from tests.conftest import TEST_KEY
from tests.test_web import RecordingTransport, serving

DOCKERFILE = Path(__file__).resolve().parent.parent / "deploy" / "Dockerfile"


def app(engine: Engine, tmp_path: Path) -> Any:
    return create_app(
        AppConfig(
            engine=engine,
            secret_key=TEST_KEY,
            public_url="https://post.example.com",
            transport=RecordingTransport(),
            sender="The AI Morning Post <briefing@example.com>",
            archive_dir=tmp_path / "archive",
        )
    )


def health(engine: Engine, tmp_path: Path) -> tuple[int, str, int]:
    """GET /healthz over loopback: status, body; and the status of a HEAD."""
    with serving(app(engine, tmp_path)) as base, httpx.Client(base_url=base, timeout=10) as http:
        got = http.get("/healthz")
        head = http.head("/healthz")
    assert head.content == b""
    return got.status_code, got.text, head.status_code


def test_ok_when_the_store_answers(store_url: str, tmp_path: Path) -> None:
    assert health(open_store(store_url), tmp_path) == (200, "ok\n", 200)


def test_503_when_the_sqlite_folder_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    engine = open_store(f"sqlite:///{folder / 'morningpost.db'}")
    with engine.connect():
        pass  # a pooled connection to the old file stays open: the check must not trust it
    shutil.rmtree(folder)
    status, body, head = health(engine, tmp_path)
    assert (status, head) == (503, 503)
    assert body == "store: the SQLite file is missing (is the data directory mounted?)\n"


def test_503_when_postgresql_refuses(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = create_engine(f"postgresql+psycopg://mp:secret@127.0.0.1:{port}/morningpost")
    status, body, _ = health(engine, tmp_path)
    assert status == 503
    assert body.startswith("store: OperationalError: ")
    assert "refused" in body.lower()
    assert "secret" not in body
    assert body.count("\n") == 1


def test_503_when_the_store_is_behind_the_code(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(delete(schema_migrations).where(schema_migrations.c.number == 21))
    status, body, _ = health(engine, tmp_path)
    assert (status, body) == (503, "store: not migrated (missing 21)\n")


def test_a_writer_does_not_hold_up_the_check(tmp_path: Path) -> None:
    path = tmp_path / "mp.db"
    engine = open_store(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a send's transaction, holding the write lock
    holder.execute("CREATE TABLE busy (x)")
    try:
        assert StoreCheck(engine, timeout=1).check() is None  # WAL: readers go on
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_hung_store_answers_in_time_and_is_not_asked_again_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "mp.db"
    engine = open_store(f"sqlite:///{path}")
    engine.dispose()  # no pooled connection open: the holder's exclusive lock needs none
    holder = sqlite3.connect(path, isolation_level=None)
    # Exclusive locking mode shuts even WAL readers out: the check waits on its busy timeout.
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE busy (x)")
    check = StoreCheck(engine, timeout=0.3)
    try:
        started = time.monotonic()
        assert check.check() == "store: no answer within 0.3 s"
        assert time.monotonic() - started < 2
        assert check.check() == "store: an earlier check has not returned for 0 s"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    deadline = time.monotonic() + 15  # the stuck query gets the lock, then checks run again
    while (answer := check.check()) is not None:
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)


# --- the image's HEALTHCHECK ---------------------------------------------------------------


def healthcheck_command() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, flags=re.MULTILINE)
    assert found, "the Dockerfile has no HEALTHCHECK in exec form"
    command: list[str] = json.loads(found.group(1))
    return command


def test_the_image_healthcheck_reads_healthz(tmp_path: Path) -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    good = open_store(f"sqlite:///{tmp_path / 'good' / 'mp.db'}")
    bad = open_store(f"sqlite:///{tmp_path / 'bad' / 'mp.db'}")
    shutil.rmtree(tmp_path / "bad")
    for engine, expected in ((good, 0), (bad, 1)):
        with serving(app(engine, tmp_path)) as base:
            port = base.rsplit(":", 1)[1]
            # The scheduler's port is asked first: point it at this server.
            done = subprocess.run(
                [sys.executable, *command[1:]],
                env={"MORNINGPOST_METRICS_PORT": port},
                capture_output=True,
                timeout=30,
                check=False,
            )
        assert done.returncode == expected, done.stderr
