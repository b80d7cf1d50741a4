"""What ``morningpost status`` reports about one issue: state, deliveries, rate, errors, lock.

The JSON keys ``date``, ``state`` and ``deliveries`` (pending, sent, failed, skipped,
unknown) are a contract operators' scripts rely on; the README documents them all.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from pipeline.logs import redact
from pipeline.workspace import issue_lock
from subscribers.store import editions, ledger, locks, sendstats
from subscribers.store.states import DeliveryState


def issue_status(
    engine: Engine, date: dt.date, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The status of the issue of ``date`` as one JSON-ready object."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        edition = editions.get(conn, date)
        by_state = ledger.counts(conn, date)
        rate = sendstats.send_rate(conn, date)
        errors = sendstats.top_errors(conn, date)
        lease = locks.holder(conn, issue_lock(date), now=now)
    return {
        "date": date.isoformat(),
        "state": edition.state if edition else None,
        "number": edition.number if edition else None,
        "approved_by": edition.approved_by if edition else None,
        "approved_at": _iso(edition.approved_at if edition else None),
        "deliveries": {
            "pending": by_state[DeliveryState.PENDING],
            "sent": by_state[DeliveryState.SENT],
            "failed": by_state[DeliveryState.FAILED],
            "skipped": by_state[DeliveryState.SKIPPED],
            # in flight when a run stopped: fate unknown
            "unknown": by_state[DeliveryState.SENDING],
        },
        "rate_per_second": rate,
        "errors": _masked(errors),
        "lock": {"owner": lease.owner, "expires_at": _iso(lease.expires_at)} if lease else None,
    }


def text_lines(status: dict[str, Any]) -> list[str]:
    """The same, for a person."""
    number = f"#{status['number']} " if status["number"] else ""
    lines = [f"{status['date']}: {number}{status['state'] or 'no issue'}"]
    if status["approved_by"]:
        lines.append(f"  approved by {status['approved_by']} at {status['approved_at']}")
    lines.append("  " + ", ".join(f"{name} {n}" for name, n in status["deliveries"].items()))
    if status["rate_per_second"] is not None:
        lines.append(f"  rate {status['rate_per_second']} messages/s")
    lines += [f"  error x{e['count']}: {e['error']}" for e in status["errors"]]
    if status["lock"]:
        lock = status["lock"]
        lines.append(f"  in progress: {lock['owner']} (lease until {lock['expires_at']})")
    return lines


def _masked(errors: list[tuple[str, int]]) -> list[dict[str, Any]]:
    # Reasons can quote an address (a rejection): mask it, as in the logs, and merge the
    # reasons that differed only by it.
    merged: Counter[str] = Counter()
    for error, n in errors:
        merged[redact(error)] += n
    return [{"error": error, "count": n} for error, n in merged.most_common()]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
