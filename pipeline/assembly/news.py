"""The day's news from the feeds: one story per event, however many outlets carry it.

Pure functions over ``NewsItem``s (the feeds parse them; see ``feeds.py``):

- ``cluster_stories`` groups the items that report one story. Two items are one story when
  their canonical URLs match (``pipeline.assembly.dedup.canonical_url``: tracking parameters, case,
  trailing slash and fragment ignored), or when their titles are similar: the Jaccard index of
  their normalised title words is at least ``SAME_STORY_JACCARD`` with at least
  ``MIN_SHARED_WORDS`` words in common. Normalising folds case and Unicode forms, drops
  punctuation, possessive "'s", a plural "s" and a few function words, and ignores word order;
  Chinese and Japanese titles (no spaces) are compared by character pairs. Letters of every
  script are kept as they are: no ASCII folding, so Arabic and CJK headlines survive intact.
- ``rank_stories`` orders stories by how many outlets carry them, decayed by age: a story's
  weight halves every ``HALF_LIFE`` since its latest report.
- ``excerpt`` (from ``pipeline.sources.wording``) cuts an entry's text to one or two sentences.

Why 0.6: in the fixtures (tests/fixtures/briefing/) the same story told by two outlets in
other words scores 0.875 and 0.9, while two different stories of one company on one day
("OpenLab releases Atlas-7B, an open model for Arabic speech" / "OpenLab releases an evaluation
harness for Arabic speech models") score 0.5. A false merge hides a story and credits it to the
wrong outlet; a missed merge only shows one event twice. So the threshold sits just above the
near miss, not midway; headlines too different to reach it ("Chip export rules tightened for AI
accelerators" / "New rules on exporting AI chips", 0.43) are still caught when both link to one
canonical URL.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pipeline.assembly.dedup import canonical_url
from pipeline.sources.items import Direction, NewsItem
from pipeline.sources.vocabulary import text_direction
from pipeline.sources.wording import ELLIPSIS, excerpt, is_unspaced, sentence_ends

__all__ = [
    "HALF_LIFE",
    "MIN_SHARED_WORDS",
    "SAME_STORY_JACCARD",
    "Story",
    "cluster_stories",
    "excerpt",
    "rank_stories",
    "same_story",
    "story_key",
    "story_text",
    "text_direction",
    "title_similarity",
    "title_words",
]

SAME_STORY_JACCARD = 0.6
MIN_SHARED_WORDS = 3  # two shared words ("OpenAI", "model") are a topic, not a story
HALF_LIFE = dt.timedelta(hours=24)  # a daily issue: yesterday's news weighs half
UNDATED_AGE = dt.timedelta(hours=48)  # a feed that dates nothing is not treated as fresh
NEWS_EXCERPT_LIMIT = 240
# What a whole sentence ends with (closing quotes and brackets included).
_SENTENCE_MARKS = (".", "!", "?", ELLIPSIS, "\u3002", "\uff01", "\uff1f", "\u061f", "\u06d4",
                   '"', "\u201d", "\u2019", ")", "\u00bb")  # fmt: skip

_STOPWORDS = frozenset(
    {"a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "from", "with", "and", "or",
     "is", "are", "was", "be", "it", "its", "as", "into", "over", "after", "how", "why", "what",
     "this", "that", "new", "now", "out", "up", "say", "says", "said", "you", "we", "our",
     "في", "من", "على", "إلى", "عن", "مع", "أن", "التي", "الذي"}
)  # fmt: skip
_POSSESSIVE = re.compile(r"['\u2019]s\b")
# Publishing platforms' footers in feed text: true of every post, so never the excerpt.
_FEED_FOOTER = re.compile(
    r"\s*(?:The post .{1,300}? appeared first on .{1,200}?\.?|Continue reading.{0,80}|"
    r"Read more.{0,80}|\[(?:\u2026|\.\.\.)\])\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Story:
    """One event as the day's feeds told it: one headline and link, every outlet named."""

    headline: str
    url: str
    outlets: tuple[str, ...]  # every outlet that carried it, first reporter first
    items: tuple[NewsItem, ...]  # first reporter first
    published_at: dt.datetime | None  # the first report
    updated_at: dt.datetime | None  # the latest report: what recency is measured from
    summary: str  # one or two sentences of the outlets' own text, "" when they gave none
    language: str | None = None
    direction: Direction = "ltr"


def story_key(item: NewsItem) -> str:
    """The exact key of an item's story: its canonical URL."""
    return canonical_url(item.url)


