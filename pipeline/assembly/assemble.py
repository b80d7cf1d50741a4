"""Assembly: the day's gathered material becomes one ``Issue``.

Everything written here states only facts found in the data; a section with nothing true to
say is left out. The order of work:

1. News items are clustered into stories (``news.cluster_stories``) *before* anything is
   deduplicated, so one story from two outlets stays one story naming both.
2. ``dedup.unique``: each model and paper once within the issue (canonical URL, title, paper
   id); a story whose report is also a paper of the day is the paper's.
3. Items featured in the recent issues (``featured``, from ``history``) are left out of every
   section that features items: the lead's sources, the news, Tools of the Week, the reading.
   By the Numbers still describes the whole day's trending chart, which is a fact of the day.
4. The lead: the editor's, else the day's strongest story across every source (``lead.py``).
5. Sections, each item in one section only: the news (``NEWS_PER_ISSUE`` stories, ranked by
   outlets and recency, every outlet's best story first), then the reading (papers by votes
   and long-form feed articles, see ``choose_reading``), each skipping what came before.
6. Every string that came from outside passes ``emails.sanitize`` once more here (plain text
   stays plain, HTML passes the allowlist, links only http(s) and without tracking
   parameters), so ``issue.json`` is safe whatever a source let through.

The AI desk (``desk``, when a writer is configured): before the lead is chosen, the day's
facts pack (``pipeline.writer.pack``) goes to the desk once, and each piece it wrote that no
editor's file covers replaces the deterministic one: the lead (so the sections after it skip
what the desk's lead links to), the deep dive, the columns, and the one-line descriptions of
the news, tools and reading. Whatever the desk could not write keeps the deterministic text;
``Issue.desk`` records what it did. Editors' files always win.

Model cards are read between planning and assembly: ``featured_model_ids`` names the models
the issue will feature, the caller fetches their cards (``sources.cards``) and hands the
enriched models back; the choice of models does not depend on the cards.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from emails.errors import TooFewItems
from emails.issue import (
    Article,
    BlurbSection,
    Figure,
    Issue,
    LeadStory,
    Link,
    Masthead,
    Reading,
    Story,
    Tool,
    Weather,
)
from emails.sanitize import clean_html, plain_text
from pipeline.assembly import blurbs, headlines
from pipeline.assembly import lead as leads
from pipeline.assembly import news as newsroom
from pipeline.assembly.dedup import Seen, clean_url, unique
from pipeline.assembly.numbers import by_the_numbers
from pipeline.sources.items import EditorialPiece, Gathering, ModelItem, NewsItem, PaperItem
from pipeline.writer.desk import BYLINE
from pipeline.writer.facts import model_fact_id, news_fact_id, paper_fact_id
from pipeline.writer.pack import facts_pack
from pipeline.writer.pieces import DeskCall, Written, covered_pieces

log = logging.getLogger(__name__)

TOOLS_PER_ISSUE = 4
READING_PER_ISSUE = 3
NEWS_PER_ISSUE = 8
DEFAULT_LEAD_SCORE = 5
ISSUE_LANGUAGE = "en"  # the issue's own language (``Issue.language``)
# A feed's stories older than this before the day's newest report are not news any more.
NEWS_WINDOW = dt.timedelta(days=7)
# A single outlet's article with this many words of its own is a long read, not a news brief.
LONG_READ_WORDS = 400
# A long read outranks a paper fewer than this many readers upvoted on the Hub.
STRONG_PAPER_VOTES = 50
SEND_HOUR = dt.time(6, 30)  # when ``now`` is not given: the issue's morning, in UTC


@dataclass
class Day:
    """The day's material, deduplicated and split into what each section may draw on."""

    chart: list[ModelItem]  # the whole day's trending list: By the Numbers describes it
    models: list[ModelItem]  # not featured recently
    papers: list[PaperItem]
    stories: list[newsroom.Story]  # news, clustered before dedup, within the window
    long_reads: list[NewsItem]  # single-outlet long-form articles: reading, not news
    editorial: list[EditorialPiece] = field(default_factory=list)


def default_now(date: dt.date) -> dt.datetime:
    """When the issue of ``date`` goes out, if the caller does not say: its morning, UTC."""
    return dt.datetime.combine(date, SEND_HOUR, tzinfo=dt.UTC)


