"""The Lead Story when no editor wrote one: the day's strongest story, told from facts.

**Candidates.** Two kinds of story compete, on one 1-10 scale:

- a *cluster* of trending models. Every trending model with a task belongs to exactly one,
  keyed by its domain (``specialism.domain_of``: a domain tag such as ``math``, else its
  specialised task such as ``automatic-speech-recognition``) or, for general-purpose models, by
  its task (``text-generation``). A paper or news story joins every cluster one of whose terms
  (``CLUSTER_TERMS``, else the words of the key) appears as a whole word in its *title*;
  titles only, because abstracts mention "language model" in passing far too often. Models
  without a task join no cluster.
- a *news story* (``news.Story``): one event, however many outlets carried it.

**Significance (1-10)**, from counts anyone can check in the data. A cluster::

    1                                        base: something trends
    + 1 per trending model beyond the first,      at most + 3
    + 1 per related paper or article,             at most + 2
    + 1 if the cluster holds the day's number one trending model
    + 1 if its top model has 1,000 likes or more, + 2 at 10,000 or more
    + 1 if a related paper has 100 upvotes or more on the Hub

A news story::

    1                                        base: an outlet reported it
    + 2 per outlet beyond the first,              at most + 4
    + 1 if its latest report is less than 24 hours old when the issue goes out
    + 1 if it names a model on today's trending chart

A routine day (one model, nothing written about it) scores 1-3; a busy topic with papers and a
widely liked model, or a story every outlet carries, scores 7-10. The strongest candidate has
the highest score; ties go to a cluster (the chart is this briefing's own beat), then to the
larger summed trending score or the more recent story, then to the key or headline in
alphabetical order, so the same data always gives the same lead.

**Writing.** Title, standfirst and body only restate the data: model names, likes, downloads,
real parameter counts, chart positions, the words of a model's card, paper titles and
findings, outlets and their own sentences. Nothing is characterised ("impressive", "a shift")
because nothing in the data says so, and a model is called specialised only when
``specialism.is_specialised`` says it is. Headlines name models by their short name, never by
``org/name``. Every model, paper and report named is linked. The phrasing varies with the
facts (how many models, whether one tops the chart, whether its card says what it is), and
between equivalent phrasings by a hash of the story, so two days do not read alike.
``written_lead`` is the deterministic writer of this piece; another writer may replace it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from emails.issue import LeadStory, Link
from pipeline.assembly.blurbs import is_repackaged
from pipeline.assembly.news import Story, story_text
from pipeline.assembly.numbers import human_parameters
from pipeline.assembly.specialism import domain_of, domain_words, is_specialised
from pipeline.sources.cards import describe_model
from pipeline.sources.items import ModelItem, NewsItem, PaperItem
from pipeline.sources.papers import paper_finding
from pipeline.sources.wording import human_count, join_words

# Words that signal a paper or article is about a cluster's subject (lower case, whole words).
CLUSTER_TERMS: dict[str, tuple[str, ...]] = {
    "text-generation": ("language model", "language models", "llm", "llms", "chatbot"),
    "automatic-speech-recognition": ("speech", "asr", "transcript", "transcripts", "whisper"),
    "text-to-speech": ("speech synthesis", "tts", "text-to-speech"),
    "object-detection": ("object detection", "object detector", "detector", "yolo"),
    "image-classification": ("image classification", "classifier"),
    "text-to-image": ("text-to-image", "diffusion", "image generation"),
    "sentence-similarity": ("embedding", "embeddings", "sentence similarity"),
    "feature-extraction": ("embedding", "embeddings"),
    "math": ("math", "maths", "mathematics", "mathematical"),
    "code": ("code", "coding", "programming"),
    "medical": ("medical", "clinical", "biomedical"),
}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ORDINALS = ("", "", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
MODELS_LINKED = 4
LIKES_BARS = (1_000, 10_000)
UPVOTES_BAR = 100
READING_LINKED = 3
FRESH = dt.timedelta(hours=24)
MIN_NAME = 4  # a model's short name must be this long to be recognised in a headline


@dataclass
class Cluster:
    key: str
    models: list[ModelItem] = field(default_factory=list)
    reading: list[PaperItem | NewsItem] = field(default_factory=list)
    has_number_one: bool = False

    @property
    def label(self) -> str:
        return domain_words(self.key)

    @property
    def specialised(self) -> bool:
        """True when every model of the cluster is specialised (the key is a domain)."""
        return all(is_specialised(m) for m in self.models)

    @property
    def trending(self) -> float:
        return sum(m.trending_score for m in self.models)

    @property
    def score(self) -> int:
        points = 1
        points += min(3, len(self.models) - 1)
        points += min(2, len(self.reading))
        points += 1 if self.has_number_one else 0
        points += sum(self.models[0].likes >= bar for bar in LIKES_BARS) if self.models else 0
        points += 1 if any(_upvotes(r) >= UPVOTES_BAR for r in self.reading) else 0
        return max(1, min(10, points))


@dataclass
class NewsLead:
    """A news story as a lead candidate, with the trending models its headline names."""

    story: Story
    models: list[ModelItem] = field(default_factory=list)
    fresh: bool = False

    @property
    def score(self) -> int:
        points = 1 + min(4, 2 * (len(self.story.outlets) - 1))
        points += 1 if self.fresh else 0
        points += 1 if self.models else 0
        return max(1, min(10, points))


Candidate = Cluster | NewsLead


def cluster_key(model: ModelItem) -> str | None:
    return domain_of(model) or model.pipeline_tag


def clusters(
    models: Sequence[ModelItem],
    reading: Sequence[PaperItem | NewsItem],
    *,
    number_one: ModelItem | None = None,
) -> list[Cluster]:
    """The day's clusters, strongest first (see the module docstring)."""
    by_key: dict[str, Cluster] = {}
    for model in sorted(models, key=lambda m: m.trending_score, reverse=True):
        key = cluster_key(model)
        if key is None:
            continue
        cluster = by_key.setdefault(key, Cluster(key))
        cluster.models.append(model)
        cluster.has_number_one = cluster.has_number_one or model == number_one
    for cluster in by_key.values():
        pattern = _terms_pattern(cluster.key)
        cluster.reading = [item for item in reading if pattern.search(item.title)]
    return sorted(by_key.values(), key=lambda c: (-c.score, -c.trending, c.key))


