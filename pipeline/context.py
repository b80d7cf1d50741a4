"""What one command works with: the settings, one store engine, and the transports.

A command builds one ``Context`` and hands it down, so a whole ``run`` opens (and
migrates) the store once, reads each issue's draft once, and chooses its transports in
one place. ``close`` disposes of the engine; the CLI does it when the command ends.

Sample runs (``--sample``) get a context of their own (``sample_context``): the data
directory ``DATA_DIR/sample/`` with its own SQLite store (never ``MORNINGPOST_DATABASE_URL``),
the outbox, and a key of their own, so demo content can never reach a real reader, take a
real issue's number or date, or appear in the real archive. If a real list would be in the
way (the configured store lies in the sample folder, or the sample store holds subscribers
that are not demo ones), the run is refused in one line.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from emails.errors import ConfigError
from emails.transports.base import Transport
from pipeline import transports
from pipeline.settings import SAMPLE_SECRET_KEY, Settings
from pipeline.workspace import DataDir, IssueWorkspace
from subscribers.demo import foreign_subscribers
from subscribers.store.engine import open_store

SAMPLE_DIR = "sample"  # under DATA_DIR: the sample runs' own data directory


class Context:
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        """``engine``: a store already open (its owner disposes of it), else opened on use."""
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self._owns_engine = engine is None
        if engine is not None:
            self.__dict__["engine"] = engine

    @functools.cached_property
    def engine(self) -> Engine:
        """The store, opened and migrated at first use, then shared by the whole command."""
        return open_store(self.settings.store_url)

    def issue(self, date: dt.date) -> IssueWorkspace:
        return IssueWorkspace(self.data, date, self.engine)

    def transport(self, outbox: Path, *, sample: bool = False) -> Transport:
        return transports.make_transport(self.settings, outbox, sample=sample)

    def close(self) -> None:
        if self._owns_engine and "engine" in self.__dict__:
            self.engine.dispose()
            del self.__dict__["engine"]

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def sample_settings(settings: Settings) -> Settings:
    """The settings of a sample run: its own data directory, store, outbox and key."""
    sample_dir = settings.data_dir / SAMPLE_DIR
    real_store = _sqlite_file(settings.store_url)
    if real_store is not None and _within(real_store, sample_dir):
        raise ConfigError(
            f"refusing a sample run: the store {real_store} is inside the sample folder "
            f"{sample_dir}; point MORNINGPOST_DATA_DIR or MORNINGPOST_DATABASE_URL elsewhere"
        )
    return settings.model_copy(
        update={
            "data_dir": sample_dir,
            "database_url": None,
            "transport": "outbox",
            "secret_key": SAMPLE_SECRET_KEY,
        }
    )


def sample_context(settings: Settings) -> Context:
    """A context on the sample data directory; refused if its store holds a real list."""
    ctx = Context(sample_settings(settings))
    with ctx.engine.connect() as conn:
        foreign = foreign_subscribers(conn)
    if foreign:
        where = ctx.settings.store_url
        ctx.close()
        raise ConfigError(
            f"refusing a sample run: its store {where} holds {foreign} subscribers that are "
            "not demo ones; a sample run never mails a real list (move that store away)"
        )
    return ctx


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
