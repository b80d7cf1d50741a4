"""Where each stage keeps its files under ``DATA_DIR``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

ISSUE_JSON, EMAIL_HTML, EMAIL_TXT = "issue.json", "email.html", "email.txt"
WEB_HTML = "web.html"
# The web archive (written by emails.archive): archive/index.html, archive/feed.xml and
# archive/<date>/index.html, the page the web app serves at /issues/<date>/.
ARCHIVE_INDEX, ARCHIVE_FEED, ARCHIVE_PAGE = "index.html", "feed.xml", "index.html"


def issues_root(data_dir: Path) -> Path:
    return data_dir / "issues"


def issue_dir(data_dir: Path, date: dt.date) -> Path:
    return issues_root(data_dir) / date.isoformat()


def archive_dir(data_dir: Path) -> Path:
    return data_dir / "archive"


def archive_page(data_dir: Path, date: dt.date) -> Path:
    return archive_dir(data_dir) / date.isoformat() / ARCHIVE_PAGE


def outbox_dir(data_dir: Path, date: dt.date) -> Path:
    return data_dir / "outbox" / date.isoformat()


def confirmations_outbox(data_dir: Path) -> Path:
    """Where the outbox transport puts double opt-in confirmations (not tied to an issue)."""
    return data_dir / "outbox" / "confirmations"
