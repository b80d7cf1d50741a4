"""What the last issues featured, read back from their ``issue.json`` drafts (no database).

An item featured in one of the ``RECENT_ISSUES`` issues before a date is not featured again:
readers saw it last week. The drafts are read as plain JSON rather than through the ``Issue``
model on purpose: a draft written by an older version, or hand-edited into a shape the model
now rejects, should still say which links it carried. A draft that is not JSON at all is
logged and skipped; history is a courtesy, never a reason to fail the day's issue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.assembly.dedup import Seen
from pipeline.workspace import ISSUE_JSON, DataDir

log = logging.getLogger(__name__)

RECENT_ISSUES = 7


def recent_issue_files(data: DataDir, date: dt.date, count: int = RECENT_ISSUES) -> list[Path]:
    """``issue.json`` of the ``count`` latest issues dated before ``date``, newest first."""
    dated = [
        (day, folder / ISSUE_JSON)
        for day, folder in data.issue_folders()
        if day < date and (folder / ISSUE_JSON).is_file()
    ]
    dated.sort(reverse=True)
    return [path for _day, path in dated[:count]]


def featured_before(data: DataDir, date: dt.date, count: int = RECENT_ISSUES) -> Seen:
    """Keys (URLs, titles, paper ids) of every item the recent issues featured."""
    seen = Seen()
    for path in recent_issue_files(data, date, count):
        try:
            issue = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            log.warning("history: %s skipped: %s", path, type(err).__name__)
            continue
        for url, title in featured_items(issue):
            seen.add(url=url, title=title)
    return seen


def recent_headlines(data: DataDir, date: dt.date, count: int = RECENT_ISSUES) -> list[str]:
    """The lead titles of the ``count`` latest issues before ``date``, newest first: the AI
    desk is shown them so that it does not repeat itself."""
    titles: list[str] = []
    for path in recent_issue_files(data, date, count):
        try:
            issue = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # featured_before has said so already
        lead = issue.get("lead") if isinstance(issue, dict) else None
        title = _text(lead, "title") if isinstance(lead, dict) else ""
        if title:
            titles.append(title)
    return titles


def featured_items(issue: Any) -> Iterator[tuple[str, str]]:
    """(url, title) of each featured item: the lead's source links, news, tools, reading.

    A tool's name is a short model name ("YOLO-R") that may well be another model's too, so
    tools count by URL only. A news story counts by its headline and every outlet's link, so
    tomorrow the second outlet's report of it is not news either.
    """
    if not isinstance(issue, dict):
        return
    lead = issue.get("lead")
    links = lead.get("links") if isinstance(lead, dict) else None
    for entry in _dicts(links):
        yield _text(entry, "url"), _text(entry, "title")
    for story in _dicts(issue.get("news")):
        yield _text(story, "url"), _text(story, "headline")
        for source in _dicts(story.get("sources")):
            yield _text(source, "url"), ""
    for entry in _dicts(issue.get("tools")):
        yield _text(entry, "url"), ""
    for entry in _dicts(issue.get("reading")):
        yield _text(entry, "url"), _text(entry, "title")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""
