"""The public URLs the web app answers and the emails link to, in one place."""

from __future__ import annotations

import datetime as dt
import re


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


def archive_url(public_url: str) -> str:
    """The archive's index page (DATA_DIR/archive/index.html): every issue, newest first."""
    return f"{public_url.rstrip('/')}/issues/"


def feed_url(public_url: str) -> str:
    """The Atom feed of past issues (DATA_DIR/archive/feed.xml)."""
    return f"{public_url.rstrip('/')}/issues/feed.xml"


def issue_url(public_url: str, date: dt.date) -> str:
    """Where the web version of the issue for ``date`` is read ("view in browser")."""
    return f"{public_url.rstrip('/')}/issues/{date.isoformat()}/"


def confirm_url(public_url: str, token: str) -> str:
    """Where the double opt-in email sends a new subscriber (a page with a confirm button)."""
    return f"{public_url.rstrip('/')}/confirm/{token}"


# The token in a confirm or unsubscribe URL, wherever such a URL is written down (logs).
_TOKEN_IN_PATH = re.compile(r"/(confirm|unsubscribe)/[^\s/?#\"'<>]+")


def redact_tokens(text: str) -> str:
    """``.../unsubscribe/9ix.JF5b...`` -> ``.../unsubscribe/[token]``: a token is a key."""
    return _TOKEN_IN_PATH.sub(r"/\1/[token]", text)
