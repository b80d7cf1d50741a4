"""Commands that make and send one dated issue: run, assemble, render, send."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sys
import threading
from collections.abc import Iterator

import click

from emails.errors import MorningPostError
from pipeline import jobs, transports
from pipeline.assembly.assemble import count_items
from pipeline.commands.options import date_option, issue_date, pass_context, sample_option
from pipeline.context import Context
from pipeline.sending import progress
from pipeline.sending.engine import SendReport
from pipeline.settings import ENV_PREFIX
from pipeline.status import desk_line
from subscribers.store.states import EditionState


@click.command()
@date_option
@sample_option
@pass_context
def run(ctx: Context, date_: dt.datetime | None, sample: bool) -> None:
    """Assemble, render and send the day's issue (the main job)."""
    if ctx.settings.has_placeholder_address and not sample:
        click.echo(f"warning: {ENV_PREFIX}POSTAL_ADDRESS is the placeholder; set yours", err=True)
    result = jobs.run(ctx, ctx.issue(issue_date(ctx.settings, date_)), sample=sample)
    issue, report = result.issue, result.report
    click.echo(f"Issue #{issue.number} of {issue.date}: {issue.subject}")
    if result.rendered:
        click.echo(f"  HTML: {result.rendered.html_path} ({result.rendered.html_bytes:,} bytes)")
    if result.seeded:
        click.echo(f"  Demo subscribers added: {result.seeded}")
    click.echo("  " + _report_line(report, result.via))


def _report_line(report: SendReport, via: str) -> str:
    line = f"Delivered {report.delivered} via {via}; already sent {report.already}; "
    line += f"failed {report.failed}; unknown {report.unknown}"
    if report.in_flight:
        line += f"; in flight with other processes {report.in_flight}"
    return line


@click.command()
@date_option
@sample_option
@click.option(
    "--no-editorial",
    is_flag=True,
    help="Leave the editors' Markdown out: the issue as it reads on a day no editor wrote.",
)
@click.option(
    "--rewrite",
    is_flag=True,
    help="Ask the AI desk's model again rather than reuse its answers for this day's input.",
)
@pass_context
def assemble(
    ctx: Context, date_: dt.datetime | None, sample: bool, no_editorial: bool, rewrite: bool
) -> None:
    """Fetch the sources and write DATA_DIR/issues/DATE/issue.json (re-running replaces it)."""
    ws = ctx.issue(issue_date(ctx.settings, date_))
    issue = jobs.assemble_issue(
        ctx, ws, sample=sample, editorial=not no_editorial, rewrite=rewrite
    )
    click.echo(f"Issue #{issue.number} of {issue.date}: {issue.subject}")
    click.echo(f"  Draft: {ws.issue_json} ({count_items(issue)} items)")
    if issue.desk is not None:
        click.echo(f"  {desk_line(issue.desk)}")


@click.command()
@date_option
@sample_option
@pass_context
def render(ctx: Context, date_: dt.datetime | None, sample: bool) -> None:
    """Render issue.json into email.html, email.txt and web.html; refresh the web archive."""
    rendered = jobs.render_issue(ctx, ctx.issue(issue_date(ctx.settings, date_)))
    click.echo(f"{rendered.html_path} {rendered.html_bytes:,} bytes")
    click.echo(f"{rendered.text_path} {rendered.text_bytes:,} bytes")
    click.echo(f"{rendered.web_path} {rendered.web_bytes:,} bytes")
    archive = rendered.archive
    click.echo(f"{archive.index} and {archive.feed.name}: {archive.pages} issues archived")


@click.command()
@date_option
@click.option("--dry-run", is_flag=True, help="Build every message but hand none over.")
@click.option(
    "--resend-unknown",
    is_flag=True,
    help=(
        "Also send the unknown deliveries: their process died (lease run out) or got no "
        "answer, so their copy may have gone out. Never one a live process holds."
    ),
)
@click.option(
    "--join",
    is_flag=True,
    help=(
        "Send only beside a send another process began (`run`, which drafts and checks the "
        "approval): wait up to 5 minutes for it, send nothing if none began. For extra "
        "workers started with `run`."
    ),
)
@click.option("--to", "to", metavar="EMAIL", help="Send one test copy to EMAIL; no ledger change.")
@sample_option
@pass_context
def send(
    ctx: Context,
    date_: dt.datetime | None,
    dry_run: bool,
    resend_unknown: bool,
    join: bool,
    to: str | None,
    sample: bool,
) -> None:
    """Deliver the rendered issue to every active subscriber not yet sent; safe to re-run."""
    ws = ctx.issue(issue_date(ctx.settings, date_))
    if to is not None:
        if dry_run or resend_unknown or join:
            raise click.UsageError("--to takes none of --dry-run, --resend-unknown, --join")
        message_id = jobs.send_test(ctx, ws, to)
        click.echo(f"Test copy of {ws.date} sent to {to} ({message_id})")
        return
    stop = threading.Event()
    with _stop_on_sigterm(stop):
        report = jobs.send(
            ctx,
            ws,
            dry_run=dry_run,
            resend_unknown=resend_unknown,
            progress=progress.for_stream(sys.stderr),
            stop=stop,
            join=join,
        )
    if dry_run:
        click.echo(f"Dry run: {report.delivered} messages built, none sent")
        return
    click.echo(_report_line(report, transports.destination(ctx.settings, ws.outbox)))
    click.echo(_summary(report))
    _raise_unless_done(report)


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (systemd stop, docker stop) ends the send cleanly instead of killing it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _summary(report: SendReport) -> str:
    line = (
        f"sent {report.delivered}, failed {report.failed}, skipped {report.skipped}, "
        f"already sent {report.already}, unknown {report.unknown} in {report.seconds:.1f} s "
        f"({report.rate:,.1f} messages/s); the issue is {report.state or 'not recorded'}"
    )
    if report.elsewhere:
        line += f"\n{report.elsewhere} deliveries were in flight with other processes"
    if report.in_flight:
        line += (
            f"\n{report.in_flight} deliveries are still in flight with other processes "
            "(unknown if their process died, once its lease runs out)"
        )
    if report.unknown:
        line += (
            f"\n{report.unknown} deliveries are unknown (their process died, or got no "
            "answer from the transport); `morningpost send --resend-unknown` sends them again"
        )
    return line


def _raise_unless_done(report: SendReport) -> None:
    if report.paused:
        raise MorningPostError(
            f"the send is paused: {report.paused}; re-run `morningpost send` to resume"
        )
    if report.interrupted:
        raise MorningPostError("the send was stopped; re-run `morningpost send` to resume")
    if report.failed:
        raise MorningPostError(f"{report.failed} deliveries failed; re-run `send` to retry them")
    if report.state is EditionState.INCOMPLETE:
        raise MorningPostError(
            "the issue is incomplete: `morningpost status` lists what is unknown or failed"
        )
