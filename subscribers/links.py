"""The public URLs the web app answers and the emails link to, in one place."""

from __future__ import annotations

import datetime as dt


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


def issue_url(public_url: str, date: dt.date) -> str:
    """Where the web version of the issue for ``date`` is read ("view in browser")."""
    return f"{public_url.rstrip('/')}/issues/{date.isoformat()}/"