def the_day(gathered: Gathering, featured: Seen | None = None) -> Day:
    """Cluster the news, deduplicate everything, and leave out what recent issues featured."""
    stories = newsroom.cluster_stories(gathered.news)
    day = unique(Gathering(models=list(gathered.models), papers=list(gathered.papers)))
    fresh = unique(day, featured) if featured is not None else day
    papers = Seen()
    for paper in day.papers:
        papers.add(url=paper.url, title=paper.title, id_=f"paper:{paper.id}")
    kept = [s for s in stories if not _seen(s, papers) and not _seen(s, featured)]
    kept = _within_window(kept)
    long_reads = [s.items[0] for s in kept if _is_long_read(s)]
    return Day(
        chart=day.models,
        models=fresh.models,
        papers=fresh.papers,
        stories=[s for s in kept if not _is_long_read(s)],
        long_reads=long_reads,
        editorial=list(gathered.editorial),
    )


def featured_model_ids(
    gathered: Gathering, *, now: dt.datetime, featured: Seen | None = None
) -> list[str]:
    """Ids of the models the issue will feature (the lead's, then the tools'): read their
    cards before ``assemble``."""
    day = the_day(gathered, featured)
    ids = [m.id for m in _tool_models(day.models)]
    if not any(p.section == "lead" for p in day.editorial):
        candidate = _candidate(day, now)
        if isinstance(candidate, leads.Cluster):
            ids = [m.id for m in candidate.models[: leads.MODELS_LINKED]] + ids
    return list(dict.fromkeys(ids))


def assemble(
    gathered: Gathering,
    *,
    date: dt.date,
    number: int,
    city: str,
    featured: Seen | None = None,
    now: dt.datetime | None = None,
    reading_heading: str | None = None,
    desk: DeskCall | None = None,
    recent_headlines: Sequence[str] = (),
) -> Issue:
    """Build the issue of ``date`` from ``gathered``; ``featured``: keys of recent issues.

    ``now`` is when the issue goes out (news recency is measured from it); ``reading_heading``
    names the reading section on every day (default: by the weekday, ``headlines``).
    ``desk``: the AI desk, asked once for the pieces no editor wrote (``recent_headlines``:
    the last issues' lead titles, which it must not repeat); None: the deterministic writer.
    """
    day = the_day(gathered, featured)
    when = now or default_now(date)
    numbers = by_the_numbers(day.chart)
    written = _written(desk, day, date=date, now=when, numbers=numbers,
                       headlines=recent_headlines)  # fmt: skip
    lead = _lead(day, when, written)
    used = _sources_of(lead)
    news = choose_news(day.stories, when, skip=used, written=written)
    for story in news:
        for link in story.sources:
            used.add(url=link.url, title=story.headline)
    reading = choose_reading(day.papers, day.long_reads, skip=used, written=written)
    tools = [_tool(m, written) for m in _tool_models(day.models)]
    reading_name = headlines.reading_heading(date, reading_heading)
    masthead = Masthead(city=plain_text(city), weather=_weather(gathered))
    return Issue(
        date=date,
        number=number,
        subject=_subject(lead, news, date, masthead.name, day.chart),
        preheader=headlines.preheader(
            news[1:] if lead is None else news,
            tools,
            reading,
            reading_name=reading_name,
            fallback=headlines.quiet_day(masthead.name, date),
            skip=[link.url for link in lead.links] if lead else (),
        ),
        masthead=masthead,
        lead=lead,
        numbers=numbers,
        news=news,
        news_heading=headlines.NEWS_HEADING,
        deep_dive=_deep_dive(day.editorial, written),
        opinions=_opinions(day.editorial, written),
        tools=tools,
        reading=reading,
        reading_heading=reading_name,
        desk=written.record() if written else None,
    )


# --- the AI desk --------------------------------------------------------------------------------


def _written(
    desk: DeskCall | None,
    day: Day,
    *,
    date: dt.date,
    now: dt.datetime,
    numbers: Sequence[Figure],
    headlines: Sequence[str],
) -> Written | None:
    """The desk's edition of the day, or None (no desk, or it failed: never the issue)."""
    if desk is None:
        return None
    try:
        pack = facts_pack(
            date=date,
            chart=day.chart,
            models=day.models,
            papers=day.papers,
            stories=newsroom.rank_stories(day.stories, _news_time(day.stories, now)),
            long_reads=day.long_reads,
            figures=numbers,
            headlines=headlines,
        )
        edition = desk(pack, covered=covered_pieces(p.section for p in day.editorial))
    except Exception as err:  # isolation: the desk must never stop the morning's issue
        log.warning("writer: not used for this issue (unexpected %s)", type(err).__name__)
        log.debug("writer: the desk failed", exc_info=True)
        return None
    return Written(edition, pack)


def _deep_dive(pieces: Sequence[EditorialPiece], written: Written | None) -> Article | None:
    editors = _first_article(pieces, "deep-dive")
    return editors or (written.deep_dive() if written else None)


def _opinions(pieces: Sequence[EditorialPiece], written: Written | None) -> list[Article]:
    editors = [_article(p) for p in pieces if p.section == "opinion"]
    return editors or (written.opinions() if written else [])


