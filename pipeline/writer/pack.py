"""The facts pack of one day, built from what assembly gathered and chose.

Which items go in, and why:

- **models**: the trending models not featured lately (the issue's candidates), at most
  ``MAX_MODELS`` by trending score, each with its chart position (``rank``, over the whole
  day's chart), likes, downloads and real size, and its card's own words (read for the
  featured models) or the plain-English line from its tags;
- **papers**: the day's papers not featured lately, at most ``MAX_PAPERS`` by upvotes, with
  authors and the Hub's summary followed by the abstract (the authors' own words, which is
  what a quote may copy);
- **news**: the day's stories, strongest first (as the news section ranks them), at most
  ``MAX_STORIES``, each with every outlet and their own words; then up to
  ``MAX_LONG_READS`` long reads;
- **figures**: By the Numbers as computed (value, label and what it counts);
- **recent headlines**: the last issues' lead titles, not to be repeated.

The caps keep the pack (sent once per piece) a few thousand tokens on a busy day; the
sample day fits whole. Every string is passed through ``plain_text`` first, so the model and
the checker see the same text readers would. Ids are the stable ones of
``pipeline.writer.facts``, so the same day gives the same pack, and the cache answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from emails.issue import Figure
from emails.sanitize import plain_text
from pipeline.assembly.news import Story
from pipeline.sources.items import ModelItem, NewsItem, PaperItem
from pipeline.writer.facts import (
    ComputedFigure,
    Fact,
    FactsPack,
    figure_fact_id,
    model_fact_id,
    news_fact_id,
    paper_fact_id,
)

MAX_MODELS = 12
MAX_PAPERS = 8
MAX_STORIES = 10
MAX_LONG_READS = 3
CHART_SOURCE = "Hugging Face Hub trending"


def facts_pack(
    *,
    date: dt.date,
    chart: Sequence[ModelItem],
    models: Sequence[ModelItem],
    papers: Sequence[PaperItem],
    stories: Sequence[Story],
    long_reads: Sequence[NewsItem] = (),
    figures: Sequence[Figure] = (),
    headlines: Sequence[str] = (),
) -> FactsPack:
    """The pack of ``date``. ``chart``: the whole trending list (ranks are positions in it);
    ``models``, ``papers``: the day's fresh ones; ``stories``: ranked, strongest first."""
    ranks = _ranks(chart)
    items = [model_fact(m, ranks.get(m.id)) for m in _by_trending(models)[:MAX_MODELS]]
    items += [paper_fact(p) for p in sorted(papers, key=lambda p: -p.upvotes)[:MAX_PAPERS]]
    items += [story_fact(s) for s in stories[:MAX_STORIES]]
    items += [article_fact(a) for a in long_reads[:MAX_LONG_READS]]
    return FactsPack(
        date=date,
        items=tuple(_unique(items)),
        figures=tuple(figure_fact(n, f) for n, f in enumerate(figures, start=1)),
        recent_headlines=tuple(plain_text(h) for h in headlines if h),
    )


def model_fact(model: ModelItem, rank: int | None) -> Fact:
    numbers: dict[str, float] = {"likes": model.likes, "downloads": model.downloads}
    if rank is not None:
        numbers["rank"] = rank
    if model.parameters:
        numbers["parameters"] = model.parameters
    return Fact(
        id=model_fact_id(model.id),
        kind="model",
        name=model.id,
        org=model.author,
        source=CHART_SOURCE,
        url=model.url,
        task=model.pipeline_tag or "",
        numbers=numbers,
        text=plain_text(model.card_text or model.description or ""),
    )


def paper_fact(paper: PaperItem) -> Fact:
    text = " ".join(t for t in (plain_text(paper.ai_summary), plain_text(paper.summary)) if t)
    return Fact(
        id=paper_fact_id(paper.id),
        kind="paper",
        name=plain_text(paper.title),
        authors=tuple(plain_text(a) for a in paper.authors),
        source=plain_text(paper.source),
        url=paper.url,
        published=paper.published_at.date() if paper.published_at else None,
        numbers={"upvotes": paper.upvotes} if paper.upvotes else {},
        text=text,
    )


def story_fact(story: Story) -> Fact:
    """A story as one item: its first report's headline and link, every outlet and author,
    and each outlet's own words (the checker finds quotes and names in them)."""
    authors = dict.fromkeys(plain_text(a) for item in story.items for a in item.authors)
    words = dict.fromkeys(plain_text(item.text or item.summary) for item in story.items)
    return Fact(
        id=news_fact_id(story.url),
        kind="news",
        name=plain_text(story.headline),
        authors=tuple(a for a in authors if a),
        source=", ".join(plain_text(o) for o in story.outlets),
        url=story.url,
        published=story.published_at.date() if story.published_at else None,
        numbers={"outlets": len(story.outlets)},
        text=" ".join(w for w in words if w),
    )


def article_fact(item: NewsItem) -> Fact:
    """A long read: one outlet's article."""
    return Fact(
        id=news_fact_id(item.url),
        kind="news",
        name=plain_text(item.title),
        authors=tuple(plain_text(a) for a in item.authors),
        source=plain_text(item.source),
        url=item.url,
        published=item.published_at.date() if item.published_at else None,
        text=plain_text(item.text or item.summary),
    )


def figure_fact(number: int, figure: Figure) -> ComputedFigure:
    label = f"{figure.label} ({figure.note})" if figure.note else figure.label
    return ComputedFigure(id=figure_fact_id(number), label=label, value=figure.value)


def _by_trending(models: Sequence[ModelItem]) -> list[ModelItem]:
    return sorted(models, key=lambda m: m.trending_score, reverse=True)


def _ranks(chart: Sequence[ModelItem]) -> dict[str, int]:
    """Each model's position on the day's chart, 1 for the most trending."""
    return {m.id: n for n, m in enumerate(_by_trending(chart), start=1)}


def _unique(items: list[Fact]) -> list[Fact]:
    """One fact per id: a long read that is also a story's report is told once."""
    first: dict[str, Fact] = {}
    for item in items:
        first.setdefault(item.id, item)
    return list(first.values())
