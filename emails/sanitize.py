"""Sanitising of everything that came from outside before it reaches an issue.

Plain text stays plain (tags removed, entities decoded, whitespace folded); HTML passes an
allowlist small enough that the plaintext renderer understands every tag in it.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = frozenset({"p", "a", "em", "strong", "ul", "ol", "li", "blockquote", "code", "br"})
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
_URL_SCHEMES = frozenset({"https", "http"})  # links only to the web: no mailto:, data:, ...
_SPACE = re.compile(r"\s+")
_MAX_DECODE_PASSES = 8


def clean_html(fragment: str) -> str:
    """Return ``fragment`` with only allowlisted tags, attributes and URL schemes."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in _ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(_URL_SCHEMES),
        attribute_filter=_absolute_links_only,
        link_rel="noopener noreferrer",
    ).strip()


def _absolute_links_only(_tag: str, attribute: str, value: str) -> str | None:
    # url_schemes lets relative and protocol-relative ("//tracker.example/p") links through;
    # in an email those point nowhere or anywhere, so only absolute http(s) links stay.
    if attribute == "href" and safe_url(value) is None:
        return None
    return value


def plain_text(value: str) -> str:
    """Return ``value`` as one line of plain text: no tags, entities decoded, spaces folded."""
    # Decoding entities can uncover markup ("&lt;script&gt;" becomes "<script>"), so strip and
    # decode again until nothing changes; the bound only guards absurd nesting of encodings.
    text = value
    for _ in range(_MAX_DECODE_PASSES):
        without_tags = nh3.clean(text, tags=set(), attributes={})
        cleaned = _SPACE.sub(" ", html.unescape(without_tags)).strip()
        if cleaned == text:
            break
        text = cleaned
    return text


def safe_url(url: str) -> str | None:
    """Return ``url`` if it is an absolute http(s) URL, else None."""
    candidate = url.strip()
    if re.match(r"^https?://[^\s/?#]+", candidate, flags=re.IGNORECASE):
        return candidate
    return None
