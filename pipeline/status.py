"""What ``morningpost status`` reports about one issue: state, deliveries, the send, approval.

The JSON keys ``date``, ``state`` and ``deliveries`` (pending, sent, failed, skipped,
unknown) are a contract operators' scripts rely on; the README documents them all.

A live send and a dead one look alike in the ledger (rows in ``sending``); their leases
tell them apart: rows under a live lease are ``in_flight``, rows whose lease ran out are
``unknown``. The send runs say who is sending (``send.workers``), who died mid-send
(``send.lost``), how far and how fast it goes, and why it paused. ``writer`` (what the AI
desk spent on the issue) comes from the saved draft (``issue.json``'s desk record), not the
store.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from emails.issue import DeskRecord, Issue
from pipeline.logs import redact
from pipeline.workspace import issue_lock
from subscribers.store import editions, ledger, locks, sendruns, sendstats
from subscribers.store.sendruns import Run
from subscribers.store.states import EditionState, RunState


@dataclass(frozen=True)
class Approval:
    """Whether sending needs an approval, and until when the scheduler waits for one."""

    required: bool
    cutoff: dt.datetime  # the cut-off of the issue's date, as an instant
    zone: str  # MORNINGPOST_TIMEZONE, for people


def issue_status(
    engine: Engine,
    date: dt.date,
    *,
    now: dt.datetime | None = None,
    approval: Approval | None = None,
    draft: Path | None = None,
) -> dict[str, Any]:
    """The status of the issue of ``date`` as one JSON-ready object; ``approval``: whether
    and until when it may wait for one; ``draft``: its ``issue.json``, for what the AI desk
    did."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        edition = editions.get(conn, date)
        counts = ledger.tally(conn, date, now=now)
        send = _send(conn, date, counts, now)
        rate = sendstats.send_rate(conn, date)
        errors = sendstats.top_errors(conn, date)
        lease = locks.holder(conn, issue_lock(date), now=now)
    state = edition.state if edition else None
    return {
        "date": date.isoformat(),
        "state": state,
        "number": edition.number if edition else None,
        "approved_by": edition.approved_by if edition else None,
        "approved_at": _iso(edition.approved_at if edition else None),
        "waiting_for_approval": _waiting(state, approval, now),
        "deliveries": {
            "pending": counts.pending,
            "sent": counts.sent,
            "failed": counts.failed,
            "skipped": counts.skipped,
            # in ``sending`` with the lease run out: the process died, or got no answer
            "unknown": counts.unknown,
        },
        "in_flight": counts.in_flight,  # in ``sending`` under a live lease: being sent now
        "send": send,
        "rate_per_second": rate,
        "errors": _masked(errors),
        "lock": {"owner": lease.owner, "expires_at": _iso(lease.expires_at)} if lease else None,
        "writer": writer_status(draft) if draft is not None else None,
    }


def _send(
    conn: Connection, date: dt.date, counts: ledger.Tally, now: dt.datetime
) -> dict[str, Any] | None:
    runs = sendruns.of_issue(conn, date)
    if not runs:
        return None
    by_owner = ledger.sending_by_owner(conn, date, now=now)
    alive = [r for r in runs if r.alive(now)]
    ended = [r.ended_at for r in runs if r.ended_at]
    rate = sum(r.rate or 0.0 for r in alive) if alive else None
    remaining = ledger.to_go(conn, date)
    done = counts.sent + counts.failed + counts.skipped
    paused = [r for r in runs if r.state is RunState.PAUSED]
    return {
        "live": bool(alive),
        "started_at": _iso(runs[0].started_at),
        "ended_at": _iso(max(ended)) if ended and not alive else None,
        "workers": [_worker(r, by_owner, now) for r in alive],
        "lost": [_lost(r, by_owner) for r in runs if r.lost(now)],
        "progress": {
            "done": done,
            "total": done + counts.in_flight + counts.unknown + remaining,
        },
        "rate_per_second": round(rate, 1) if rate is not None else None,
        "eta_seconds": round(remaining / rate) if rate else None,
        "paused_reason": paused[-1].reason if paused else None,
    }


