"""The typed model of one issue: what assembly writes to ``issue.json`` and rendering reads.

It lives in ``emails`` because rendering is its main reader and ``emails`` must not import
``pipeline``; assembly (in ``pipeline``) builds it. Every string here is already sanitised:
plain-text fields hold plain text, ``*_html`` fields hold HTML that passed the allowlist in
``emails.sanitize``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
    """One figure of By the Numbers, computed from the day's data."""

    label: str
    value: str


class Tool(_Model):
    name: str
    description: str
    url: str
    task: str = ""
    size: str = ""


class Reading(_Model):
    title: str
    description: str
    url: str
    source: str = ""


class Issue(_Model):
    date: dt.date
    number: int = Field(ge=1)
    language: str = "en"
    subject: str
    preheader: str
    masthead: Masthead
    lead: LeadStory | None = None
    numbers: list[Figure] = Field(default_factory=list)
    deep_dive: Article | None = None
    opinions: list[Article] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    reading: list[Reading] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Issue:
        return cls.model_validate_json(path.read_bytes())
