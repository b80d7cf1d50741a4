"""The ``Source`` protocol and the isolation that keeps one bad source from sinking an issue."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from emails.errors import SourceError
from pipeline import metrics
from pipeline.sources.items import Gathering

log = logging.getLogger(__name__)



class Source(Protocol):
    """One place the issue's material comes from."""

    name: str

    def fetch(self) -> Gathering:
        """Return what this source has today; raise ``SourceError`` with a one-line reason."""
        ...


def gather(sources: Iterable[Source]) -> Gathering:
    """Fetch every source; a failing one is logged in one line and left out."""
    gathered = Gathering()
    for source in sources:
        try:
            gathered.merge(source.fetch())
        except SourceError as err:
            log.warning("source %s left out: %s", source.name, err)
            metrics.source_failed(source.name)
        except Exception as err:  # noqa: BLE001 - isolation: a bug in one source must not stop the issue
            log.warning(
                "source %s left out: unexpected %s: %s", source.name, type(err).__name__, err
            )
            metrics.source_failed(source.name)
    return gathered
