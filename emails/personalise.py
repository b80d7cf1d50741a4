"""Fill the per-subscriber placeholders of a rendered issue.

The issue is rendered once; each subscriber only costs one regex pass over its HTML and
text. The placeholders use SES template syntax (``{{name}}``) on purpose, so the same
rendered text can be handed to SES ``SendBulkEmail`` as an inline template.
"""

from __future__ import annotations

import html
import re

from emails.rendered import PLACEHOLDER, RenderedEmail


def personalise(
    rendered: RenderedEmail, *, unsubscribe_url: str, view_url: str, greeting: str
) -> tuple[str, str]:
    """Return ``(html, text)`` of ``rendered`` for one subscriber.

    One pass over each part: a value that itself contains ``{{greeting}}`` is inserted as
    is, never substituted again. Values are HTML-escaped in the HTML, raw in the text.
    """
    values = {"unsubscribe_url": unsubscribe_url, "view_url": view_url, "greeting": greeting}
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    return _substitute(rendered.html, escaped), _substitute(rendered.text, values)


def greeting_for(name: str | None) -> str:
    """``Good morning, Ada``, or ``Good morning`` when the name is unknown or blank."""
    cleaned = " ".join((name or "").split())
    return f"Good morning, {cleaned}" if cleaned else "Good morning"


def _substitute(template: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return PLACEHOLDER.sub(replace, template)
