"""RSS and Atom feeds: arXiv listings become papers, everything else becomes news.

Two arXiv shapes are recognised: the RSS listing (``rss.arxiv.org``: one comma-joined
``dc:creator``, an "Announce Type" header before the abstract) and the API's Atom
(``export.arxiv.org/api/query``: several ``author/name``, ``arxiv:primary_category``, a
``link title=pdf`` beside the abstract page). Both become ``PaperItem``s with the same id and
the same public ``https://arxiv.org/abs/<id>`` link, so dedup sees one paper.

Fetching is ours (``pipeline.sources.http``: timeouts, one retry, our User-Agent); feedparser
only ever sees bytes, so it never opens a connection of its own.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import time
from typing import Any
from urllib.parse import urljoin

import feedparser
import httpx

from emails.errors import SourceError
from emails.sanitize import plain_text, safe_url
from pipeline.sources.http import get
from pipeline.sources.items import Gathering, NewsItem, PaperItem
from pipeline.sources.vocabulary import text_direction

log = logging.getLogger(__name__)

# arXiv puts a header before the abstract: "arXiv:2203.01250v3 Announce Type: new \nAbstract: ..."
_ARXIV_PREFIX = re.compile(
    r"^\s*arXiv:\S+\s+Announce\s+Type:\s*\S+\s*(?:Abstract:\s*)?", flags=re.IGNORECASE
)
# The version suffix is dropped so an arXiv entry and a Hub paper page share one id.
_ARXIV_ID = re.compile(r"(?:arxiv\.org/abs/|oai:arXiv\.org:)([^\s?#]+?)(?:v\d+)?$", re.IGNORECASE)
_KEEP_ANNOUNCE = "new"  # cross-lists and replacements are old news to cs.AI readers


class FeedSource:
    """One RSS or Atom feed."""

    def __init__(self, client: httpx.Client, url: str, *, name: str | None = None) -> None:
        self._client = client
        self.url = url
        self.name = name or f"feed {httpx.URL(url).host}"

    def fetch(self) -> Gathering:
        response = get(self._client, self.url)
        # Relative links resolve against where the feed really came from, after redirects.
        return parse_feed(response.content, base_url=str(response.url))


def parse_feed(content: bytes, *, base_url: str) -> Gathering:
    """Parse feed bytes into papers (arXiv entries) and news (everything else)."""
    parsed = feedparser.parse(content)
    entries: list[Any] = list(parsed.entries)
    if parsed.bozo:
        reason = _one_line(parsed.get("bozo_exception", "malformed feed"))
        if not entries:
            raise SourceError(f"feed {httpx.URL(base_url).host} unreadable: {reason}")
        # A feed with a broken tail still has good entries before it: keep them.
        log.warning("feed %s is malformed (%s); keeping %d entries", base_url, reason, len(entries))
    if not parsed.get("version") and not entries:
        # An HTML error or login page served where the feed should be: not "no news today".
        raise SourceError(f"feed {httpx.URL(base_url).host} sent something that is not RSS or Atom")
    feed_title = plain_text(parsed.feed.get("title", "")) or (httpx.URL(base_url).host or base_url)
    language = _language(parsed.feed.get("language"))
    gathered = Gathering()
    for entry in entries:
        item = _item(entry, base_url=base_url, source=feed_title, language=language)
        if isinstance(item, PaperItem):
            gathered.papers.append(item)
        elif item is not None:
            gathered.news.append(item)
    return gathered


def _item(
    entry: Any, *, base_url: str, source: str, language: str | None = None
) -> PaperItem | NewsItem | None:
    if _is_arxiv(entry):
        return arxiv_paper(entry, base_url=base_url, source=source)
    if _is_arxiv_api(entry):
        return arxiv_api_paper(entry)
    return news_item(entry, base_url=base_url, source=source, language=language)


def _is_arxiv(entry: Any) -> bool:
    return "arxiv_announce_type" in entry


def _is_arxiv_api(entry: Any) -> bool:
    return "arxiv_primary_category" in entry and bool(_ARXIV_ID.search(str(entry.get("id", ""))))


def arxiv_api_paper(entry: Any) -> PaperItem | None:
    """An entry of the arXiv API's Atom as a paper; None without a usable id or title."""
    match = _ARXIV_ID.search(str(entry.get("id", "")))
    title = plain_text(entry.get("title", ""))
    if match is None or not title:
        return None
    paper_id = match.group(1)
    category = entry.get("arxiv_primary_category") or {}
    term = plain_text(str(category.get("term", ""))) if isinstance(category, dict) else ""
    return PaperItem(
        id=paper_id,
        title=title,
        summary=plain_text(entry.get("summary", "")),
        # The abstract page, versionless and https, whatever the API's link says: the same
        # link the RSS listing gives, and the one readers want (the PDF is one click away).
        url=f"https://arxiv.org/abs/{paper_id}",
        # feedparser's entry.author is only the LAST author; entry.authors holds them all.
        authors=tuple(
            name
            for name in (plain_text(str(a.get("name", ""))) for a in entry.get("authors", []))
            if name
        ),
        source=f"arXiv {term}".strip(),
        published_at=_published(entry),
    )


