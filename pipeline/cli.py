"""The ``morningpost`` command line: the edge where errors become one line and an exit code."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

import click

from emails.errors import MorningPostError
from pipeline import jobs
from pipeline.send import SendReport
from pipeline.settings import ENV_PREFIX, Settings, load_settings
from subscribers import editions, ledger, schema
from subscribers.store import add_subscriber, count, open_store


class _App(click.Group):
    """Turns every product error into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MorningPostError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


date_option = click.option(
    "--date",
    "date_",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: today in MORNINGPOST_TIMEZONE).",
)
sample_option = click.option(
    "--sample", is_flag=True, help="Use the bundled recorded sources (offline, demo data)."
)


def _date(settings: Settings, value: dt.datetime | None) -> dt.date:
    return value.date() if value else settings.today()


@click.group(cls=_App, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress, not only warnings.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """The AI Morning Post: gather, render and send the daily AI briefing.

    Settings come from MORNINGPOST_* environment variables or a .env file.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = load_settings()


@main.command()
@date_option
@sample_option
@click.pass_obj
def run(settings: Settings, date_: dt.datetime | None, sample: bool) -> None:
    """Assemble, render and send the day's issue (the main job)."""
    if settings.has_placeholder_address and not sample:
        click.echo(f"warning: {ENV_PREFIX}POSTAL_ADDRESS is the placeholder; set yours", err=True)
    result = jobs.run(settings, _date(settings, date_), sample=sample)
    issue, report = result.issue, result.report
    click.echo(f"Issue #{issue.number} of {issue.date}: {issue.subject}")
    if result.rendered:
        click.echo(f"  HTML: {result.rendered.html_path} ({result.rendered.html_bytes:,} bytes)")
    if result.seeded:
        click.echo(f"  Demo subscribers added: {result.seeded}")
    click.echo(_report_line(report, settings, issue.date, sample=sample))


def _report_line(report: SendReport, settings: Settings, date: dt.date, *, sample: bool) -> str:
    where = settings.data_dir / "outbox" / date.isoformat()
    via = f"outbox {where}" if sample or settings.transport == "outbox" else settings.transport
    return (
        f"  Delivered {report.delivered} via {via}; already sent {report.already}; "
        f"failed {report.failed}"
    )


@main.command()
@date_option
@sample_option
@click.pass_obj
def assemble(settings: Settings, date_: dt.datetime | None, sample: bool) -> None:
    """Fetch the sources and write DATA_DIR/issues/DATE/issue.json."""
    issue = jobs.assemble_issue(settings, _date(settings, date_), sample=sample)
    click.echo(f"Issue #{issue.number} of {issue.date}: {issue.subject}")


@main.command()
@date_option
@click.pass_obj
def render(settings: Settings, date_: dt.datetime | None) -> None:
    """Render issue.json into email.html and email.txt beside it."""
    rendered = jobs.render_issue(settings, _date(settings, date_))
    click.echo(f"{rendered.html_path} {rendered.html_bytes:,} bytes")
    click.echo(f"{rendered.text_path} {rendered.text_bytes:,} bytes")


@main.command()
@date_option
@click.option("--dry-run", is_flag=True, help="Build every message but hand none over.")
@click.pass_obj
def send(settings: Settings, date_: dt.datetime | None, dry_run: bool) -> None:
    """Deliver the rendered issue to every active subscriber not yet sent; safe to re-run."""
    date = _date(settings, date_)
    report = jobs.send(settings, date, dry_run=dry_run)
    if dry_run:
        click.echo(f"Dry run: {report.delivered} messages built, none sent")
    else:
        click.echo(_report_line(report, settings, date, sample=False).strip())
    if report.failed:
        raise MorningPostError(f"{report.failed} deliveries failed; re-run `send` to retry them")


@main.command()
@date_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
@click.pass_obj
def status(settings: Settings, date_: dt.datetime | None, as_json: bool) -> None:
    """The issue's state and its deliveries by state."""
    date = _date(settings, date_)
    engine = open_store(settings.store_url)
    with engine.connect() as conn:
        state = editions.state(conn, date)
        by_state = ledger.counts(conn, date)
    deliveries = {
        "pending": by_state[ledger.PENDING],
        "sent": by_state[ledger.SENT],
        "failed": by_state[ledger.FAILED],
        "skipped": by_state[ledger.SKIPPED],
        "unknown": by_state[ledger.SENDING],  # in flight when a run stopped: fate unknown
    }
    if as_json:
        click.echo(json.dumps({"date": date.isoformat(), "state": state, "deliveries": deliveries}))
        return
    click.echo(f"{date}: {state or 'no issue'}")
    click.echo("  " + ", ".join(f"{name} {n}" for name, n in deliveries.items()))


@main.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="The subscriber's name, for the greeting.")
@click.pass_obj
def subscribers_add(settings: Settings, email: str, name: str | None) -> None:
    """Add EMAIL as an active subscriber."""
    engine = open_store(settings.store_url)
    with engine.begin() as conn:
        new_id = add_subscriber(conn, email, name=name, source="cli")
    click.echo(f"added subscriber {new_id}")


@subscribers.command("count")
@click.option("--status", type=click.Choice(schema.STATUSES), help="Count only this status.")
@click.pass_obj
def subscribers_count(settings: Settings, status: str | None) -> None:
    """Print how many subscribers there are (of one status)."""
    engine = open_store(settings.store_url)
    with engine.connect() as conn:
        click.echo(count(conn, status))