def _terms_pattern(key: str) -> re.Pattern[str]:
    terms = CLUSTER_TERMS.get(key, (key.replace("-", " "),))
    alternatives = "|".join(re.escape(term) for term in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def strongest(
    models: Sequence[ModelItem],
    reading: Sequence[PaperItem | NewsItem],
    *,
    chart: Sequence[ModelItem],
) -> Cluster | None:
    """The strongest cluster among ``models``; ``chart`` is the whole day's trending list."""
    number_one = max(chart, key=lambda m: m.trending_score, default=None)
    found = clusters(models, reading, number_one=number_one)
    return found[0] if found else None


def news_leads(
    stories: Sequence[Story], *, chart: Sequence[ModelItem], now: dt.datetime
) -> list[NewsLead]:
    """Each story as a lead candidate, strongest first."""
    leads = [
        NewsLead(story, models=_named_models(story, chart), fresh=_is_fresh(story, now))
        for story in stories
    ]
    return sorted(leads, key=lambda lead: (-lead.score, *_recency(lead.story)))


def strongest_story(
    models: Sequence[ModelItem],
    papers: Sequence[PaperItem],
    stories: Sequence[Story],
    *,
    chart: Sequence[ModelItem],
    now: dt.datetime,
) -> Candidate | None:
    """The day's strongest story across every source: a cluster of models, or a news story."""
    reading: list[PaperItem | NewsItem] = [*papers, *(s.items[0] for s in stories)]
    cluster = strongest(models, reading, chart=chart)
    news = news_leads(stories, chart=chart, now=now)
    story = news[0] if news else None
    if cluster is None or (story is not None and story.score > cluster.score):
        return story
    return cluster


def _named_models(story: Story, chart: Sequence[ModelItem]) -> list[ModelItem]:
    text = f"{story.headline} {story.summary}".casefold()
    named = []
    for model in sorted(chart, key=lambda m: m.trending_score, reverse=True):
        name = short_name(model).casefold()
        if len(name) >= MIN_NAME and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            named.append(model)
    return named


def _is_fresh(story: Story, now: dt.datetime) -> bool:
    return story.updated_at is not None and now - story.updated_at < FRESH


def _recency(story: Story) -> tuple[float, str]:
    stamp = story.updated_at.timestamp() if story.updated_at else float("-inf")
    return -stamp, story.headline


# --- writing ------------------------------------------------------------------------------------


def written_lead(candidate: Candidate, *, chart: Sequence[ModelItem]) -> LeadStory:
    """The lead for ``candidate``, stating only facts from the data; ``chart``: the day's list."""
    if isinstance(candidate, NewsLead):
        return _news_lead(candidate, chart)
    return _cluster_lead(candidate, chart)


def short_name(model: ModelItem) -> str:
    """A model's name without its owner: readers never see ``org/name`` in a headline."""
    return model.id.rpartition("/")[2] or model.id


def _cluster_lead(cluster: Cluster, chart: Sequence[ModelItem]) -> LeadStory:
    top = cluster.models[0]
    paragraphs = [_top_paragraph(cluster, top, chart)]
    if len(cluster.models) > 1:
        paragraphs.append(_others_paragraph(cluster))
    if cluster.reading:
        paragraphs.append(_reading_paragraph(cluster))
    return LeadStory(
        title=_cluster_title(cluster, top),
        summary=_cluster_standfirst(cluster, len(chart)),
        body_html=_html(paragraphs),
        kicker="From today's chart",
        score=cluster.score,
        links=_cluster_links(cluster),
    )


def _cluster_title(cluster: Cluster, top: ModelItem) -> str:
    name, count = short_name(top), len(cluster.models)
    if cluster.has_number_one:
        return f"{name} tops today's Hugging Face trending chart"
    if count == 1:
        return f"{name} trends in {cluster.label}"
    return f"{name} leads {_words(count)} trending {cluster.label} models"


def _cluster_standfirst(cluster: Cluster, chart_size: int) -> str:
    count = len(cluster.models)
    kind = "model" if count == 1 else "models"
    verb = "is" if count == 1 else "are"
    text = (
        f"{_words(count).capitalize()} of the {_words(chart_size)} models trending on Hugging "
        f"Face today {verb} {cluster.label} {kind}"
    )
    related = len(cluster.reading)
    if related:
        verb = "takes" if related == 1 else "take"
        text += f"; {_words(related)} of the day's papers and reports {verb} up the subject"
    return text + "."


def _top_paragraph(cluster: Cluster, top: ModelItem, chart: Sequence[ModelItem]) -> str:
    rank = _rank(top, chart)
    name, author = short_name(top), top.author
    if rank == 1:
        opening = _choose(
            top.id,
            (
                f"{name}, published by {author}, is number one on Hugging Face's trending "
                "chart today.",
                f"The most-trending model on Hugging Face today is {name}, from {author}.",
            ),
        )
    else:
        opening = f"{name}, from {author}, is {_ordinal(rank)} on today's trending chart."
    return " ".join([opening, _what_it_is(top), _reach(top)])


def _what_it_is(model: ModelItem) -> str:
    if model.card_text and not is_repackaged(model):
        quoted = f"\u201c{model.card_text}\u201d"
        said = (f"Its model card says: {quoted}", f"In its authors' words: {quoted}")
        return _choose(model.id, said)
    return f"On the Hub it is listed as {_lower_first(describe_model(model))}."


def _reach(model: ModelItem) -> str:
    facts = f"{_plural(model.likes, 'like')} and {_plural(model.downloads, 'download', human=True)}"
    if model.parameters:
        return f"It has {human_parameters(model.parameters)} parameters, {facts}."
    return f"It has {facts} so far."


def _others_paragraph(cluster: Cluster) -> str:
    others = cluster.models[1:MODELS_LINKED]
    named = join_words([_model_fact(m) for m in others])
    more = len(cluster.models) - MODELS_LINKED
    tail = f", and {_words(more)} more" if more > 0 else ""
    lead_in = _choose(
        cluster.key,
        (f"Also trending in {cluster.label}: ", f"Beside it on the chart in {cluster.label}: "),
    )
    return f"{lead_in}{named}{tail}."


def _model_fact(model: ModelItem) -> str:
    size = f"{human_parameters(model.parameters)} parameters, " if model.parameters else ""
    return f"{short_name(model)} from {model.author} ({size}{_plural(model.likes, 'like')})"


def _reading_paragraph(cluster: Cluster) -> str:
    items = cluster.reading[:READING_LINKED]
    sentences = [_reading_fact(item) for item in items]
    opening = "On the same subject" if len(items) == 1 else "Also on the subject"
    return f"{opening}: " + " ".join(sentences)


def _reading_fact(item: PaperItem | NewsItem) -> str:
    if isinstance(item, PaperItem):
        votes = f", {_plural(item.upvotes, 'upvote')}" if item.upvotes else ""
        text = f"\u201c{item.title}\u201d ({item.source}{votes})."
        finding = paper_finding(item)
        if not finding:
            return text
        # The Hub's summary states the finding; an abstract speaks as its authors ("We ..."),
        # so it is quoted as theirs.
        return (
            f"{text} {finding}"
            if item.ai_summary
            else f"{text} Its abstract: \u201c{finding}\u201d"
        )
    return f"{item.outlet} reports \u201c{item.title}\u201d."


def _cluster_links(cluster: Cluster) -> list[Link]:
    models = [Link(title=short_name(m), url=m.url) for m in cluster.models[:MODELS_LINKED]]
    reading = [Link(title=r.title, url=r.url) for r in cluster.reading[:READING_LINKED]]
    return models + reading


def _news_lead(lead: NewsLead, chart: Sequence[ModelItem]) -> LeadStory:
    story = lead.story
    paragraphs = [_report_paragraph(story)]
    paragraphs.extend(_other_outlets(story))
    if lead.models:
        paragraphs.append(_chart_paragraph(lead.models, chart))
    links = [Link(title=item.outlet, url=item.url) for item in _first_per_outlet(story)]
    links += [Link(title=short_name(m), url=m.url) for m in lead.models[:MODELS_LINKED]]
    return LeadStory(
        title=story.headline,
        summary=story.summary,
        body_html=_html(paragraphs),
        kicker="From today's news",
        score=lead.score,
        links=links,
    )


def _report_paragraph(story: Story) -> str:
    first = story.items[0]
    when = f" on {_day(first.published_at)}" if first.published_at else ""
    count = len(story.outlets)
    if count == 1:
        return f"{first.outlet} reported it{when}."
    others = join_words(list(story.outlets[1:]))
    return _choose(
        story.headline,
        (
            f"{first.outlet} reported it first{when}; {others} followed.",
            f"{_words(count).capitalize()} outlets carry the story: {first.outlet} was "
            f"first{when}, then {others}.",
        ),
    )


def _other_outlets(story: Story) -> list[str]:
    """Each later outlet's own sentence, quoted, when it adds words the standfirst lacks."""
    said = []
    for item in _first_per_outlet(story)[1:]:
        text = story_text(item)
        if text and text != story.summary:
            said.append(f"{item.outlet} adds: \u201c{text}\u201d")
    return said


def _chart_paragraph(models: Sequence[ModelItem], chart: Sequence[ModelItem]) -> str:
    named = join_words([f"{short_name(m)} is {_ordinal(_rank(m, chart))}" for m in models[:2]])
    return f"On today's Hugging Face trending chart, {named}."


def _first_per_outlet(story: Story) -> list[NewsItem]:
    seen: dict[str, NewsItem] = {}
    for item in story.items:
        seen.setdefault(item.outlet, item)
    return list(seen.values())


# --- small words --------------------------------------------------------------------------------


def _html(paragraphs: Sequence[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def _choose(key: str, options: Sequence[str]) -> str:
    """One of equivalent phrasings, the same for the same story: a hash, not chance."""
    return options[zlib.crc32(key.encode("utf-8")) % len(options)]


def _rank(model: ModelItem, chart: Sequence[ModelItem]) -> int:
    ranked = sorted(chart, key=lambda m: m.trending_score, reverse=True)
    return next((i for i, m in enumerate(ranked, start=1) if m.id == model.id), 0)


def _ordinal(rank: int) -> str:
    if rank == 1:
        return "number one"
    return _ORDINALS[rank] if 0 < rank < len(_ORDINALS) else f"number {rank}" if rank else ""


def _day(when: dt.datetime) -> str:
    return f"{when.day} {_MONTHS[when.month - 1]}"  # English whatever the process locale


def _plural(count: int, noun: str, *, human: bool = False) -> str:
    shown = human_count(count) if human else f"{count:,}"
    return f"{shown} {noun}{'' if count == 1 else 's'}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _upvotes(item: PaperItem | NewsItem) -> int:
    return item.upvotes if isinstance(item, PaperItem) else 0


def _words(count: int) -> str:
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)
