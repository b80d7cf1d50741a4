"""Demo subscribers for sample runs, so a fresh checkout has someone to send to."""

from __future__ import annotations

import csv
import io
from importlib import resources

from sqlalchemy import Connection

from subscribers.store.roster import add_subscriber, count
from subscribers.store.states import SubscriberStatus


def seed_demo_subscribers(conn: Connection, csv_text: str) -> int:
    """Add the subscribers of ``csv_text`` (email,name,status) if the store has none."""
    if count(conn):
        return 0
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    for row in rows:
        status = SubscriberStatus(row["status"])
        add_subscriber(conn, row["email"], name=row.get("name"), status=status, source="demo")
    return len(rows)


def demo_csv() -> str:
    return resources.files("subscribers").joinpath("demo_subscribers.csv").read_text("utf-8")
