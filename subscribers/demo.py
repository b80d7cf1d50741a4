"""Demo subscribers for sample runs, so a fresh checkout has someone to send to."""

from __future__ import annotations

import csv
import io
from importlib import resources

from sqlalchemy import Connection, func, select

from subscribers.store import schema
from subscribers.store.roster import add_subscriber, count
from subscribers.store.states import SubscriberStatus

DEMO = "demo"  # the source of every demo subscriber


def foreign_subscribers(conn: Connection) -> int:
    """How many subscribers are not demo ones: a sample store holding any is a real list."""
    t = schema.subscribers
    return int(conn.scalar(select(func.count()).where(t.c.source != DEMO)) or 0)


def seed_demo_subscribers(conn: Connection, csv_text: str) -> int:
    """Add the subscribers of ``csv_text`` (email,name,status) if the store has none."""
    if count(conn):
        return 0
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    for row in rows:
        status = SubscriberStatus(row["status"])
        add_subscriber(conn, row["email"], name=row.get("name"), status=status, source=DEMO)
    return len(rows)


def demo_csv() -> str:
    return resources.files("subscribers").joinpath("demo_subscribers.csv").read_text("utf-8")
