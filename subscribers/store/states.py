"""The three state machines the store records, one ``StrEnum`` each.

Each is moved by one module only, which holds its rules:

* ``SubscriberStatus``, by ``subscribers.lifecycle``::

      pending ──confirm──► active ──unsubscribe──► unsubscribed ──subscribe again──► pending
         └────────────────────┴──bounce──► bounced ──subscribe again──► pending
      any ──complaint──► complained (final for the web form and for imports)

  Only ``active`` receives the issue.

* ``EditionState`` (one dated issue), by ``subscribers.store.editions``::

      draft ──approve──► approved ──► sending ──► sent
        └──────────────────────────►    │  └────► paused ──► sending (a re-run resumes)

  ``approved`` is only needed when approval is required. Once an issue is ``sending``,
  ``sent`` or ``paused`` it *went out*: readers hold copies and its number is spent.

* ``DeliveryState`` (one issue to one subscriber), by ``subscribers.store.ledger``::

      (no row) / pending / failed ──claim──► sending ──► sent | failed | pending (released)
      (no row) / pending / failed ──claim, no longer active──► skipped

  A row left in ``sending`` by a crash is *unknown*: its message may have left.

The values are what the database stores; ``pending`` and ``sending`` name different
things in different machines, which is why each machine has its own type.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class EditionState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    PAUSED = "paused"

    @property
    def went_out(self) -> bool:
        """Readers hold copies: the files may no longer change and the number is spent."""
        return self in (EditionState.SENDING, EditionState.SENT, EditionState.PAUSED)


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
