"""Commands about one dated issue: run, assemble, render, send, status."""

from __future__ import annotations

import datetime as dt
import json

import click

from emails.errors import MorningPostError
from pipeline import jobs
from pipeline.commands.options import date_option, issue_date, pass_settings, sample_option
from pipeline.send import SendReport
from pipeline.settings import ENV_PREFIX, Settings
from subscribers import editions, ledger
from subscribers.store import open_store


@click.command()
@date_option
@sample_option
@pass_settings
def run(settings: Settings, date_: dt.datetime | None, sample: bool) -> None:
    """Assemble, render and send the day's issue (the main job)."""
    if settings.has_placeholder_address and not sample:
        click.echo(f"warning: {ENV_PREFIX}POSTAL_ADDRESS is the placeholder; set yours", err=True)
    result = jobs.run(settings, issue_date(settings, date_), sample=sample)
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


@click.command()
@date_option
@sample_option
@pass_settings
def assemble(settings: Settings, date_: dt.datetime | None, sample: bool) -> None:
    """Fetch the sources and write DATA_DIR/issues/DATE/issue.json."""
    issue = jobs.assemble_issue(settings, issue_date(settings, date_), sample=sample)
    click.echo(f"Issue #{issue.number} of {issue.date}: {issue.subject}")


@click.command()
@date_option
@pass_settings
def render(settings: Settings, date_: dt.datetime | None) -> None:
    """Render issue.json into email.html and email.txt beside it."""
    rendered = jobs.render_issue(settings, issue_date(settings, date_))
    click.echo(f"{rendered.html_path} {rendered.html_bytes:,} bytes")
    click.echo(f"{rendered.text_path} {rendered.text_bytes:,} bytes")


@click.command()
@date_option
@click.option("--dry-run", is_flag=True, help="Build every message but hand none over.")
@pass_settings
def send(settings: Settings, date_: dt.datetime | None, dry_run: bool) -> None:
    """Deliver the rendered issue to every active subscriber not yet sent; safe to re-run."""
    date = issue_date(settings, date_)
    report = jobs.send(settings, date, dry_run=dry_run)
    if dry_run:
        click.echo(f"Dry run: {report.delivered} messages built, none sent")
    else:
        click.echo(_report_line(report, settings, date, sample=False).strip())
    if report.failed:
        raise MorningPostError(f"{report.failed} deliveries failed; re-run `send` to retry them")


@click.command()
@date_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
@pass_settings
def status(settings: Settings, date_: dt.datetime | None, as_json: bool) -> None:
    """The issue's state and its deliveries by state."""
    date = issue_date(settings, date_)
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
