"""The state machines the store records, one ``StrEnum`` each.

Each is moved by one module only, which holds its rules:

* ``SubscriberStatus``, by ``subscribers.lifecycle``::

      pending ──confirm──► active ──unsubscribe──► unsubscribed ──subscribe again──► pending
         └────────────────────┴──bounce──► bounced ──subscribe again──► pending
      any ──complaint──► complained (final for the web form and for imports)

  Only ``active`` receives the issue.

* ``EditionState`` (one dated issue), by ``subscribers.store.editions``::

      draft ──approve──► approved ──► sending ──► sent        (nothing unknown, failed or left)
        └──────────────────────────►    │  ├────► incomplete  (the send ended; some unknown,
                                        │  │                   failed or left pending)
                                        │  └────► paused ──► sending (a re-run resumes)
                                        └◄──── sent | incomplete (a re-run checks the list)

  ``approved`` is only needed when approval is required. Once an issue is ``sending``,
  ``sent``, ``incomplete`` or ``paused`` it *went out*: readers hold copies and its number
  is spent.

* ``DeliveryState`` (one issue to one subscriber), by ``subscribers.store.ledger``::

      (no row) / pending / failed ──claim──► sending ──► sent | failed | pending (released)
      (no row) / pending / failed ──claim, no longer active──► skipped
      sending, lease expired ──claim (``--resend-unknown`` only)──► sending

  A row in ``sending`` carries its owner (``host:pid:run``) and a lease the owner renews
  while it works: under a live lease it is *in flight*; once the lease expired (the owner
  died, or gave up on a call that got no answer) it is *unknown*: its message may have left.

* ``RunState`` (one send process on one issue), by ``subscribers.store.sendruns``::

      running ──► finished | paused | stopped
      running, lease expired: the process died (*lost*); no one records that, it is read

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
    INCOMPLETE = "incomplete"

    @property
    def went_out(self) -> bool:
        """Readers hold copies: the files may no longer change and the number is spent."""
        return self not in (EditionState.DRAFT, EditionState.APPROVED)


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # went through the whole list
    PAUSED = "paused"  # stopped itself: too many errors, or the provider refuses to send
    STOPPED = "stopped"  # asked to stop (SIGTERM, Ctrl-C)
