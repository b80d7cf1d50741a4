"""The facts pack: everything the AI desk may write about, as typed data with stable ids.

The model sees the pack (rendered by ``render_facts``) and nothing else of the day; the
grounding checker (``pipeline.writer.grounding``) accepts a sentence only if its numbers,
names, links and quotes are found here. So the pack is both the brief and the evidence.

Ids are stable across runs of a day, so cached answers and per-sentence citations stay
meaningful when an issue is re-assembled:

- ``model:<org>/<name>``  a trending model, by its Hub repo id
- ``paper:<arXiv id>``    a paper, by its arXiv id (as ``pipeline.dedup.paper_key``)
- ``news:<10 hex>``       a feed entry, by a short hash of its canonical URL
- ``figure:<n>``          a computed figure (By the Numbers), numbered from 1

The pack mirrors ``pipeline.sources.items`` (``ModelItem``, ``PaperItem``, ``NewsItem``) and
``emails.issue.Figure`` field by field, without importing either, so that building it from
the day's gathered items is a direct mapping (see ``model_fact_id`` and friends).

Untrusted text (abstracts, card descriptions, feed summaries) travels only inside the fenced
data block, JSON-encoded, under keys named ``untrusted_text``: whatever a feed says there
("ignore previous instructions ...") is a string value, never a line of the prompt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.assembly.dedup import canonical_url

FactKind = Literal["model", "paper", "news"]

# Longer texts are cut at a word boundary when the pack is built: abstracts run to 2,000
# characters and the pack is sent once per piece. The checker sees the same cut text.
MAX_TEXT_CHARS = 1_200
_NEWS_HASH_CHARS = 10


def model_fact_id(repo_id: str) -> str:
    """``model:org/name`` for a Hub repo id."""
    return f"model:{repo_id}"


def paper_fact_id(arxiv_id: str) -> str:
    """``paper:2602.02276`` for an arXiv id."""
    return f"paper:{arxiv_id}"


def news_fact_id(url: str) -> str:
    """``news:<hash>``: two spellings of one page (tracking parameters, case...) share it."""
    digest = hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()
    return f"news:{digest[:_NEWS_HASH_CHARS]}"


def figure_fact_id(number: int) -> str:
    return f"figure:{number}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fact(_Frozen):
    """One item of the day: a model, a paper or a news story."""

    id: str
    kind: FactKind
    name: str  # model repo id, paper or article title
    org: str = ""  # a model's author (user or organisation)
    authors: tuple[str, ...] = ()
    source: str = ""  # "Hugging Face trending", a feed's name
    url: str = ""
    task: str = ""  # a model's pipeline tag
    published: dt.date | None = None
    # Counts from the source, by name: likes, downloads, parameters, upvotes, rank...
    numbers: dict[str, float] = Field(default_factory=dict)
    text: str = ""  # untrusted: abstract, card description, feed summary

    @field_validator("text")
    @classmethod
    def _cut(cls, value: str) -> str:
        if len(value) <= MAX_TEXT_CHARS:
            return value
        return value[:MAX_TEXT_CHARS].rsplit(" ", 1)[0] + "\u2026"

    @model_validator(mode="after")
    def _id_names_kind(self) -> Fact:
        if not self.id.startswith(f"{self.kind}:"):
            raise ValueError(f"fact id {self.id!r} does not start with {self.kind!r}")
        return self


class ComputedFigure(_Frozen):
    """A figure computed from the day's data (By the Numbers): "4/5", "1.5B params"."""

    id: str
    label: str
    value: str


class FactsPack(_Frozen):
    """The day's facts: items, computed figures, and recent headlines (not to be repeated)."""

    date: dt.date
    items: tuple[Fact, ...] = ()
    figures: tuple[ComputedFigure, ...] = ()
    recent_headlines: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> FactsPack:
        ids = [i.id for i in self.items] + [f.id for f in self.figures]
        if len(ids) != len(set(ids)):
            raise ValueError("facts pack ids are not unique")
        return self

    def ids(self) -> frozenset[str]:
        return frozenset(i.id for i in self.items) | {f.id for f in self.figures}

    def item(self, fact_id: str) -> Fact | None:
        return next((i for i in self.items if i.id == fact_id), None)

    def links(self) -> tuple[str, ...]:
        """The only URLs a written piece may carry: the items' own links."""
        return tuple(i.url for i in self.items if i.url)

    def digest(self) -> str:
        """sha256 of the pack's canonical JSON: equal packs, equal digests."""
        return hashlib.sha256(_canonical_json(self).encode("utf-8")).hexdigest()


def _canonical_json(pack: FactsPack) -> str:
    return json.dumps(pack.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def fence_token(pack: FactsPack) -> str:
    """The fence's nonce: derived from the pack, so no item can know it in advance."""
    return f"FACTS-{pack.digest()[:12]}"


def render_facts(pack: FactsPack) -> str:
    """The pack as the prompt's fenced data block: one JSON value per line between fences.

    ``<`` is written as ``\\u003c`` inside the JSON (the same data to a JSON reader), so no
    string in the pack can spell a fence line, and every data line starts with ``{``, ``[``
    or ``"``: the closing fence appears exactly once.
    """
    token = fence_token(pack)
    lines = [f"<<{token}>>", _json_line({"date": pack.date.isoformat()})]
    lines += [_json_line(_item_data(item)) for item in pack.items]
    lines += [_json_line(f.model_dump(mode="json")) for f in pack.figures]
    lines.append(_json_line({"recent_headlines": list(pack.recent_headlines)}))
    lines.append(f"<<END {token}>>")
    return "\n".join(lines)


def _item_data(item: Fact) -> dict[str, object]:
    data = item.model_dump(mode="json", exclude_defaults=True, exclude={"text"})
    if item.text:
        data["untrusted_text"] = item.text
    return data


def _json_line(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False).replace("<", "\\u003c")
