"""Assembly: the day's gathered material becomes one ``Issue``.

Everything written here states only facts found in the data; a section with nothing true to
say is left out. The order of work:

1. ``dedup.unique``: each item once within the issue (canonical URL, title, paper id).
2. Items featured in the recent issues (``featured``, from ``pipeline.history``) are left out
   of the sections that feature items: the lead's sources, Tools of the Week, Weekend Reading.
   By the Numbers still describes the whole day's trending chart, which is a fact of the day.
3. Sections are built; every string that came from outside passes ``emails.sanitize`` once
   more here (plain text stays plain, HTML passes the allowlist, links only http(s) and
   without tracking parameters), so ``issue.json`` is safe whatever a source let through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from emails.errors import TooFewItems
from emails.issue import Article, Issue, LeadStory, Link, Masthead, Reading, Tool, Weather
from emails.sanitize import clean_html, plain_text
from pipeline.assembly import lead as leads
from pipeline.assembly.dedup import Seen, clean_url, unique
from pipeline.assembly.numbers import by_the_numbers, human_parameters
from pipeline.sources.items import EditorialPiece, Gathering, ModelItem, NewsItem, PaperItem

TOOLS_PER_ISSUE = 4
READING_PER_ISSUE = 3
DEFAULT_LEAD_SCORE = 5
_MAX_DESCRIPTION = 200



def assemble(
    gathered: Gathering,
    *,
    date: dt.date,
    number: int,
    city: str,
    featured: Seen | None = None,
) -> Issue:
    """Build the issue of ``date`` from ``gathered``; ``featured``: keys of recent issues."""
    day = unique(gathered)
    fresh = unique(day, featured) if featured is not None else day
    lead = _lead(fresh, chart=day.models)
    tools = _tools(fresh.models)
    return Issue(
        date=date,
        number=number,
        subject=lead.title if lead else f"The AI Morning Post \u2014 {date:%d %B %Y}",
        preheader=(lead.summary if lead else "") or "Your Daily AI Intelligence Briefing",
        masthead=Masthead(city=plain_text(city), weather=_weather(gathered)),
        lead=lead,
        numbers=by_the_numbers(day.models),
        deep_dive=_first_article(fresh.editorial, "deep-dive"),
        opinions=[_article(p) for p in fresh.editorial if p.section == "opinion"],
        tools=tools,
        reading=_reading(fresh.papers, fresh.news, skip=_sources_of(lead)),
    )


def count_items(issue: Issue) -> int:
    """What the issue features: written pieces, tools and readings."""
    pieces = (issue.lead is not None) + (issue.deep_dive is not None) + len(issue.opinions)
    return pieces + len(issue.tools) + len(issue.reading)


def require_items(issue: Issue, minimum: int) -> None:
    """Raise ``TooFewItems`` (one line) unless ``issue`` features at least ``minimum`` items."""
    count = count_items(issue)
    if count < minimum:
        raise TooFewItems(
            f"the issue of {issue.date} would feature only {count} item(s), fewer than the "
            f"minimum of {minimum} (MORNINGPOST_MIN_ITEMS); no draft written"
        )


def _weather(gathered: Gathering) -> Weather | None:
    report = gathered.weather
    if report is None:
        return None
    return Weather(temperature_c=report.temperature_c, condition=plain_text(report.condition))


# --- the lead ---------------------------------------------------------------------------------


def _lead(fresh: Gathering, *, chart: Sequence[ModelItem]) -> LeadStory | None:
    """The editor's lead if there is one, else one written from the strongest cluster."""
    reading: list[PaperItem | NewsItem] = [*fresh.papers, *fresh.news]
    cluster = leads.strongest(fresh.models, reading, chart=chart)
    for piece in fresh.editorial:
        if piece.section == "lead":
            # An editor who gave no score gets the data's own measure of the day.
            score = piece.score or (cluster.score if cluster else DEFAULT_LEAD_SCORE)
            return LeadStory(score=score, **_article(piece).model_dump())
    if cluster is None:
        return None
    written = leads.written_lead(cluster, chart_size=len(chart))
    return written.model_copy(
        update={"body_html": clean_html(written.body_html), "links": _links(written.links)}
    )


