"""What one command works with: the settings, one store engine, and the transports.

A command builds one ``Context`` and hands it down, so a whole ``run`` opens (and
migrates) the store once, reads each issue's draft once, and chooses its transports in
one place. ``close`` disposes of the engine; the CLI does it when the command ends.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from emails.transports.base import Transport
from pipeline import transports
from pipeline.settings import Settings
from pipeline.workspace import DataDir, IssueWorkspace
from subscribers.store.engine import open_store


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
