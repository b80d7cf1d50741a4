"""The AI desk's edition as parts of the issue, and its record for ``issue.json``.

``Written`` wraps one ``DeskEdition`` and the pack it was written from; assembly asks it for
each piece in turn and keeps its own (the editor's, else the deterministic) when it answers
None. Every printed piece carries the desk's byline; blurbs carry it on their item.

What reaches the issue is what the checker kept, and nothing else: sentences are joined
into paragraphs (HTML-escaped, then through the allowlist like any outside string), titles
and lines pass ``plain_text``, and links (each piece's "Sources:") come only from the ids
the piece cites that are items of the pack, never from the model's text. ``record`` says,
per printed sentence, which ids it rests on, and carries the desk's report (removed
sentences, fallbacks, spending).
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from emails.issue import (
    Article,
    BlurbSection,
    CitedSentence,
    DeskBlurb,
    DeskFallback,
    DeskPiece,
    DeskRecord,
    DeskRemoval,
    DeskSection,
    DeskSource,
    DeskUsage,
    LeadStory,
    Link,
)
from emails.sanitize import clean_html, plain_text
from pipeline.assembly.dedup import clean_url
from pipeline.writer.desk import BYLINE, DeskEdition, WrittenArticle, WrittenParagraph
from pipeline.writer.facts import FactsPack
from pipeline.writer.prompts import Piece

MAX_LINKS = 6  # a piece's "Sources:" line: the first items it cites


class DeskCall(Protocol):
    """What assembly calls to have the desk write (``Desk.write`` with the caller's options)."""

    def __call__(self, pack: FactsPack, *, covered: Collection[Piece]) -> DeskEdition: ...


class Written:
    """One desk edition, handed out piece by piece; it remembers what was printed."""

    def __init__(self, edition: DeskEdition, pack: FactsPack) -> None:
        self.edition, self.pack = edition, pack
        self._pieces: list[DeskPiece] = []
        self._blurbs: list[DeskBlurb] = []

    # --- the pieces ------------------------------------------------------------------------

    def lead(self, *, score: int) -> LeadStory | None:
        """The desk's lead, scored by the desk (clamped) or else ``score``."""
        lead = self.edition.lead
        if lead is None:
            return None
        title = plain_text(lead.headline)
        self._print("lead", title, lead.paragraphs)
        return LeadStory(
            title=title,
            summary=plain_text(lead.standfirst),
            body_html=_html(lead.paragraphs),
            byline=lead.byline,
            score=lead.score or score,
            score_reason=plain_text(lead.score_reason),
            links=self._links(lead.paragraphs),
        )

    def deep_dive(self) -> Article | None:
        dive = self.edition.deep_dive
        return self._article("deep-dive", dive) if dive is not None else None

    def opinions(self) -> list[Article]:
        return [self._article("opinion", column) for column in self.edition.opinions]

    def blurb(self, fact_id: str, *, section: BlurbSection, title: str) -> str | None:
        """The desk's line for item ``fact_id`` (noted as printed under ``title``), or None."""
        line = plain_text(self.edition.blurbs.lines.get(fact_id, ""))
        if not line:
            return None
        self._blurbs.append(DeskBlurb(section=section, title=title, text=line, ids=[fact_id]))
        return line

    def _article(self, section: DeskSection, written: WrittenArticle) -> Article:
        title = plain_text(written.title)
        self._print(section, title, written.paragraphs)
        return Article(
            title=title,
            body_html=_html(written.paragraphs),
            kicker=plain_text(written.kicker),
            byline=written.byline,
            pull_quote=plain_text(written.pull_quote),
            links=self._links(written.paragraphs),
        )

    def _print(
        self, section: DeskSection, title: str, paragraphs: Sequence[WrittenParagraph]
    ) -> None:
        self._pieces.append(
            DeskPiece(
                section=section,
                title=title,
                paragraphs=[
                    [CitedSentence(text=plain_text(s.text), ids=list(s.cites)) for s in p.sentences]
                    for p in paragraphs
                ],
            )
        )

    def _links(self, paragraphs: Sequence[WrittenParagraph]) -> list[Link]:
        """The pack items the paragraphs cite, first cited first: the piece's sources."""
        cited = dict.fromkeys(c for p in paragraphs for s in p.sentences for c in s.cites)
        links: list[Link] = []
        for fact_id in cited:
            item = self.pack.item(fact_id)
            url = clean_url(item.url) if item is not None else None
            if item is not None and url is not None and len(links) < MAX_LINKS:
                links.append(Link(title=plain_text(_title(item.kind, item.name)), url=url))
        return links

    # --- the record ------------------------------------------------------------------------

    def record(self) -> DeskRecord:
        """What the desk did for this issue: printed pieces and blurbs with their ids, the
        sources those ids stand for, removed sentences, fallbacks and spending."""
        report = self.edition.report
        usage = DeskUsage(
            calls=report.calls,
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
            seconds=report.seconds,
        )
        return DeskRecord(
            byline=BYLINE,
            backend=report.backend,
            model=report.model,
            pieces=list(self._pieces),
            blurbs=list(self._blurbs),
            sources=self._sources(),
            removed=[
                DeskRemoval(piece=r.piece, text=r.text, reason=r.reason) for r in report.removed
            ],
            fallbacks=[DeskFallback(piece=f.piece, reason=f.reason) for f in report.fallbacks],
            cached=list(report.cached),
            usage=usage,
            total=usage,
        )

    def _sources(self) -> list[DeskSource]:
        ids = [i for piece in self._pieces for p in piece.paragraphs for s in p for i in s.ids]
        ids += [i for blurb in self._blurbs for i in blurb.ids]
        return [source for source in map(self._source, dict.fromkeys(ids)) if source]

    def _source(self, fact_id: str) -> DeskSource | None:
        item = self.pack.item(fact_id)
        if item is not None:
            url = clean_url(item.url) or ""
            return DeskSource(id=fact_id, title=plain_text(item.name), url=url)
        figure = next((f for f in self.pack.figures if f.id == fact_id), None)
        if figure is not None:
            return DeskSource(id=fact_id, title=f"By the Numbers: {figure.value} {figure.label}")
        return None


def covered_pieces(sections: Iterable[str]) -> frozenset[Piece]:
    """The desk's pieces the editors' files cover (blurbs are never an editor's)."""
    pieces: dict[str, Piece] = {"lead": "lead", "deep-dive": "deep-dive", "opinion": "opinion"}
    return frozenset(pieces[s] for s in sections if s in pieces)


def _html(paragraphs: Sequence[WrittenParagraph]) -> str:
    body = "".join(f"<p>{html.escape(plain_text(p.text), quote=False)}</p>" for p in paragraphs)
    return clean_html(body)


def _title(kind: str, name: str) -> str:
    """How a link names an item: a model by its short name, anything else by its title."""
    return (name.rpartition("/")[2] or name) if kind == "model" else name
