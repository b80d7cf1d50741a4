"""One item once: canonical URLs, normalised titles, and what recent issues already featured.

Two items are the same when their canonical URLs match, or their normalised titles match, or
(papers) their arXiv ids match: an arXiv listing and the Hub's paper page of one paper have
different URLs but one id and, almost always, one title.

- ``canonical_url`` is a comparison key only: scheme and host lower-cased, tracking parameters
  (``utm_*``, ``fbclid``, ``gclid``, ``ref``, ...) dropped, the rest of the query sorted, the
  fragment and a trailing slash removed.
- ``clean_url`` is what readers get: an http(s) URL with the tracking parameters dropped and
  everything else as the publisher wrote it; None for any other scheme.
- ``title_key`` folds case, Unicode compatibility forms, punctuation and spacing, keeping the
  letters and digits of every script (an Arabic or Hebrew title dedups like an English one).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emails.sanitize import safe_url
from pipeline.sources.items import Gathering, ModelItem, NewsItem, PaperItem

_TRACKING_PREFIXES = ("utm_",)
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref", "ref_src", "igshid"}
)


# The paper pages readers are sent to; the captured id is arXiv's, without its version.
_PAPER_URL = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co/papers|arxiv\.org/(?:abs|pdf))/([^/?#]+?)(?:v\d+)?"
    r"(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)


def paper_key(url: str) -> str:
    """``paper:<arXiv id>`` for a Hub paper page or an arXiv abstract/PDF link, else ""."""
    match = _PAPER_URL.match(url.strip())
    return f"paper:{match.group(1)}" if match else ""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _kept_query(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _is_tracking(k)]


def clean_url(url: str) -> str | None:
    """``url`` without tracking parameters, for readers; None unless it is http(s)."""
    safe = safe_url(url)
    if safe is None:
        return None
    parts = urlsplit(safe)
    kept = _kept_query(parts.query)
    if len(kept) == len(parse_qsl(parts.query, keep_blank_values=True)):
        return safe  # nothing to drop: leave the publisher's spelling alone
    return urlunsplit(parts._replace(query=urlencode(kept)))


def canonical_url(url: str) -> str:
    """The comparison key of ``url``: two spellings of one page give one key."""
    parts = urlsplit(url.strip())
    query = urlencode(sorted(_kept_query(parts.query)))
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def title_key(title: str) -> str:
    """``title`` reduced to lower-case letters and digits separated by single spaces."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    kept = "".join(ch if ch.isalnum() else " " for ch in folded)
    return " ".join(kept.split())


@dataclass
class Seen:
    """Keys of items already taken: in this issue so far, or in recent issues."""

    urls: set[str] = field(default_factory=set)
    titles: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)

    def has(self, *, url: str = "", title: str = "", id_: str = "") -> bool:
        ids = {i for i in (id_, paper_key(url)) if i}
        return (
            (bool(url) and canonical_url(url) in self.urls)
            or (bool(title_key(title)) and title_key(title) in self.titles)
            or bool(ids & self.ids)
        )

    def add(self, *, url: str = "", title: str = "", id_: str = "") -> None:
        if url:
            self.urls.add(canonical_url(url))
        if title_key(title):
            self.titles.add(title_key(title))
        self.ids.update(i for i in (id_, paper_key(url)) if i)

    def take(self, *, url: str = "", title: str = "", id_: str = "") -> bool:
        """Record the item; False (and nothing recorded) when it was seen already."""
        if self.has(url=url, title=title, id_=id_):
            return False
        self.add(url=url, title=title, id_=id_)
        return True


def _paper_id(paper: PaperItem) -> str:
    return f"paper:{paper.id}"


def unique(gathered: Gathering, already: Seen | None = None) -> Gathering:
    """``gathered`` with every item seen before (in ``already`` or earlier in it) left out.

    Earlier wins. Papers are taken most-upvoted first, so of a paper listed both on the Hub
    (with its votes) and on arXiv, the Hub's entry stays. ``already`` is not modified.
    """
    seen = Seen(set(already.urls), set(already.titles), set(already.ids)) if already else Seen()
    models = [m for m in gathered.models if _take_model(seen, m)]
    ranked = sorted(gathered.papers, key=lambda p: p.upvotes, reverse=True)
    papers = [p for p in ranked if seen.take(url=p.url, title=p.title, id_=_paper_id(p))]
    news = [n for n in gathered.news if _take_news(seen, n)]
    return Gathering(
        models=models,
        papers=papers,
        news=news,
        editorial=list(gathered.editorial),
        weather=gathered.weather,
    )


def _take_model(seen: Seen, model: ModelItem) -> bool:
    # A model's id is its title; names like "Model" collide across authors, so only the URL.
    return seen.take(url=model.url)


def _take_news(seen: Seen, item: NewsItem) -> bool:
    return seen.take(url=item.url, title=item.title)
