"""Assembly: the day's gathered material becomes one ``Issue``.

Everything written here states only facts found in the data; a section with nothing true to
say is left out.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from emails.issue import Article, Issue, LeadStory, Link, Masthead, Reading, Tool, Weather
from pipeline.numbers import by_the_numbers, human_parameters
from pipeline.sources.items import EditorialPiece, Gathering, ModelItem, NewsItem, PaperItem

TOOLS_PER_ISSUE = 4
READING_PER_ISSUE = 3
DEFAULT_LEAD_SCORE = 5


def assemble(gathered: Gathering, *, date: dt.date, number: int, city: str) -> Issue:
    lead = _lead(gathered)
    masthead = Masthead(city=city, weather=_weather(gathered))
    return Issue(
        date=date,
        number=number,
        subject=lead.title if lead else f"The AI Morning Post \u2014 {date:%d %B %Y}",
        preheader=(lead.summary if lead else "") or "Your Daily AI Intelligence Briefing",
        masthead=masthead,
        lead=lead,
        numbers=by_the_numbers(gathered.models),
        deep_dive=_first_article(gathered.editorial, "deep-dive"),
        opinions=[_article(p) for p in gathered.editorial if p.section == "opinion"],
        tools=[_tool(m) for m in _top_models(gathered.models)[:TOOLS_PER_ISSUE]],
        reading=_reading(gathered.papers, gathered.news)[:READING_PER_ISSUE],
    )


def _weather(gathered: Gathering) -> Weather | None:
    report = gathered.weather
    if report is None:
        return None
    return Weather(temperature_c=report.temperature_c, condition=report.condition)


def _lead(gathered: Gathering) -> LeadStory | None:
    for piece in gathered.editorial:
        if piece.section == "lead":
            score = piece.score or DEFAULT_LEAD_SCORE
            return LeadStory(score=score, **_article(piece).model_dump())
    return _lead_from_models(_top_models(gathered.models))


def _lead_from_models(models: Sequence[ModelItem]) -> LeadStory | None:
    """A factual lead for days without an editor's: what tops the trending chart."""
    if not models:
        return None
    top = models[0]
    others = ", ".join(m.id for m in models[1:4])
    summary = f"{top.id} tops today's Hugging Face trending models."
    facts = [f"{top.id} has {top.likes:,} likes and {top.downloads:,} downloads"]
    if top.parameters:
        facts.append(f"publishes {human_parameters(top.parameters)} parameters")
    body = f"<p>{html.escape('; '.join(facts))}.</p>"
    if others:
        body += f"<p>Also trending: {html.escape(others)}.</p>"
    return LeadStory(
        title=f"{top.id} leads the trending chart",
        summary=summary,
        body_html=body,
        kicker="Trending",
        score=DEFAULT_LEAD_SCORE,
        links=[Link(title=m.id, url=m.url) for m in models[:4]],
    )


def _first_article(pieces: Sequence[EditorialPiece], section: str) -> Article | None:
    return next((_article(p) for p in pieces if p.section == section), None)


def _article(piece: EditorialPiece) -> Article:
    return Article(
        title=piece.title,
        summary=piece.summary,
        body_html=piece.body_html,
        kicker=piece.column,
        byline=piece.author,
        pull_quote=piece.pull_quote,
    )


def _top_models(models: Sequence[ModelItem]) -> list[ModelItem]:
    return sorted(models, key=lambda m: m.trending_score, reverse=True)


def _tool(model: ModelItem) -> Tool:
    return Tool(
        name=model.id.rpartition("/")[2],
        description=model.description or f"A {model.pipeline_tag or 'model'} by {model.author}",
        url=model.url,
        task=model.pipeline_tag or "",
        size=human_parameters(model.parameters) + " params" if model.parameters else "",
    )


def _reading(papers: Sequence[PaperItem], news: Sequence[NewsItem]) -> list[Reading]:
    ranked = sorted(papers, key=lambda p: p.upvotes, reverse=True)
    items = [
        Reading(title=p.title, description=_first_sentence(p.summary), url=p.url, source=p.source)
        for p in ranked
    ]
    items += [
        Reading(title=n.title, description=_first_sentence(n.summary), url=n.url, source=n.source)
        for n in news
    ]
    return items


def _first_sentence(text: str, limit: int = 200) -> str:
    sentence = text.split(". ")[0].strip()
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "\u2026"
    return sentence.rstrip(".") + "." if sentence else ""
