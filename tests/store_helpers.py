"""Setting up store states for tests, one row at a time (the product works in batches)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, update

from subscribers.store import ledger, schema
from subscribers.store.states import EditionState


def claim(conn: Connection, date: dt.date, subscriber_id: int) -> bool:
    """Claim one delivery as the send engine would; False when it is not to be sent."""
    return subscriber_id in ledger.claim_batch(conn, date, [subscriber_id]).claimed


def mark_sent(conn: Connection, date: dt.date, subscriber_id: int, message_id: str) -> None:
    ledger.finish_batch(conn, date, sent=[(subscriber_id, message_id)])


def mark_failed(conn: Connection, date: dt.date, subscriber_id: int, error: str) -> None:
    ledger.finish_batch(conn, date, failed=[(subscriber_id, error)])


def force_state(conn: Connection, date: dt.date, state: EditionState) -> None:
    """Put the issue's record in ``state`` whatever it was: a test's starting point."""
    e = schema.editions
    conn.execute(update(e).where(e.c.date == date.isoformat()).values(state=state))
