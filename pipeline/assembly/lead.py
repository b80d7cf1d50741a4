"""The Lead Story when no editor wrote one: the day's strongest cluster, told from facts.

**Cluster.** Every trending model with a task belongs to exactly one cluster, keyed by its
domain (``pipeline.numbers.domain_of``: a domain tag such as ``math``, else its specialised
task such as ``automatic-speech-recognition``) or, for general-purpose models, by its task
(``text-generation``). A paper or article joins every cluster one of whose terms
(``CLUSTER_TERMS``, else the words of the key) appears as a whole word in its *title*; titles
only, because abstracts mention "language model" in passing far too often. Models without a
task join no cluster.

**Significance (1-10)**, from counts anyone can check in the data::

    1                                        base: something trends
    + 1 per trending model beyond the first,      at most + 3
    + 1 per related paper or article,             at most + 2
    + 1 if the cluster holds the day's number one trending model
    + 1 if its top model has 1,000 likes or more, + 2 at 10,000 or more
    + 1 if a related paper has 100 upvotes or more on the Hub

A routine day (one model, nothing written about it) scores 1-3; a busy topic with papers and a
widely liked model scores 8-10.

The strongest cluster has the highest score; ties go to the larger summed trending score, then
to the key in alphabetical order, so the same data always gives the same lead.

**Templates.** Title, standfirst and body only restate the data: model ids, likes, downloads,
published parameter counts, chart positions, paper titles, their sources and upvotes. Nothing
is characterised ("impressive", "a shift") because nothing in the data says so. Every model
and paper named is linked.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from emails.issue import LeadStory, Link
from pipeline.assembly.numbers import domain_of, human_parameters
from pipeline.sources.items import ModelItem, NewsItem, PaperItem

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
LABELS: dict[str, str] = {
    "automatic-speech-recognition": "speech recognition",
    "math": "maths",
}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MODELS_LINKED = 4
LIKES_BARS = (1_000, 10_000)
UPVOTES_BAR = 100
READING_LINKED = 3


@dataclass
class Cluster:
    key: str
    models: list[ModelItem] = field(default_factory=list)
    reading: list[PaperItem | NewsItem] = field(default_factory=list)
    has_number_one: bool = False

    @property
    def label(self) -> str:
        return LABELS.get(self.key, self.key.replace("-", " "))

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


def written_lead(cluster: Cluster, *, chart_size: int) -> LeadStory:
    """The lead for ``cluster``, stating only facts from the data."""
    top = cluster.models[0]
    count = len(cluster.models)
    paragraphs = [_top_paragraph(cluster, top)]
    if count > 1:
        paragraphs.append(_others_paragraph(cluster))
    if cluster.reading:
        paragraphs.append(_reading_paragraph(cluster))
    return LeadStory(
        title=_title(cluster, top),
        summary=_summary(cluster, chart_size),
        body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
        kicker="From today's data",
        score=cluster.score,
        links=_links(cluster),
    )


def _title(cluster: Cluster, top: ModelItem) -> str:
    count = len(cluster.models)
    if count == 1:
        return f"{top.id} trends in {cluster.label}"
    return f"{top.id} leads {_words(count)} trending {cluster.label} models"


def _summary(cluster: Cluster, chart_size: int) -> str:
    count = len(cluster.models)
    models = "model is" if count == 1 else "models are"
    text = (
        f"{_words(count).capitalize()} of today's {_words(chart_size)} trending Hugging Face "
        f"{models} in {cluster.label}"
    )
    related = len(cluster.reading)
    if related:
        things = "paper or article" if related == 1 else "papers and articles"
        text += f", and {_words(related)} of today's {things} share the topic"
    return text + "."


def _top_paragraph(cluster: Cluster, top: ModelItem) -> str:
    facts = f"{top.likes:,} likes and {top.downloads:,} downloads"
    if top.parameters:
        facts += f", with {human_parameters(top.parameters)} published parameters"
    text = f"{top.id} by {top.author} has {facts}."
    if cluster.has_number_one:
        text += " It is number one on today's Hugging Face trending chart."
    return text


def _others_paragraph(cluster: Cluster) -> str:
    named = [_model_fact(m) for m in cluster.models[1:MODELS_LINKED]]
    more = len(cluster.models) - MODELS_LINKED
    tail = f", and {_words(more)} more" if more > 0 else ""
    return f"Also trending in {cluster.label}: {'; '.join(named)}{tail}."


def _model_fact(model: ModelItem) -> str:
    size = f", {human_parameters(model.parameters)} parameters" if model.parameters else ""
    return f"{model.id} ({model.likes:,} likes{size})"


def _reading_paragraph(cluster: Cluster) -> str:
    items = [_reading_fact(item) for item in cluster.reading[:READING_LINKED]]
    return "On the same topic: " + "; ".join(items) + "."


def _upvotes(item: PaperItem | NewsItem) -> int:
    return item.upvotes if isinstance(item, PaperItem) else 0


def _reading_fact(item: PaperItem | NewsItem) -> str:
    votes = _upvotes(item)
    where = f"{item.source}, {votes:,} upvotes" if votes else item.source
    return f"\u201c{item.title}\u201d ({where})"


def _links(cluster: Cluster) -> list[Link]:
    models = [Link(title=m.id, url=m.url) for m in cluster.models[:MODELS_LINKED]]
    reading = [Link(title=r.title, url=r.url) for r in cluster.reading[:READING_LINKED]]
    return models + reading


def _words(count: int) -> str:
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)
