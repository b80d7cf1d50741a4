"""What ``morningpost status`` reports about one issue: state, deliveries, rate, errors, lock,
and what the AI desk spent on it.

The JSON keys ``date``, ``state`` and ``deliveries`` (pending, sent, failed, skipped,
unknown) are a contract operators' scripts rely on; the README documents them all.
``writer`` comes from the saved draft (``issue.json``'s desk record), not the store.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from emails.issue import DeskRecord, Issue
from pipeline.logs import redact
from pipeline.workspace import issue_lock
from subscribers.store import editions, ledger, locks, sendstats
from subscribers.store.states import DeliveryState


def issue_status(
    engine: Engine, date: dt.date, *, now: dt.datetime | None = None, draft: Path | None = None
) -> dict[str, Any]:
    """The status of the issue of ``date`` as one JSON-ready object; ``draft``: its
    ``issue.json``, for what the AI desk did."""
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
        "writer": writer_status(draft) if draft is not None else None,
    }


def writer_status(draft: Path) -> dict[str, Any] | None:
    """What the AI desk did for the draft at ``draft`` and what it cost; None when the draft
    is missing, unreadable, or was written without the desk."""
    try:
        record = Issue.load(draft).desk if draft.is_file() else None
    except (OSError, ValueError):
        return None
    if record is None:
        return None
    return {
        "backend": record.backend,
        "model": record.model,
        "total": record.total.model_dump(),
        "last_assembly": {
            **record.usage.model_dump(exclude={"assemblies"}),
            "cached": list(record.cached),
        },
        "pieces": [piece.section for piece in record.pieces],
        "blurbs": len(record.blurbs),
        "removed": len(record.removed),
        "fallbacks": [{"piece": f.piece, "reason": f.reason} for f in record.fallbacks],
    }


def desk_line(record: DeskRecord) -> str:
    """One line on what the desk did in the assembly that saved ``record``."""
    usage = record.usage
    wrote = _wrote([p.section for p in record.pieces], len(record.blurbs)) or "nothing printed"
    line = (
        f"AI desk ({record.backend} {record.model}): {wrote}; "
        f"{len(record.removed)} sentence(s) removed, {len(record.fallbacks)} fallback(s); "
        f"{usage.calls} call(s), {usage.input_tokens:,} tokens in, {usage.output_tokens:,} "
        f"out, {usage.seconds:.2f} s"
    )
    if record.cached:
        line += f"; from the cache: {', '.join(record.cached)}"
    return line


def _wrote(pieces: list[str], blurbs: int) -> str:
    parts = [f"{piece} x{pieces.count(piece)}" if pieces.count(piece) > 1 else piece
             for piece in dict.fromkeys(pieces)]  # fmt: skip
    if blurbs:
        parts.append(f"{blurbs} blurb(s)")
    return ", ".join(parts)


def _writer_lines(writer: dict[str, Any]) -> list[str]:
    total, last = writer["total"], writer["last_assembly"]
    wrote = _wrote(writer["pieces"], writer["blurbs"]) or "nothing printed"
    lines = [
        f"  writer {writer['backend']} {writer['model']}: {total['input_tokens']:,} tokens in, "
        f"{total['output_tokens']:,} out, {total['seconds']:.2f} s, {total['calls']} call(s) "
        f"over {total['assemblies']} assembl{'y' if total['assemblies'] == 1 else 'ies'}",
        f"  writer wrote: {wrote}; {writer['removed']} sentence(s) removed",
    ]
    if total["assemblies"] > 1:
        cached = f", from the cache: {', '.join(last['cached'])}" if last["cached"] else ""
        lines.append(
            f"  last assembly: {last['calls']} call(s), {last['input_tokens']:,} tokens in, "
            f"{last['output_tokens']:,} out, {last['seconds']:.2f} s{cached}"
        )
    lines += [f"  writer fell back: {f['piece']}: {f['reason']}" for f in writer["fallbacks"]]
    return lines


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
    if status.get("writer"):
        lines += _writer_lines(status["writer"])
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
