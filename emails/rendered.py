"""An issue rendered once for every reader, and the placeholders that make it personal.

The rendered HTML, text and subject hold SES-template placeholders (``{{greeting}}``,
``{{unsubscribe_url}}``, ``{{view_url}}``): ``emails.personalise`` fills them for the outbox,
SES fills them for a bulk send. Any other ``{{`` in them would break an SES template, so
content braces are broken with a word joiner, invisible to readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emails.issue import Issue

PLACEHOLDERS: tuple[str, ...] = ("unsubscribe_url", "view_url", "greeting")
PLACEHOLDER = re.compile(r"\{\{(" + "|".join(map(re.escape, PLACEHOLDERS)) + r")\}\}")
WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class RenderedEmail:
    """One issue, rendered once; its placeholders are filled per subscriber."""

    html: str
    text: str
    subject: str


def break_braces(text: str, joiner: str = WORD_JOINER) -> str:
    """``text`` with no ``{{`` left: each is split by ``joiner``."""
    while "{{" in text:
        text = text.replace("{{", "{" + joiner + "{")
    return text


def email_subject(issue: Issue) -> str:
    """The subject line as a template for SES: literal ``{{`` in it is broken, like the text."""
    return break_braces(issue.subject)
