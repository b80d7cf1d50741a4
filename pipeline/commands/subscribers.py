"""``morningpost subscribers ...``: managing the list."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from emails.errors import CsvError, SubscriberError
from pipeline.commands.options import login_name, pass_context
from pipeline.context import Context
from subscribers import lifecycle
from subscribers.addresses import mask
from subscribers.csvio import ImportReport, export_csv, import_csv
from subscribers.store.roster import add_subscriber, count, find_by_email
from subscribers.store.states import SubscriberStatus

if TYPE_CHECKING:
    from subscribers.profile import Delivery, Event, Profile

# Enough reasons to fix a file by; the count in the summary line covers the rest.
_REASONS_SHOWN = 100
_STATUS = click.Choice([status.value for status in SubscriberStatus])


def _status(value: str | None) -> SubscriberStatus | None:
    return None if value is None else SubscriberStatus(value)


@click.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="The subscriber's name, for the greeting.")
@pass_context
def subscribers_add(ctx: Context, email: str, name: str | None) -> None:
    """Add EMAIL as an active subscriber."""
    with ctx.engine.begin() as conn:
        new_id = add_subscriber(
            conn, email, name=name, source="cli", secret_key=ctx.settings.secret_key
        )
    click.echo(f"added subscriber {new_id}")


@subscribers.command("remove")
@click.argument("email")
@pass_context
def subscribers_remove(ctx: Context, email: str) -> None:
    """Unsubscribe EMAIL (kept on file as unsubscribed, so no import brings it back)."""
    with ctx.engine.begin() as conn:
        found = find_by_email(conn, email)
        if found is None:
            raise SubscriberError(f"{email.strip()} is not on the list")
        outcome = lifecycle.unsubscribe(conn, found.id, actor=login_name())
    if outcome is lifecycle.Outcome.DONE:
        click.echo(f"unsubscribed {found.email}")
    else:
        click.echo(f"{found.email} was already {found.status}")


@subscribers.command("count")
@click.option("--status", type=_STATUS, help="Count only this status.")
@pass_context
def subscribers_count(ctx: Context, status: str | None) -> None:
    """Print how many subscribers there are (of one status)."""
    with ctx.engine.connect() as conn:
        click.echo(count(conn, _status(status)))


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what the import would do; store nothing.")
@pass_context
def subscribers_import(ctx: Context, file: Path, dry_run: bool) -> None:
    """Import FILE, a UTF-8 CSV with an 'email' column (and optional 'name', 'status').

    New addresses become active; addresses that unsubscribed, bounced or complained are
    never re-added, nor erased ones. Invalid and malformed rows are skipped and listed by
    line number on stderr. With --dry-run, the same report, and nothing is stored.
    """
    try:
        with file.open("rb") as stream:
            report = import_csv(
                ctx.engine, stream, secret_key=ctx.settings.secret_key, dry_run=dry_run
            )
    except OSError as err:
        raise CsvError(f"cannot read {file}: {err.strerror}", path=file) from None
    _print_reasons(report)
    summary = report.summary
    click.echo(f"dry run: would have {summary}; nothing stored" if dry_run else summary)


def _print_reasons(report: ImportReport) -> None:
    for line, reason in sorted(report.skipped)[:_REASONS_SHOWN]:
        click.echo(f"line {line}: {reason}", err=True)
    hidden = len(report.skipped) - _REASONS_SHOWN
    if hidden > 0:
        click.echo(f"... and {hidden} more skipped rows", err=True)


@subscribers.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.option("--status", type=_STATUS, help="Export only this status.")
@pass_context
def subscribers_export(ctx: Context, output: Path | None, status: str | None) -> None:
    """Write the list as CSV (email, name, status, source, created_at, status_reason,
    status_changed_at)."""
    engine = ctx.engine
    if output is None:
        export_csv(engine, sys.stdout, status=_status(status))
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            written = export_csv(engine, stream, status=_status(status))
    except OSError as err:
        raise SubscriberError(f"cannot write {output}: {err.strerror}") from None
    click.echo(f"exported {written} to {output}", err=True)


@subscribers.command("show")
@click.argument("email")
@pass_context
def subscribers_show(ctx: Context, email: str) -> None:
    """Show EMAIL's status, why and when it was set (and the SES event that did it), its
    history, and its last issues with what SES said about each."""
    from subscribers.profile import profile

    with ctx.engine.connect() as conn:
        found = profile(conn, email)
    if found is None:
        raise SubscriberError(f"{email.strip()} is not on the list")
    for line in profile_lines(found):
        click.echo(line)


@subscribers.command("unsuppress")
@click.argument("email")
@click.option("--reason", required=True, help="Why the suppression is lifted (recorded).")
@click.option("--force", is_flag=True, help="Lift a complaint too (the reader reported spam).")
@pass_context
def subscribers_unsuppress(ctx: Context, email: str, reason: str, force: bool) -> None:
    """Lift EMAIL's suppression: bounced (or, with --force, complained) becomes active again.

    An unsubscribed address is never lifted: that was the reader's choice. The reason and
    who lifted it are recorded; `subscribers show` lists them.
    """
    if not reason.strip():
        raise click.UsageError("--reason must say why")
    with ctx.engine.begin() as conn:
        found = find_by_email(conn, email)
        if found is None:
            raise SubscriberError(f"{email.strip()} is not on the list")
        lift = lifecycle.unsuppress(
            conn, found.id, actor=login_name(), reason=reason.strip(), force=force
        )
    if lift.outcome is not lifecycle.Outcome.DONE:
        raise SubscriberError(f"{found.email} not lifted: {lift.message}")
    if lift.status is SubscriberStatus.COMPLAINED:
        click.echo(
            f"warning: {found.email} had complained; mailing them again counts against the "
            "complaint rate if they complain again",
            err=True,
        )
    click.echo(f"{found.email}: {lift.message} (reason recorded)")
    click.echo(
        "note: if SES's account-level suppression list holds the address, SES still drops "
        "its mail: aws sesv2 delete-suppressed-destination --email-address " + found.email
    )


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def subscribers_erase(ctx: Context, email: str, yes: bool) -> None:
    """Erase EMAIL for good (GDPR): its row, deliveries, SES events and history are deleted.

    Only a keyed hash of the address is kept (HMAC-SHA256 with MORNINGPOST_SECRET_KEY), so
    no import, `subscribers add` or web form can add it again.
    """
    from subscribers.erasure import erase

    secret_key = ctx.settings.require_secret_key()
    if not yes:
        click.confirm(f"Erase everything about {email.strip()}? This cannot be undone", abort=True)
    with ctx.engine.begin() as conn:
        done = erase(conn, secret_key, email)
    if done.had_subscriber:
        click.echo(
            f"erased {done.email}: the subscriber row, {done.deliveries} deliveries, "
            f"{done.events} SES events and {done.history} status changes are deleted"
        )
    else:
        click.echo(f"{done.email} is not on the list: nothing to delete")
    kept = "was already kept" if done.already_erased else "is kept"
    click.echo(
        f"a keyed hash of the address {kept} (HMAC-SHA256 with MORNINGPOST_SECRET_KEY): no "
        "import, `subscribers add` or web form can add it again (after a change of the key, "
        "erase it again)"
    )
    click.echo(
        "not touched: .eml files in the outbox, backups, logs (addresses there are masked, "
        f"as {mask(done.email)}), and SES's account-level suppression list"
    )


def profile_lines(found: Profile) -> list[str]:
    """``subscribers show`` for a person: status and why, then history, then last issues."""
    name = f", {found.name}" if found.name else ""
    lines = [f"{found.email} (subscriber {found.id}{name})"]
    since = f" since {_when(found.changed_at)}" if found.changed_at else ""
    lines.append(f"  status    {found.status}{since}")
    if found.reason:
        lines.append(f"  why       {found.reason}")
    if found.event is not None:
        lines.append(f"  event     {_event_line(found.event)}")
    lines.append(f"  on list   since {_when(found.created_at)} ({found.source})")
    if found.transient_bounces:
        lines.append(f"  soft bounces in a row: {found.transient_bounces}")
    if found.history:
        lines.append("  history")
        lines += [
            f"    {_when(m.at)}  {m.from_status or '(new)'} -> {m.to_status}  {m.reason}"
            f" [{m.actor}{', issue ' + m.issue_date if m.issue_date else ''}]"
            for m in found.history
        ]
    lines.append("  last issues" if found.deliveries else "  no issue delivered yet")
    lines += [_delivery_line(d) for d in found.deliveries]
    return lines


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _event_line(event: Event) -> str:
    issue = f" of the issue of {event.issue_date}" if event.issue_date else ""
    at = f" at {_when(event.at)}" if event.at else ""
    return f"#{event.id} {event.kind}{issue}{at}: {event.note}"


def _delivery_line(delivery: Delivery) -> str:
    kinds = ", ".join(
        dict.fromkeys(f"{e.kind} ({e.detail})" if e.detail else e.kind for e in delivery.events)
    )
    error = f" ({delivery.error})" if delivery.error else ""
    said = f"; SES: {kinds}" if kinds else ""
    return f"    {delivery.issue_date}  {delivery.state}{error}{said}"
