from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pipeline.settings import Settings
from tests.offline import loopback_only  # noqa: F401 (an autouse fixture)

TEST_KEY = "test-secret-key-0123456789-abcdefghij"

# Read at import, before _isolated_env hides every MORNINGPOST_* variable from the tests.
POSTGRES_URL = os.environ.get("MORNINGPOST_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
# Without a URL (and outside CI) the PostgreSQL variants are not generated at all rather than
# skipped one by one: the header says so once, instead of a skip line per store test.
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL or IN_CI else ["sqlite"]


def pytest_report_header() -> str:
    if POSTGRES_URL:
        return f"store backends: sqlite, {make_url(POSTGRES_URL).render_as_string()}"
    if IN_CI:
        return "store backends: sqlite, postgres (MORNINGPOST_TEST_POSTGRES_URL unset: will fail)"
    return "store backends: sqlite only (set MORNINGPOST_TEST_POSTGRES_URL for PostgreSQL)"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's MORNINGPOST_* variables, .env file or AWS account."""
    for name in list(os.environ):
        if name.startswith(("MORNINGPOST_", "AWS_")) or name == "HF_ENDPOINT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", secret_key=TEST_KEY)


@pytest.fixture
def env_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The same settings, as environment variables, for tests that go through the CLI."""
    data_dir = tmp_path / "var"
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", TEST_KEY)
    return data_dir


# --- the store on every backend ------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty store: a fresh SQLite file, then (when configured) PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'mp.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def postgres_url() -> str:
    """MORNINGPOST_TEST_POSTGRES_URL with an empty ``public`` schema; skip when it is unset.

    In CI (``CI`` set) an unset URL is an error: the PostgreSQL runs must not vanish quietly.
    """
    if not POSTGRES_URL:
        message = "MORNINGPOST_TEST_POSTGRES_URL is not set"
        if IN_CI:
            pytest.fail(f"{message}: CI runs the store tests on PostgreSQL (.ci/postgres)")
        pytest.skip(f"{message}: the store tests run on SQLite only")
    with _postgres_admin().begin() as conn:
        # Stores of earlier tests are never disposed: end their idle sessions so the
        # connections do not pile up and nothing they hold can block the DROP.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND usename = current_user"
            )
        )
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return POSTGRES_URL


@cache
def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, poolclass=NullPool)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's AWS endpoint on a loopback port, for boto3 to talk real HTTP to."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# --- hypothesis profiles --------------------------------------------------------------------
# Property tests run derandomized everywhere by default (examples derived from each test, no
# example database), so `make test` on a fresh clone gives the same verdict every time and a
# red run is reproducible. HYPOTHESIS_PROFILE=explore draws new examples on each run, for
# hunting bugs on purpose.

hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
