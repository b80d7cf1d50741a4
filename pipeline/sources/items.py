"""What sources return: plain, typed records, already cleaned of markup they should not carry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ModelItem:
    """A trending model on the Hugging Face Hub."""

    id: str
    author: str
    url: str
    likes: int
    downloads: int
    trending_score: float
    pipeline_tag: str | None
    tags: tuple[str, ...]
    library_name: str | None = None
    created_at: dt.datetime | None = None
    parameters: int | None = None  # None: the repo does not publish it; never 0 for unknown
    description: str | None = None  # one line from the card data, if the card has one


@dataclass(frozen=True)
class PaperItem:
    """A research paper: Hugging Face daily papers or an arXiv feed entry."""

    id: str
    title: str
    summary: str
    url: str
    authors: tuple[str, ...]
    source: str
    upvotes: int = 0
    published_at: dt.datetime | None = None


@dataclass(frozen=True)
class NewsItem:
    """An entry of an RSS or Atom feed."""

    title: str
    url: str
    summary: str
    source: str
    authors: tuple[str, ...] = ()
    published_at: dt.datetime | None = None


Section = Literal["lead", "deep-dive", "opinion"]


@dataclass(frozen=True)
class EditorialPiece:
    """A piece an editor wrote in Markdown; ``body_html`` is rendered and sanitised."""

    section: Section
    title: str
    body_html: str
    summary: str = ""
    author: str = ""
    column: str = ""
    score: int | None = None
    pull_quote: str = ""
    path: str = ""


@dataclass(frozen=True)
class WeatherReport:
    city: str
    temperature_c: float
    condition: str


@dataclass
class Gathering:
    """Everything the sources brought in for one issue."""

    models: list[ModelItem] = field(default_factory=list)
    papers: list[PaperItem] = field(default_factory=list)
    news: list[NewsItem] = field(default_factory=list)
    editorial: list[EditorialPiece] = field(default_factory=list)
    weather: WeatherReport | None = None

    def merge(self, other: Gathering) -> None:
        self.models.extend(other.models)
        self.papers.extend(other.papers)
        self.news.extend(other.news)
        self.editorial.extend(other.editorial)
        self.weather = other.weather or self.weather