def _by_desk(
    written: Written | None, fact_id: str, *, section: BlurbSection, title: str
) -> str | None:
    return written.blurb(fact_id, section=section, title=title) if written else None


def count_items(issue: Issue) -> int:
    """What the issue features: written pieces, news stories, tools and readings."""
    pieces = (issue.lead is not None) + (issue.deep_dive is not None) + len(issue.opinions)
    return pieces + len(issue.news) + len(issue.tools) + len(issue.reading)


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


def _subject(
    lead: LeadStory | None,
    news: Sequence[Story],
    date: dt.date,
    brand: str,
    chart: Sequence[ModelItem],
) -> str:
    headline = lead.title if lead else news[0].headline if news else ""
    return headlines.subject_line(headline, date=date, brand=brand, model_ids=[m.id for m in chart])


# --- the day's material -------------------------------------------------------------------------


def _seen(story: newsroom.Story, seen: Seen | None) -> bool:
    return seen is not None and any(seen.has(url=i.url, title=i.title) for i in story.items)


def _within_window(stories: list[newsroom.Story]) -> list[newsroom.Story]:
    """Undated stories, and those no older than ``NEWS_WINDOW`` before the newest report.

    Measured from the newest report rather than the clock, so a replay of old recordings
    (``--sample``) still has its news, while a feed that stopped months ago has none.
    """
    dates = [s.updated_at for s in stories if s.updated_at is not None]
    if not dates:
        return stories
    cutoff = max(dates) - NEWS_WINDOW
    return [s for s in stories if s.updated_at is None or s.updated_at >= cutoff]


def _is_long_read(story: newsroom.Story) -> bool:
    return len(story.outlets) == 1 and len(story.items[0].text.split()) >= LONG_READ_WORDS


# --- the lead -----------------------------------------------------------------------------------


def _candidate(day: Day, now: dt.datetime) -> leads.Candidate | None:
    return leads.strongest_story(day.models, day.papers, day.stories, chart=day.chart, now=now)


def _lead(day: Day, now: dt.datetime, written: Written | None = None) -> LeadStory | None:
    """The editor's lead if there is one, else the desk's, else one written from the
    strongest story."""
    candidate = _candidate(day, now)
    # An editor (or the desk) who gave no score gets the data's own measure of the day.
    score = candidate.score if candidate else DEFAULT_LEAD_SCORE
    for piece in day.editorial:
        if piece.section == "lead":
            return LeadStory(score=piece.score or score, **_article(piece).model_dump())
    desk_lead = written.lead(score=score) if written else None
    if desk_lead is not None:
        return desk_lead
    if candidate is None:
        return None
    deterministic = leads.written_lead(candidate, chart=day.chart)
    return deterministic.model_copy(
        update={
            "title": plain_text(deterministic.title),
            "summary": plain_text(deterministic.summary),
            "body_html": clean_html(deterministic.body_html),
            "links": _links(deterministic.links),
        }
    )


def _links(links: Sequence[Link]) -> list[Link]:
    kept = []
    for link in links:
        url = clean_url(link.url)
        if url is not None:
            kept.append(Link(title=plain_text(link.title), url=url))
    return kept


def _sources_of(lead: LeadStory | None) -> Seen:
    """The lead's links: what the lead already sends readers to, no other section repeats."""
    seen = Seen()
    for link in lead.links if lead else ():
        seen.add(url=link.url)
    return seen


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


# --- news ---------------------------------------------------------------------------------------


def choose_news(
    stories: Sequence[newsroom.Story],
    now: dt.datetime,
    *,
    skip: Seen,
    limit: int = NEWS_PER_ISSUE,
    written: Written | None = None,
) -> list[Story]:
    """Up to ``limit`` stories, strongest first, every outlet's best story among them.

    Taking each outlet's best story first keeps one busy feed from crowding out the others;
    the rest are filled by rank. A story the lead already links to is left out. ``written``:
    the AI desk's lines replace the summaries of stories in the issue's language.
    """
    ranked = [
        s for s in newsroom.rank_stories(stories, _news_time(stories, now)) if not _seen(s, skip)
    ]
    chosen: list[newsroom.Story] = []
    covered: set[str] = set()
    for story in ranked:
        if len(chosen) < limit and not covered & set(story.outlets):
            chosen.append(story)
            covered.update(story.outlets)
    for story in ranked:
        if len(chosen) < limit and story not in chosen:
            chosen.append(story)
    printed = (_story(s, written) for s in sorted(chosen, key=ranked.index))
    return [story for story in printed if story is not None]