def arxiv_paper(entry: Any, *, base_url: str, source: str) -> PaperItem | None:
    """An arXiv RSS item as a paper; None for cross-lists, replacements and unusable items."""
    if str(entry.get("arxiv_announce_type", "")).strip().lower() != _KEEP_ANNOUNCE:
        return None
    url = _link(entry, base_url)
    title = plain_text(entry.get("title", ""))
    if url is None or not title:
        return None
    abstract = _ARXIV_PREFIX.sub("", plain_text(entry.get("summary", "")))
    return PaperItem(
        id=_arxiv_id(entry, url),
        title=title,
        summary=abstract,
        url=url,
        authors=split_authors(entry.get("author", "")),
        source=source,
        published_at=_published(entry),
    )


def split_authors(creator: str) -> tuple[str, ...]:
    """arXiv's dc:creator is ONE string with every author, comma-separated."""
    return tuple(name for name in (plain_text(part) for part in creator.split(",")) if name)


def _arxiv_id(entry: Any, url: str) -> str:
    for candidate in (entry.get("id", ""), url):
        match = _ARXIV_ID.search(str(candidate))
        if match:
            return match.group(1)
    return url


def news_item(
    entry: Any, *, base_url: str, source: str, language: str | None = None
) -> NewsItem | None:
    """A feed entry as news; None when it has no title or no http(s) link.

    ``language`` is the feed's ``<language>``; the entry's own ``xml:lang`` wins over it.
    """
    url = _link(entry, base_url)
    title = plain_text(entry.get("title", ""))
    if url is None or not title:
        return None
    language = _entry_language(entry) or language
    return NewsItem(
        title=title,
        url=url,
        summary=plain_text(_summary_html(entry)),
        source=source,
        authors=tuple(
            name
            for name in (plain_text(a.get("name", "")) for a in entry.get("authors", []))
            if name
        ),
        published_at=_published(entry),
        text=plain_text(_content_html(entry) or _summary_html(entry)),
        language=language,
        direction=text_direction(title, language),
    )


def _content_html(entry: Any) -> str:
    contents = entry.get("content") or []
    return str(contents[0].get("value", "")) if contents else ""


def _entry_language(entry: Any) -> str | None:
    # feedparser records the xml:lang in force on each element, inherited from the feed's.
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key) or {}
        found = _language(detail.get("language"))
        if found:
            return found
    return None


def _language(value: object) -> str | None:
    """A language tag as the feed wrote it ("en-gb", "ar"), or None for nothing usable."""
    text = plain_text(str(value)) if isinstance(value, str) else ""
    return text if re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*", text) else None


def _summary_html(entry: Any) -> str:
    summary = entry.get("summary", "")
    if summary:
        return str(summary)
    # Atom entries may carry only <content>; its first value is the article body.
    contents = entry.get("content") or []
    return str(contents[0].get("value", "")) if contents else ""


def _link(entry: Any, base_url: str) -> str | None:
    """The entry's link made absolute; None unless it is http(s) (no javascript:, data:, ...)."""
    raw = str(entry.get("link", "")).strip()
    if not raw:
        return None
    return safe_url(urljoin(base_url, raw))


def _published(entry: Any) -> dt.datetime | None:
    # feedparser normalises every date format it understands to a UTC struct_time.
    parsed: time.struct_time | None = entry.get("published_parsed") or entry.get("updated_parsed")
    if parsed is None:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.UTC)


def _one_line(value: object) -> str:
    return " ".join(str(value).split()) or "malformed feed"
