"""Timestamps as the store keeps them: UTC in, and made aware again on the way out."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` with its zone: SQLite hands DateTime back without it, and all stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
