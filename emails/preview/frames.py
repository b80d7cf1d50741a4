"""The email as the preview's frames show it: dark mode switched on, markup in its head.

Dark mode: Chromium does not let an iframe's ``color-scheme`` drive the framed document's
``prefers-color-scheme``, so the dark frame is served the email with its own
``@media (prefers-color-scheme: dark)`` rules switched on for good (``force_dark``): what a
client that honours them (Apple Mail, iOS Mail) shows.
"""

from __future__ import annotations

import re

_DARK_QUERY = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)


_LIGHT_QUERY = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*light\s*\)", re.IGNORECASE)


_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


def force_dark(html: str) -> str:
    """``html`` as a client in dark mode shows it: its dark rules on, its light rules off."""
    html = _DARK_QUERY.sub("@media all", html)
    html = _LIGHT_QUERY.sub("@media not all", html)
    return inject_head(html, '<meta name="color-scheme" content="dark">')


def inject_head(html: str, markup: str) -> str:
    """``html`` with ``markup`` first in its ``<head>`` (or first of all when it has none)."""
    found = _HEAD.search(html)
    if found is None:
        return markup + html
    return html[: found.end()] + markup + html[found.end() :]
