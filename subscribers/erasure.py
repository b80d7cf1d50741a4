"""Erasing a person (GDPR art. 17), and keeping them erased.

``erase`` deletes everything the store holds about one address: the subscriber row, its
deliveries, its SES events and its status history. What stays is a fingerprint,
HMAC-SHA256(``MORNINGPOST_SECRET_KEY``, the address's key), in ``erased``: it cannot be
turned back into the address without the key, and it lets ``subscribers add``,
``subscribers import`` and the web form recognise the address and refuse it.

The key matters: after a change of ``MORNINGPOST_SECRET_KEY`` the old fingerprints match
nothing, so erased addresses could be added again. Every check therefore fails closed:
asked without a key while fingerprints exist, it raises ``ConfigError`` rather than let an
address through unchecked.

Outside the store nothing is touched, and ``erase`` says so: ``.eml`` files in the outbox,
logs (addresses in them are masked), backups, and SES's own account-level suppression list.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, exists, select

from emails.errors import ConfigError
from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.stamps import now

_x = schema.erased
_t = schema.subscribers


def fingerprint(secret_key: str, email_key: str) -> str:
    """What the store keeps of an erased address (hex HMAC-SHA256 of its key)."""
    return hmac.new(secret_key.encode(), email_key.encode(), hashlib.sha256).hexdigest()


def erased_keys(conn: Connection, secret_key: str | None, keys: Iterable[str]) -> set[str]:
    """The address keys among ``keys`` whose person was erased (fails closed without a key)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted or not _any_erased(conn):
        return set()
    if not secret_key:
        raise ConfigError(
            "MORNINGPOST_SECRET_KEY is not set: it is needed to recognise erased addresses"
        )
    prints = {fingerprint(secret_key, key): key for key in wanted}
    found = conn.scalars(select(_x.c.fingerprint).where(_x.c.fingerprint.in_(list(prints))))
    return {prints[f] for f in found}


def is_erased(conn: Connection, secret_key: str | None, email_key: str) -> bool:
    return bool(erased_keys(conn, secret_key, [email_key]))


def _any_erased(conn: Connection) -> bool:
    return bool(conn.scalar(select(exists().where(_x.c.fingerprint.is_not(None)))))


@dataclass(frozen=True)
class Erasure:
    """What ``erase`` removed: whether there was a subscriber row, and how many rows with it."""

    email: str
    had_subscriber: bool
    deliveries: int
    events: int
    history: int
    already_erased: bool


def erase(conn: Connection, secret_key: str, email: str) -> Erasure:
    """Delete everything about ``email`` and keep its fingerprint; raises ``InvalidAddress``."""
    address = normalise(email)
    print_ = fingerprint(secret_key, address.key)
    already = bool(conn.scalar(select(exists().where(_x.c.fingerprint == print_))))
    subscriber_id = conn.scalar(select(_t.c.id).where(_t.c.email_key == address.key))
    counts = (0, 0, 0)
    if subscriber_id is not None:
        counts = _delete_subscriber(conn, int(subscriber_id))
    if not already:
        conn.execute(_x.insert().values(fingerprint=print_, erased_at=now()))
    return Erasure(address.email, subscriber_id is not None, *counts, already_erased=already)


def _delete_subscriber(conn: Connection, subscriber_id: int) -> tuple[int, int, int]:
    deliveries = _delete(conn, schema.deliveries, subscriber_id)
    events = _delete(conn, schema.events, subscriber_id)
    history = _delete(conn, schema.status_history, subscriber_id)
    conn.execute(delete(_t).where(_t.c.id == subscriber_id))
    return deliveries, events, history


def _delete(conn: Connection, table: Table, subscriber_id: int) -> int:
    return int(conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id)).rowcount)