def _news_time(stories: Sequence[newsroom.Story], now: dt.datetime) -> dt.datetime:
    """Where ages are measured from: ``now``, or the newest report if that is older.

    Live, the two are hours apart and rank alike. Replaying old recordings (``--sample``),
    measuring from the clock would make every dated story months old and rank the undated
    ones (counted ``UNDATED_AGE`` old) first.
    """
    dates = [s.updated_at for s in stories if s.updated_at is not None]
    return min(now, max(dates)) if dates else now


def _story(story: newsroom.Story, written: Written | None = None) -> Story | None:
    url, headline = clean_url(story.url), plain_text(story.headline)
    if url is None or not headline:
        return None
    summary, byline = plain_text(story.summary), ""
    # A line in English under a headline in another language would read as a mistranslation.
    if _in_issue_language(story.language):
        line = _by_desk(written, news_fact_id(story.url), section="news", title=headline)
        summary, byline = (line, BYLINE) if line else (summary, byline)
    sources: list[Link] = []
    for item in story.items:
        item_url = clean_url(item.url)
        if item_url is not None and item.outlet not in {s.title for s in sources}:
            sources.append(Link(title=plain_text(item.outlet), url=item_url))
    return Story(
        headline=headline,
        summary=summary,
        url=url,
        sources=sources,
        language=plain_text(story.language or ""),
        direction=story.direction,
        byline=byline,
    )


def _in_issue_language(language: str | None) -> bool:
    return not language or language.split("-")[0].lower() == ISSUE_LANGUAGE


# --- tools and reading --------------------------------------------------------------------------


def _tool_models(models: Sequence[ModelItem]) -> list[ModelItem]:
    ranked = sorted(models, key=lambda m: m.trending_score, reverse=True)
    return [m for m in ranked if clean_url(m.url) is not None][:TOOLS_PER_ISSUE]


def _tool(model: ModelItem, written: Written | None = None) -> Tool:
    name = plain_text(leads.short_name(model))
    line = _by_desk(written, model_fact_id(model.id), section="tools", title=name)
    description = line or blurbs.tool_blurb(model)
    return Tool(
        name=name,
        description=description,
        url=clean_url(model.url) or "",
        task=blurbs.tool_task(model, description=description),
        size=blurbs.tool_size(model),
        licence=plain_text(model.licence or ""),
        popularity=blurbs.tool_popularity(model),
        byline=BYLINE if line else "",
    )


def choose_reading(
    papers: Sequence[PaperItem],
    long_reads: Sequence[NewsItem],
    *,
    skip: Seen,
    limit: int = READING_PER_ISSUE,
    written: Written | None = None,
) -> list[Reading]:
    """The best papers and long reads, each once, none the lead or the news already has.

    Order: papers with at least ``STRONG_PAPER_VOTES`` upvotes (most first), then long-form
    feed articles (newest first), then the other voted papers, then the rest newest first;
    undated items last. A long read is the better read than a paper few readers voted for.
    """
    strong = [p for p in papers if p.upvotes >= STRONG_PAPER_VOTES]
    voted = [p for p in papers if 0 < p.upvotes < STRONG_PAPER_VOTES]
    unvoted = [p for p in papers if p.upvotes <= 0]
    order: list[PaperItem | NewsItem] = [
        *_by_votes(strong),
        *_newest_first(long_reads),
        *_by_votes(voted),
        *_newest_first(unvoted),
    ]
    items: list[Reading] = []
    for item in order:
        if skip.has(url=item.url):
            continue
        reading = _reading_item(item, written)
        if reading is not None:
            items.append(reading)
        if len(items) == limit:
            break
    return items


def _by_votes(papers: Sequence[PaperItem]) -> list[PaperItem]:
    return sorted(papers, key=lambda p: p.upvotes, reverse=True)


def _newest_first(items: Sequence[PaperItem | NewsItem]) -> list[PaperItem | NewsItem]:
    # Stable sort: items of one date keep their feed order; undated items come last.
    dated = sorted((i for i in items if i.published_at), key=_published, reverse=True)
    return [*dated, *(i for i in items if i.published_at is None)]


def _published(item: PaperItem | NewsItem) -> dt.datetime:
    assert item.published_at is not None  # only dated items are sorted by date
    return item.published_at


def _reading_item(item: PaperItem | NewsItem, written: Written | None = None) -> Reading | None:
    url = clean_url(item.url)
    title = plain_text(item.title)
    if url is None or not title:
        return None
    fact_id = paper_fact_id(item.id) if isinstance(item, PaperItem) else news_fact_id(item.url)
    line = _by_desk(written, fact_id, section="reading", title=title)
    return Reading(
        title=title,
        description=line or plain_text(blurbs.reading_blurb(item)),
        url=url,
        source=plain_text(blurbs.reading_source(item)),
        byline=BYLINE if line else "",
    )
