"""The web archive of past issues: a page per issue, an index page and an Atom feed.

Layout under the archive folder (these names are the ones the web app serves)::

    index.html            every archived issue, newest first
    feed.xml              Atom feed of the same issues
    <date>/index.html     the issue's web edition (``render.render_web``), copied as is

The URLs come in as values (``ArchiveUrls``): this package never knows where the web app
is mounted. Every file is replaced atomically, because the web app may be serving it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from emails.errors import RenderError
from emails.issue import Issue, Masthead
from emails.render import long_date, text_direction
from emails.templating import html_environment

INDEX_HTML = "index.html"
FEED_XML = "feed.xml"
PAGE_HTML = "index.html"
INDEX_TEMPLATE = "archive.html.j2"

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Characters XML 1.0 cannot carry at all, not even as references: dropped from the feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DEFAULT_NAME: str = Masthead.model_fields["name"].default


@dataclass(frozen=True)
class ArchiveUrls:
    """Absolute URLs of the archive's pages, as the web app serves them."""

    index: str
    feed: str
    issue: Callable[[dt.date], str]


@dataclass(frozen=True)
class Edition:
    """One archived issue: its model, and its rendered web edition on disk."""

    issue: Issue
    web_html: Path


@dataclass(frozen=True)
class ArchiveFiles:
    index: Path
    feed: Path
    pages: int


def write_archive(
    archive_dir: Path, editions: Iterable[Edition], urls: ArchiveUrls
) -> ArchiveFiles:
    """Write every edition's page (when it changed), the index page and the feed."""
    ordered = sorted(editions, key=lambda edition: edition.issue.date, reverse=True)
    for edition in ordered:
        page = archive_dir / edition.issue.date.isoformat() / PAGE_HTML
        content = edition.web_html.read_bytes()
        if not page.exists() or page.read_bytes() != content:
            _replace(page, content)
    issues = [edition.issue for edition in ordered]
    index, feed = archive_dir / INDEX_HTML, archive_dir / FEED_XML
    _replace(index, render_index(issues, urls).encode("utf-8"))
    _replace(feed, render_feed(issues, urls).encode("utf-8"))
    return ArchiveFiles(index=index, feed=feed, pages=len(ordered))


def render_index(issues: Sequence[Issue], urls: ArchiveUrls) -> str:
    """The archive's index page: ``issues`` in the order given, each linked to its page."""
    language = issues[0].language if issues else "en"
    try:
        return (
            html_environment()
            .get_template(INDEX_TEMPLATE)
            .render(
                name=issues[0].masthead.name if issues else _DEFAULT_NAME,
                issues=issues,
                urls=urls,
                language=language,
                direction=text_direction(language),
                long_date=long_date,
            )
        )
    except jinja2.TemplateError as err:
        raise RenderError(f"{INDEX_TEMPLATE}: {err}") from err


def render_feed(issues: Sequence[Issue], urls: ArchiveUrls) -> str:
    """An Atom (RFC 4287) feed of ``issues``; the first one given is the newest."""
    name = issues[0].masthead.name if issues else _DEFAULT_NAME
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    if issues:
        feed.set(_XML_LANG, issues[0].language)
    _text(feed, "id", urls.index)
    _text(feed, "title", name)
    _text(feed, "subtitle", issues[0].masthead.tagline if issues else "")
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=urls.feed)
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=urls.index)
    # An empty feed still needs a timestamp; the epoch says "nothing yet" deterministically.
    _text(feed, "updated", _timestamp(max((i.date for i in issues), default=dt.date(1970, 1, 1))))
    _text(ET.SubElement(feed, "author"), "name", name)
    for issue in issues:
        feed.append(_entry(issue, urls))
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def _entry(issue: Issue, urls: ArchiveUrls) -> ET.Element:
    url = urls.issue(issue.date)
    entry = ET.Element("entry")
    _text(entry, "id", url)
    _text(entry, "title", issue.subject)
    ET.SubElement(entry, "link", rel="alternate", type="text/html", href=url)
    # Issues carry a date, not a time: midnight UTC keeps the feed byte-for-byte stable.
    _text(entry, "published", _timestamp(issue.date))
    _text(entry, "updated", _timestamp(issue.date))
    _text(entry, "summary", issue.preheader)
    return entry


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = _NOT_XML.sub("", value)


def _timestamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the web app must read it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
