"""Errors about subscribers and the store; part of the tree rooted in ``emails.errors``."""

from __future__ import annotations

from emails.errors import MorningPostError


class SubscriberError(MorningPostError):
    """A subscriber operation failed: bad address, unknown subscriber, bad CSV."""


class InvalidAddress(SubscriberError):
    """An email address that does not pass validation."""


class StoreError(SubscriberError):
    """The store could not be opened or migrated."""
