"""A paper in one or two sentences: what it found, not only what it did.

Abstracts open with the method ("We propose...") and state the finding later; the Hub's
``ai_summary`` is one sentence of the finding, so it is preferred. Without it, up to two
sentences of the abstract are kept, cut at a sentence boundary within the length limit.
"""

from __future__ import annotations

from emails.sanitize import plain_text
from pipeline.sources.items import PaperItem
from pipeline.sources.wording import excerpt

FINDING_LIMIT = 240  # characters: two sentences of an abstract, about three lines on a phone


def paper_finding(item: PaperItem, *, limit: int = FINDING_LIMIT) -> str:
    """The Hub's ``ai_summary`` when present, else up to two sentences of the abstract."""
    for text in (item.ai_summary, item.summary):
        finding = excerpt(plain_text(text), max_sentences=2, limit=limit)
        if finding:
            return finding
    return ""
