"""The typed model of one issue: what assembly writes to ``issue.json`` and rendering reads.

It lives in ``emails`` because rendering is its main reader and ``emails`` must not import
``pipeline``; assembly (in ``pipeline``) builds it. Every string here is already sanitised:
plain-text fields hold plain text, ``*_html`` fields hold HTML that passed the allowlist in
``emails.sanitize``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @property
    def meta(self) -> list[str]:
        """The facts line under the description, in reading order; empty parts left out."""
        return [part for part in (self.task, self.size, self.licence, self.popularity) if part]


class Reading(_Model):
    title: str
    description: str
    url: str
    source: str = ""


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

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Issue:
        return cls.model_validate_json(path.read_bytes())
