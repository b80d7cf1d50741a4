"""Where each stage keeps its files under ``DATA_DIR``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

ISSUE_JSON, EMAIL_HTML, EMAIL_TXT = "issue.json", "email.html", "email.txt"


def issue_dir(data_dir: Path, date: dt.date) -> Path:
    return data_dir / "issues" / date.isoformat()


def outbox_dir(data_dir: Path, date: dt.date) -> Path:
    return data_dir / "outbox" / date.isoformat()
