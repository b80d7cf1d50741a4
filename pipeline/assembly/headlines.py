"""What the inbox shows before the issue is opened, and the names of its sections.

- **Subject**: a headline of at most ``SUBJECT_LIMIT`` characters (phones cut longer ones),
  never a repository id (``org/name`` becomes ``name``), with the date appended where it fits.
  A long headline is shortened at its colon or dash first ("The Specialization Wave: ..." ->
  "The Specialization Wave"), and only then cut at a word with an ellipsis.
- **Preheader**: the line inboxes show after the subject. It must say something the subject and
  the first line do not: it teases the top stories of the *other* sections (news, tools,
  reading), never the tagline nor the lead's standfirst.
- **Section names**: "Weekend Reading" only on Saturdays and Sundays, "Further Reading" on
  other days, unless ``MORNINGPOST_READING_HEADING`` names one for every day.

These are the deterministic writers of those lines; another writer may replace them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from emails.issue import Reading, Story, Tool
from pipeline.sources.wording import cut_at_word

SUBJECT_LIMIT = 70
PREHEADER_LIMIT = 140  # inboxes show 40-140 characters of it; the rest is never seen
NEWS_HEADING = "News in Brief"
WEEKEND_READING = "Weekend Reading"
WEEKDAY_READING = "Further Reading"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONG_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_HEAD_BREAK = re.compile(r"\s*(?::|\s[\u2013\u2014-])\s")
_MIN_HEAD = 12  # "AI: a primer" is not worth shortening to "AI"


def reading_heading(date: dt.date, configured: str | None = None) -> str:
    """The reading section's name on ``date``: the configured one, else by the weekday."""
    if configured:
        return configured
    return WEEKEND_READING if date.weekday() >= 5 else WEEKDAY_READING


def subject_line(headline: str, *, date: dt.date, brand: str, model_ids: Iterable[str] = ()) -> str:
    """The subject: ``headline`` without repository ids, within the limit, dated if it fits."""
    title = _without_ids(" ".join(headline.split()), model_ids)
    if not title:
        return f"{brand} \u2014 {_long_date(date)}"
    dated = f"{title} \u00b7 {_short_date(date)}"
    if len(dated) <= SUBJECT_LIMIT:
        return dated
    if len(title) <= SUBJECT_LIMIT:
        return title
    head = _HEAD_BREAK.split(title, maxsplit=1)[0]
    if _MIN_HEAD <= len(head) <= SUBJECT_LIMIT:
        dated_head = f"{head} \u00b7 {_short_date(date)}"
        return dated_head if len(dated_head) <= SUBJECT_LIMIT else head
    return cut_at_word(title, SUBJECT_LIMIT)


def preheader(
    news: Sequence[Story],
    tools: Sequence[Tool],
    reading: Sequence[Reading],
    *,
    reading_name: str,
    fallback: str,
    skip: Iterable[str] = (),
) -> str:
    """Tease the top story of each other section, then a second news story, within the limit.

    ``skip``: URLs the subject's story already links to (a lead's models need no teaser).
    ``fallback`` is used only when no other section has anything; it must not be the tagline.
    """
    urls = set(skip)
    stories = [story.headline for story in news if story.url not in urls][:2]
    tool = next((t.name for t in tools if t.url not in urls), "")
    read = next((r.title for r in reading if r.url not in urls), "")
    teasers = stories[:1]
    teasers += [f"{tool} in Tools of the Week"] if tool else []
    teasers += [f"{reading_name}: {read}"] if read else []
    teasers += stories[1:]
    text = ""
    for teaser in teasers:
        candidate = f"{text}; {teaser}" if text else f"Also inside: {teaser}"
        if len(candidate) + 1 <= PREHEADER_LIMIT:
            text = candidate
        elif not text:
            # A first teaser too long on its own is cut at a word; a later one that does not
            # fit is left out, and a shorter one after it may still fit.
            text = cut_at_word(candidate, PREHEADER_LIMIT - 1)
    if not text:
        return fallback
    return text if text.endswith(("\u2026", ".", "?", "!")) else f"{text}."


def quiet_day(brand: str, date: dt.date) -> str:
    """The preheader when no other section has a story to tease: the brand and the date."""
    return f"{brand} for {_long_date(date)}"


def _without_ids(text: str, model_ids: Iterable[str]) -> str:
    for repo_id in sorted((" ".join(i.split()) for i in model_ids), key=len, reverse=True):
        if "/" in repo_id:
            text = text.replace(repo_id, repo_id.rpartition("/")[2])
    return text


def _long_date(date: dt.date) -> str:
    return f"{date.day} {_LONG_MONTHS[date.month - 1]} {date.year}"


def _short_date(date: dt.date) -> str:
    return f"{date.day} {_MONTHS[date.month - 1]}"
