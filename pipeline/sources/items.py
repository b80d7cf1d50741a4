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
    parameters: int | None = None  # the real count (see sources/sizes.py); None when unknown
    description: str | None = None  # one line from the card data, if the card has one
    # How ``parameters`` was found: "reported" (safetensors, one element per parameter),
    # "gguf", "converted" (packed quantised weights unpacked), "base" (the base model's size).
    parameters_basis: str | None = None
    licence: str | None = None  # a reader's name for it: "Apache 2.0", "MIT", "CC BY 4.0"
    languages: tuple[str, ...] = ()  # language codes as the card declares them ("ar", "arz")
    base_model: str | None = None  # repo id of the model this one derives from
    base_relation: str | None = None  # "finetune", "quantized", "adapter", "merge" (Hub tags)
    quantization: str | None = None  # "4-bit MLX", "4-bit GPTQ"...; None when not quantised
    card_text: str | None = None  # the card's first real sentence or two (sources/cards.py)


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
    ai_summary: str = ""  # the Hub's one-line summary of the paper's finding, when it has one


Direction = Literal["ltr", "rtl"]


@dataclass(frozen=True)
class NewsItem:
    """An entry of an RSS or Atom feed. ``source`` is the outlet: the feed's own title."""

    title: str
    url: str
    summary: str
    source: str
    authors: tuple[str, ...] = ()
    published_at: dt.datetime | None = None
    # The entry's own words, plain: its content when the feed carries the article, else its
    # summary. ``summary`` stays the feed's summary, as before.
    text: str = ""
    language: str | None = None  # xml:lang of the entry, else the feed's <language>
    direction: Direction = "ltr"  # the title's letters decide; the language when they do not

    @property
    def outlet(self) -> str:
        """The outlet's name, as the feed titles itself."""
        return self.source


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
