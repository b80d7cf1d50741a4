"""The typed model of one issue: what assembly writes to ``issue.json`` and rendering reads.

It lives in ``emails`` because rendering is its main reader and ``emails`` must not import
``pipeline``; assembly (in ``pipeline``) builds it. Every string here is already sanitised:
plain-text fields hold plain text, ``*_html`` fields hold HTML that passed the allowlist in
``emails.sanitize``.

Fields added after drafts were first written default to empty and are left out of the JSON
while empty (``exclude_if``), so older ``issue.json`` files load and an issue written
without the AI desk is byte for byte what it was before the desk existed. ``Issue.desk`` is
the AI desk's record of the issue (``DeskRecord``): which pieces it wrote, the item ids each
sentence rests on, the sentences the checker removed and why, and what it spent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _empty(value: object) -> bool:
    return not value


def _optional(default: str = "") -> str:
    """A string field added later: left out of ``issue.json`` while empty."""
    field: str = Field(default=default, exclude_if=_empty)
    return field


class Link(_Model):
    title: str
    url: str


class Weather(_Model):
    temperature_c: float
    condition: str


class Masthead(_Model):
    name: str = "The AI Morning Post"
    tagline: str = "Your Daily AI Intelligence Briefing"
    strapline: str = "Artificial Intelligence \u2022 Machine Learning \u2022 Future Tech"
    city: str
    weather: Weather | None = None


class Article(_Model):
    """A written piece: the lead, the deep dive, or a column."""

    title: str
    summary: str = ""
    body_html: str
    kicker: str = ""
    byline: str = ""
    pull_quote: str = ""
    links: list[Link] = Field(default_factory=list)


class LeadStory(Article):
    score: int = Field(ge=1, le=10)
    score_reason: str = _optional()  # one line: why this score (the AI desk gives one)


class Figure(_Model):
    """One figure of By the Numbers, computed from the day's data.

    ``label`` says what ``value`` counts; ``note`` (optional) says over what, e.g. "3 of the 5
    specialised models publish a size".
    """

    label: str
    value: str
    note: str = ""


class Story(_Model):
    """One news story: the headline and link of its first report, every outlet that carried it.

    ``sources`` holds one link per outlet (title = the outlet's name, url = its article), first
    reporter first; ``language`` and ``direction`` are the headline's, for ``lang``/``dir``.
    """

    headline: str
    summary: str = ""
    url: str
    sources: list[Link] = Field(default_factory=list)
    language: str = ""
    direction: Literal["ltr", "rtl"] = "ltr"
    byline: str = _optional()  # who wrote ``summary`` when not the outlet: "The AI Desk"

    @property
    def outlets(self) -> list[str]:
        return [link.title for link in self.sources]

    @property
    def via(self) -> str:
        """The outlets joined for readers: "The AI Dispatch and Machine Learning Weekly"."""
        names = self.outlets
        if len(names) <= 1:
            return "".join(names)
        return f"{', '.join(names[:-1])} and {names[-1]}"


class Tool(_Model):
    """A featured model. ``task``, ``size``, ``licence`` and ``popularity`` are for readers:
    "Speech recognition", "1.5B parameters", "Apache 2.0", "164 likes · 9.4k downloads"."""

    name: str
    description: str
    url: str
    task: str = ""
    size: str = ""
    licence: str = ""
    popularity: str = ""
    byline: str = _optional()  # who wrote ``description`` when not the card: "The AI Desk"

    @property
    def meta(self) -> list[str]:
        """The facts line under the description, in reading order; empty parts left out."""
        return [part for part in (self.task, self.size, self.licence, self.popularity) if part]


class Reading(_Model):
    title: str
    description: str
    url: str
    source: str = ""
    byline: str = _optional()  # who wrote ``description`` when not the authors or outlet


# --- the AI desk's record ---------------------------------------------------------------------

DeskSection = Literal["lead", "deep-dive", "opinion"]
BlurbSection = Literal["news", "tools", "reading"]


class CitedSentence(_Model):
    """A printed sentence and the ids of the facts-pack items it rests on."""

    text: str
    ids: list[str] = Field(default_factory=list)


class DeskPiece(_Model):
    """A written piece the desk's text was printed as: its paragraphs, sentence by sentence."""

    section: DeskSection
    title: str
    paragraphs: list[list[CitedSentence]] = Field(default_factory=list)

    def paragraph_ids(self) -> list[list[str]]:
        """Each paragraph's sources: the ids its sentences rest on, in first-cited order."""
        return [list(dict.fromkeys(i for s in p for i in s.ids)) for p in self.paragraphs]


class DeskBlurb(_Model):
    """A one-line description the desk wrote for an item of a section."""

    section: BlurbSection
    title: str  # the item as the issue names it
    text: str
    ids: list[str] = Field(default_factory=list)


class DeskSource(_Model):
    """What a cited id stands for: the item's title and link."""

    id: str
    title: str
    url: str = ""


class DeskRemoval(_Model):
    piece: str
    text: str
    reason: str


class DeskFallback(_Model):
    piece: str
    reason: str


class DeskUsage(_Model):
    """What the desk spent: calls, tokens as the backend counted them, seconds waited."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    assemblies: int = 1

    def plus(self, other: DeskUsage) -> DeskUsage:
        return DeskUsage(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            seconds=round(self.seconds + other.seconds, 3),
            assemblies=self.assemblies + other.assemblies,
        )


_SECTION_NAMES = {"lead": "the Lead Story", "deep-dive": "the Deep Dive"}


class DeskRecord(_Model):
    """The AI desk's part in the issue (see the module docstring).

    ``usage`` is this assembly's spending (pieces served from the cache cost nothing and are
    listed in ``cached``); ``total`` adds every assembly of this issue's date so far.
    """

    byline: str
    backend: str
    model: str
    pieces: list[DeskPiece] = Field(default_factory=list)
    blurbs: list[DeskBlurb] = Field(default_factory=list)
    sources: list[DeskSource] = Field(default_factory=list)
    removed: list[DeskRemoval] = Field(default_factory=list)
    fallbacks: list[DeskFallback] = Field(default_factory=list)
    cached: list[str] = Field(default_factory=list)
    usage: DeskUsage = Field(default_factory=DeskUsage)
    total: DeskUsage = Field(default_factory=DeskUsage)

    def source(self, fact_id: str) -> DeskSource | None:
        return next((s for s in self.sources if s.id == fact_id), None)

    @property
    def note(self) -> str:
        """One line for the footer: what the desk wrote; "" when it wrote nothing printed."""
        parts = [_SECTION_NAMES[p.section] for p in self.pieces if p.section in _SECTION_NAMES]
        columns = sum(p.section == "opinion" for p in self.pieces)
        if columns:
            parts.append("an opinion column" if columns == 1 else f"{columns} opinion columns")
        if self.blurbs:
            count = len(self.blurbs)
            parts.append("one item description" if count == 1 else f"{count} item descriptions")
        if not parts:
            return ""
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        return (
            f"{self.byline} wrote {listed} in this issue from the day's data; every sentence "
            "was checked against that data before print."
        )


# Section names as drafts written before they were chosen per issue printed them.
DEFAULT_NEWS_HEADING = "News in Brief"
DEFAULT_READING_HEADING = "Weekend Reading"


class Issue(_Model):
    date: dt.date
    number: int = Field(ge=1)
    language: str = "en"
    subject: str
    preheader: str
    masthead: Masthead
    lead: LeadStory | None = None
    numbers: list[Figure] = Field(default_factory=list)
    news: list[Story] = Field(default_factory=list)
    news_heading: str = DEFAULT_NEWS_HEADING
    deep_dive: Article | None = None
    opinions: list[Article] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    reading: list[Reading] = Field(default_factory=list)
    reading_heading: str = DEFAULT_READING_HEADING
    desk: DeskRecord | None = Field(default=None, exclude_if=lambda value: value is None)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Issue:
        return cls.model_validate_json(path.read_bytes())