def _links(links: Sequence[Link]) -> list[Link]:
    kept = []
    for link in links:
        url = clean_url(link.url)
        if url is not None:
            kept.append(Link(title=plain_text(link.title), url=url))
    return kept


# --- editorial ----------------------------------------------------------------------------------


def _first_article(pieces: Sequence[EditorialPiece], section: str) -> Article | None:
    return next((_article(p) for p in pieces if p.section == section), None)


def _article(piece: EditorialPiece) -> Article:
    return Article(
        title=plain_text(piece.title),
        summary=plain_text(piece.summary),
        body_html=clean_html(piece.body_html),
        kicker=plain_text(piece.column),
        byline=plain_text(piece.author),
        pull_quote=plain_text(piece.pull_quote),
    )


# --- tools and reading --------------------------------------------------------------------------


def _tools(models: Sequence[ModelItem]) -> list[Tool]:
    ranked = sorted(models, key=lambda m: m.trending_score, reverse=True)
    tools = [tool for tool in (_tool(m) for m in ranked) if tool is not None]
    return tools[:TOOLS_PER_ISSUE]


def _tool(model: ModelItem) -> Tool | None:
    url = clean_url(model.url)
    if url is None:
        return None
    task = model.pipeline_tag or ""
    fallback = f"A {task.replace('-', ' ') or 'model'} by {model.author}"
    return Tool(
        name=plain_text(model.id.rpartition("/")[2]),
        description=_one_line(plain_text(model.description or "") or plain_text(fallback)),
        url=url,
        task=plain_text(task),
        size=human_parameters(model.parameters) + " params" if model.parameters else "",
    )


def _sources_of(lead: LeadStory | None) -> Seen:
    """The lead's links: what the lead already sends readers to, Weekend Reading need not."""
    seen = Seen()
    for link in lead.links if lead else ():
        seen.add(url=link.url)
    return seen


def _reading(papers: Sequence[PaperItem], news: Sequence[NewsItem], *, skip: Seen) -> list[Reading]:
    """The best papers and articles: voted papers by votes, then the rest newest first."""
    voted = sorted((p for p in papers if p.upvotes > 0), key=lambda p: p.upvotes, reverse=True)
    rest: list[PaperItem | NewsItem] = [*(p for p in papers if p.upvotes <= 0), *news]
    # Stable sort: items of one date keep their feed order; undated items come last.
    dated = sorted((i for i in rest if i.published_at), key=_published, reverse=True)
    undated = [i for i in rest if i.published_at is None]
    items: list[Reading] = []
    for item in [*voted, *dated, *undated]:
        if skip.has(url=item.url):
            continue
        reading = _reading_item(item)
        if reading is not None:
            items.append(reading)
        if len(items) == READING_PER_ISSUE:
            break
    return items


def _published(item: PaperItem | NewsItem) -> dt.datetime:
    assert item.published_at is not None  # only dated items are sorted by date
    return item.published_at


def _reading_item(item: PaperItem | NewsItem) -> Reading | None:
    url = clean_url(item.url)
    title = plain_text(item.title)
    if url is None or not title:
        return None
    return Reading(
        title=title,
        description=_first_sentence(plain_text(item.summary)),
        url=url,
        source=plain_text(item.source),
    )


def _one_line(text: str, limit: int = _MAX_DESCRIPTION) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


def _first_sentence(text: str, limit: int = _MAX_DESCRIPTION) -> str:
    sentence = _one_line(text.split(". ")[0].strip(), limit)
    if not sentence or sentence.endswith(("\u2026", "?", "!")):
        return sentence
    return sentence.rstrip(".") + "."