def title_words(title: str) -> frozenset[str]:
    """The comparable words of a headline (see the module docstring)."""
    folded = _POSSESSIVE.sub("", unicodedata.normalize("NFKC", title).casefold())
    spaced = "".join(ch if ch.isalnum() else " " for ch in folded)
    words: set[str] = set()
    for token in spaced.split():
        words.update(_pieces(token))
    return frozenset(word for word in words if word not in _STOPWORDS)


def _pieces(token: str) -> Iterator[str]:
    """Split a token into runs of CJK and of everything else; CJK runs become char pairs."""
    for unspaced, run in itertools.groupby(token, key=is_unspaced):
        text = "".join(run)
        if unspaced:
            yield from _pairs(text)
        else:
            yield _singular(text)


def _pairs(run: str) -> Iterator[str]:
    if len(run) == 1:
        yield run
    for index in range(len(run) - 1):
        yield run[index : index + 2]


def _singular(word: str) -> str:
    # "models" and "model" are one word to a reader; "ss" endings ("access") are not plurals.
    if len(word) > 3 and word.isascii() and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def title_similarity(a: str, b: str) -> float:
    """Jaccard index of the two headlines' words, 0.0 to 1.0."""
    words_a, words_b = title_words(a), title_words(b)
    union = words_a | words_b
    return len(words_a & words_b) / len(union) if union else 0.0


def same_story(a: NewsItem, b: NewsItem) -> bool:
    """One canonical URL, or headlines similar enough (see ``SAME_STORY_JACCARD``)."""
    if story_key(a) == story_key(b):
        return True
    shared = title_words(a.title) & title_words(b.title)
    return len(shared) >= MIN_SHARED_WORDS and title_similarity(a.title, b.title) >= (
        SAME_STORY_JACCARD
    )


def cluster_stories(items: Iterable[NewsItem]) -> list[Story]:
    """Group ``items`` into stories, first reported first; each item joins one story only."""
    ordered = sorted(enumerate(items), key=lambda pair: _report_order(pair[1], pair[0]))
    clusters: list[list[NewsItem]] = []
    for _index, item in ordered:
        home = next((c for c in clusters if any(same_story(item, m) for m in c)), None)
        if home is None:
            clusters.append([item])
        else:
            home.append(item)
    return [_story(cluster) for cluster in clusters]


def _report_order(item: NewsItem, index: int) -> tuple[bool, dt.datetime, int]:
    # Dated items by time; undated ones after them, in feed order.
    when = item.published_at or dt.datetime.max.replace(tzinfo=dt.UTC)
    return item.published_at is None, when, index


def _story(cluster: Sequence[NewsItem]) -> Story:
    first = cluster[0]
    dates = [item.published_at for item in cluster if item.published_at is not None]
    return Story(
        headline=first.title,
        url=first.url,
        outlets=tuple(dict.fromkeys(item.outlet for item in cluster)),
        items=tuple(cluster),
        published_at=min(dates) if dates else None,
        updated_at=max(dates) if dates else None,
        summary=next((s for s in map(story_text, cluster) if s), ""),
        language=first.language,
        direction=first.direction,
    )


def story_text(item: NewsItem, *, limit: int = NEWS_EXCERPT_LIMIT) -> str:
    """One or two sentences of the item's own text: its summary, else its content."""
    for text in (item.summary, item.text):
        cut = _without_fragment(excerpt(_FEED_FOOTER.sub("", text), max_sentences=2, limit=limit))
        if cut:
            return cut
    return ""


def _without_fragment(text: str) -> str:
    """Drop a trailing fragment after a whole sentence: a link's words ("More on maths")."""
    ends = sentence_ends(text)
    if len(ends) > 1 and not text.rstrip().endswith(_SENTENCE_MARKS):
        return text[: ends[-2]].strip()
    return text


def rank_stories(stories: Iterable[Story], now: dt.datetime) -> list[Story]:
    """Most outlets and most recent first: weight = outlets x 0.5 ** (age / HALF_LIFE)."""
    return sorted(stories, key=lambda story: _rank_key(story, now))


def _rank_key(story: Story, now: dt.datetime) -> tuple[float, float, str]:
    latest = story.updated_at
    age = max(now - latest, dt.timedelta(0)) if latest is not None else UNDATED_AGE
    weight = len(story.outlets) * 0.5 ** (age / HALF_LIFE)
    stamp = latest.timestamp() if latest is not None else float("-inf")
    return -weight, -stamp, story.headline
