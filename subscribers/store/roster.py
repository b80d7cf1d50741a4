"""The subscriber rows: adding, finding, counting and streaming subscribers.

Statuses change only through ``subscribers.lifecycle``; this module reads them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from emails.errors import SubscriberError
from subscribers import erasure
from subscribers.addresses import normalise
from subscribers.store import schema
from subscribers.store.stamps import now
from subscribers.store.states import SubscriberStatus


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    status: SubscriberStatus


NAME_MAX = 200


def clean_name(raw: str | None) -> str | None:
    """A name fit for a greeting: no control characters, one line, at most 200 characters."""
    text = " ".join((raw or "").split())  # line breaks and tabs become single spaces
    if not text.isprintable():  # the rare name with controls or format characters left
        text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    cleaned = text[:NAME_MAX].strip()
    return cleaned or None


def add_subscriber(
    conn: Connection,
    email: str,
    *,
    name: str | None = None,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    source: str = "cli",
    secret_key: str | None = None,
) -> int:
    """Insert a subscriber and return its id; an address already on the list is an error,
    and so is an erased one (``secret_key`` recognises those: ``subscribers.erasure``)."""
    address = normalise(email)
    if erasure.is_erased(conn, secret_key, address.key):
        raise SubscriberError(
            f"{address.email} was erased at the person's request: it cannot be added again"
        )
    stamp = now()
    try:
        with conn.begin_nested():
            result = conn.execute(
                schema.subscribers.insert().values(
                    email=address.email,
                    email_key=address.key,
                    name=clean_name(name),
                    status=status,
                    source=source,
                    created_at=stamp,
                    updated_at=stamp,
                    status_reason=f"added ({source})",
                    status_changed_at=stamp,
                )
            )
    except IntegrityError:
        raise SubscriberError(f"{address.email} is already on the list") from None
    key = result.inserted_primary_key
    if key is None:
        raise SubscriberError(f"{address.email} was not stored")
    return int(key[0])


def count(conn: Connection, status: SubscriberStatus | None = None) -> int:
    query = select(func.count()).select_from(schema.subscribers)
    if status is not None:
        query = query.where(schema.subscribers.c.status == status)
    return int(conn.scalar(query) or 0)


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(_columns().where(schema.subscribers.c.id == subscriber_id)).one_or_none()
    return _subscriber(row) if row else None


def iter_active(engine: Engine, batch_size: int = 500) -> Iterator[Subscriber]:
    """Yield active subscribers in id order, one keyset page at a time (never OFFSET)."""
    last_id = 0
    while True:
        query = (
            _columns()
            .where(
                schema.subscribers.c.status == SubscriberStatus.ACTIVE,
                schema.subscribers.c.id > last_id,
            )
            .order_by(schema.subscribers.c.id)
            .limit(batch_size)
        )
        with engine.connect() as conn:
            page = [_subscriber(row) for row in conn.execute(query)]
        yield from page
        if len(page) < batch_size:
            return
        last_id = page[-1].id


def find_by_email(conn: Connection, email: str) -> Subscriber | None:
    """The subscriber with ``email`` (in any case), or None; raises ``InvalidAddress``."""
    key = normalise(email).key
    row = conn.execute(_columns().where(schema.subscribers.c.email_key == key)).one_or_none()
    return _subscriber(row) if row else None


def iter_all(
    engine: Engine, status: SubscriberStatus | None = None, batch_size: int = 1000
) -> Iterator[Any]:
    """Yield every subscriber (of ``status``) in id order, by keyset pages, for export."""
    t = schema.subscribers
    columns = (
        t.c.id,
        t.c.email,
        t.c.name,
        t.c.status,
        t.c.source,
        t.c.created_at,
        t.c.status_reason,
        t.c.status_changed_at,
    )
    last_id = 0
    while True:
        query = select(*columns).where(t.c.id > last_id).order_by(t.c.id).limit(batch_size)
        if status is not None:
            query = query.where(t.c.status == status)
        with engine.connect() as conn:
            page = list(conn.execute(query))
        yield from page
        if len(page) < batch_size:
            return
        last_id = page[-1].id


def _columns() -> Any:
    t = schema.subscribers
    return select(t.c.id, t.c.email, t.c.name, t.c.status)


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, SubscriberStatus(row.status))
