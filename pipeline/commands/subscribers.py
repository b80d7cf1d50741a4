"""``morningpost subscribers ...``: managing the list."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emails.errors import CsvError, SubscriberError
from pipeline.commands.options import pass_context
from pipeline.context import Context
from subscribers import lifecycle
from subscribers.csvio import ImportReport, export_csv, import_csv
from subscribers.store.roster import add_subscriber, count, find_by_email
from subscribers.store.states import SubscriberStatus

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
        new_id = add_subscriber(conn, email, name=name, source="cli")
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
        outcome = lifecycle.unsubscribe(conn, found.id)
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
@pass_context
def subscribers_import(ctx: Context, file: Path) -> None:
    """Import FILE, a CSV with an 'email' column (and optional 'name', 'status').

    New addresses become active; addresses that unsubscribed, bounced or complained are
    never re-added. Invalid rows are skipped and listed by line number on stderr.
    """
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            report = import_csv(ctx.engine, stream)
    except OSError as err:
        raise CsvError(f"cannot read {file}: {err.strerror}", path=file) from None
    _print_reasons(report)
    click.echo(report.summary)


def _print_reasons(report: ImportReport) -> None:
    for line, reason in report.skipped[:_REASONS_SHOWN]:
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
    """Write the list as CSV (email, name, status, source, created_at)."""
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