def _worker(run: Run, by_owner: dict[str, tuple[int, int]], now: dt.datetime) -> dict[str, Any]:
    return {
        "owner": run.owner,
        "resend_unknown": run.resend_unknown,
        "started_at": _iso(run.started_at),
        "last_beat_seconds_ago": round((now - run.beat_at).total_seconds(), 1),
        "in_flight": by_owner.get(run.owner, (0, 0))[0],
        "delivered": run.counts.delivered,
        "failed": run.counts.failed,
        "skipped": run.counts.skipped,
        "rate_per_second": round(run.rate, 1) if run.rate is not None else None,
    }


def _lost(run: Run, by_owner: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "owner": run.owner,
        "started_at": _iso(run.started_at),
        "last_beat": _iso(run.beat_at),
        "unknown": by_owner.get(run.owner, (0, 0))[1],
        "delivered": run.counts.delivered,
    }


def _waiting(
    state: EditionState | None, approval: Approval | None, now: dt.datetime
) -> dict[str, Any] | None:
    """When the issue waits for approval: until the cut-off, and whether it passed."""
    if approval is None or not approval.required or state is not EditionState.DRAFT:
        return None
    return {
        "until": _iso(approval.cutoff),
        "timezone": approval.zone,
        "cut_off": now >= approval.cutoff,
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
    lines += _waiting_lines(status["waiting_for_approval"])
    counts = ", ".join(f"{name} {n}" for name, n in status["deliveries"].items())
    lines.append(f"  {counts}, in flight {status['in_flight']}")
    lines += _send_lines(status)
    if status["rate_per_second"] is not None:
        lines.append(f"  rate {status['rate_per_second']} messages/s")
    lines += [f"  error x{e['count']}: {e['error']}" for e in status["errors"]]
    if status["lock"]:
        lock = status["lock"]
        lines.append(f"  drafting or starting: {lock['owner']} (lease until {lock['expires_at']})")
    if status.get("writer"):
        lines += _writer_lines(status["writer"])
    return lines


def _waiting_lines(waiting: dict[str, Any] | None) -> list[str]:
    if waiting is None:
        return []
    if waiting["cut_off"]:
        return [
            f"  not approved by the cut-off ({waiting['until']}, {waiting['timezone']}): "
            "the scheduler will not send it"
        ]
    return [
        f"  waiting for approval until the cut-off {waiting['until']} ({waiting['timezone']}):"
        " `morningpost approve`"
    ]


def _send_lines(status: dict[str, Any]) -> list[str]:
    send = status["send"]
    if send is None:
        return []
    lines = []
    if send["live"]:
        progress = send["progress"]
        line = f"  sending since {send['started_at']}: {progress['done']:,}/{progress['total']:,}"
        if send["rate_per_second"]:
            line += f", {send['rate_per_second']:,} messages/s"
        if send["eta_seconds"] is not None:
            line += f", eta {duration(send['eta_seconds'])}"
        lines.append(line)
    elif status["state"] == EditionState.SENDING:
        lines.append(
            "  no process is sending it now (stopped or died): `morningpost send` resumes"
        )
    elif send["ended_at"]:
        lines.append(f"  send started {send['started_at']}, ended {send['ended_at']}")
    lines += [
        f"  worker {w['owner']}: {w['in_flight']} in flight, sent {w['delivered']:,}"
        + (" (resending unknowns)" if w["resend_unknown"] else "")
        for w in send["workers"]
    ]
    lines += [
        f"  died mid-send: {d['owner']} (last heartbeat {d['last_beat']}), left "
        f"{d['unknown']} unknown: `morningpost send --resend-unknown` sends them again"
        for d in send["lost"]
        if d["unknown"]
    ]
    if status["state"] == EditionState.PAUSED and send["paused_reason"]:
        lines.append(f"  paused: {send['paused_reason']}; `morningpost send` resumes")
    return lines


def duration(seconds: float) -> str:
    """``seconds`` as an operator reads a time left: 42s, 3m05s, 2h07m."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _masked(errors: list[tuple[str, int]]) -> list[dict[str, Any]]:
    # Reasons can quote an address (a rejection): mask it, as in the logs, and merge the
    # reasons that differed only by it.
    merged: Counter[str] = Counter()
    for error, n in errors:
        merged[redact(error)] += n
    return [{"error": error, "count": n} for error, n in merged.most_common()]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
