"""The short texts under each item: tool blurbs and facts, reading findings, news excerpts.

These are the deterministic writers of those pieces, one function per kind, so another writer
(the AI desk) can replace any of them and fall back to these. Each states only what the data
says, in words a reader uses:

- a tool's blurb is its card's own first sentence or two (``ModelItem.card_text``, read and
  sanitised in ``sources/cards.py``), else ``describe_model``'s plain-English line. Re-uploads
  (MLX, GGUF, GPTQ ... conversions of another model) always get the plain line: their cards are
  the converter's boilerplate ("This model org/x was converted to MLX format from org/y ...");
- a tool's facts: the task in words, the real size, the licence by name, likes and downloads
  written for humans (15.2k), never a raw Hub tag;
- a paper's blurb is its finding (``paper_finding``: the Hub's ``ai_summary``, else up to two
  sentences of the abstract); an article's or a story's is one or two of the outlet's own
  sentences (``news.story_text``).
"""

from __future__ import annotations

from emails.sanitize import plain_text
from pipeline.assembly.news import story_text
from pipeline.assembly.numbers import human_parameters
from pipeline.sources.cards import describe_model
from pipeline.sources.items import ModelItem, NewsItem, PaperItem
from pipeline.sources.papers import paper_finding
from pipeline.sources.vocabulary import task_words
from pipeline.sources.wording import cut_at_word, human_count

BLURB_LIMIT = 240  # characters; card prose is already cut at 200
# Between a number and its noun ("15.2k downloads"): a line never breaks them apart.
NBSP = "\u00a0"


def is_repackaged(model: ModelItem) -> bool:
    """A quantised or converted copy of another model (its card describes the conversion)."""
    return model.quantization is not None or model.base_relation == "quantized"


def tool_blurb(model: ModelItem) -> str:
    """What the model is for: its card's words, else a plain-English line from the data."""
    prose = "" if is_repackaged(model) else plain_text(model.card_text or "")
    return cut_at_word(prose or describe_model(model), BLURB_LIMIT)


def tool_task(model: ModelItem, *, description: str | None = None) -> str:
    """The Hub task in words, "Speech recognition"; "" when the Hub lists none, or when the
    description (``tool_blurb``'s unless given) already is just that (a card without prose, a
    model with nothing more to say)."""
    task = task_words(model.pipeline_tag) or ""
    return "" if task == (tool_blurb(model) if description is None else description) else task


def tool_size(model: ModelItem) -> str:
    """The real parameter count for readers, "1.5B parameters"; "" when unknown."""
    if not model.parameters:
        return ""
    return f"{human_parameters(model.parameters)}{NBSP}parameters"


def tool_popularity(model: ModelItem) -> str:
    """Likes and downloads for humans, "212 likes · 15.2k downloads"; zero counts left out."""
    parts = [
        _counted(model.likes, "like"),
        _counted(model.downloads, "download"),
    ]
    return " \u00b7 ".join(part for part in parts if part)


def reading_blurb(item: PaperItem | NewsItem) -> str:
    """A paper's finding, or an article's own first sentence or two."""
    if isinstance(item, PaperItem):
        return paper_finding(item)
    return story_text(item)


def reading_source(item: PaperItem | NewsItem) -> str:
    """Where it is from, and for a voted paper how many upvoted it on the Hub."""
    if isinstance(item, PaperItem) and item.upvotes > 0:
        return f"{item.source} \u00b7 {_counted(item.upvotes, 'upvote')}"
    return item.source


def _counted(count: int, noun: str) -> str:
    if count <= 0:
        return ""
    return f"{human_count(count)}{NBSP}{noun}{'' if count == 1 else 's'}"
