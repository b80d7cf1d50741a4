"""Publishing the web archive: the issues that went out, as pages, an index and a feed.

Drafts stay private: an issue appears on the web when its sending begins, in time for its
"view in browser" link.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from sqlalchemy import Engine

from emails.archive import ArchiveFiles, ArchiveUrls, Edition, write_archive
from emails.issue import Issue
from pipeline.workspace import ISSUE_JSON, WEB_HTML, DataDir
from subscribers import links
from subscribers.store import editions

log = logging.getLogger(__name__)


def archive_urls(public_url: str) -> ArchiveUrls:
    return ArchiveUrls(
        index=links.archive_url(public_url),
        feed=links.feed_url(public_url),
        issue=functools.partial(links.issue_url, public_url),
    )


def publish_archive(
    data: DataDir, engine: Engine, public_url: str, *, including: dt.date | None = None
) -> ArchiveFiles:
    """Rewrite the web archive with the issues that went out (and ``including``, about to)."""
    with engine.connect() as conn:
        public = editions.dates_out(conn)
    if including is not None:
        public.add(including.isoformat())
    return write_archive(data.archive, _editions(data, public), archive_urls(public_url))


def _editions(data: DataDir, public: set[str]) -> list[Edition]:
    """The public issues with a rendered web edition; an unreadable one is skipped."""
    found = []
    for day, folder in sorted(data.issue_folders()):
        if day.isoformat() not in public or not (folder / WEB_HTML).is_file():
            continue
        try:
            issue = Issue.load(folder / ISSUE_JSON)
        except (OSError, ValueError) as err:
            log.warning("archive: skipping %s: %s", folder, str(err).splitlines()[0])
            continue
        found.append(Edition(issue, folder / WEB_HTML))
    return found
