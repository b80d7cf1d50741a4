"""Operations: the long-running scheduler, the draft step, and approving a draft."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from emails.errors import ConfigError
from pipeline.commands.options import (
    date_option,
    issue_date,
    login_name,
    pass_context,
    sample_option,
)
from pipeline.context import Context
from pipeline.scheduling import daily
from pipeline.scheduling import scheduler as daily_schedule
from pipeline.settings import ENV_PREFIX
from subscribers.store import editions

log = logging.getLogger(__name__)


@click.command()
@sample_option
@pass_context
def schedule(ctx: Context, sample: bool) -> None:
    """Run the daily schedule until stopped (SIGTERM or Ctrl-C).

    At MORNINGPOST_DRAFT_TIME it drafts the day's issue and mails a test copy to
    MORNINGPOST_EDITORS; at MORNINGPOST_SEND_TIME it sends to every active subscriber
    (once approved, if MORNINGPOST_REQUIRE_APPROVAL is on); at MORNINGPOST_CUTOFF_TIME it
    gives up on an issue not yet sent. Times are local to MORNINGPOST_TIMEZONE.
    With MORNINGPOST_METRICS_PORT set, it serves /metrics and /healthz on that port.
    """
    logging.getLogger().setLevel(logging.INFO)  # a daemon's log is its only voice
    stop = threading.Event()
    runner = daily_schedule.build(ctx, sample=sample, stop=stop)
    with _stop_on_signals(stop), _metrics_server(ctx):
        runner.run_forever()


@contextmanager
def _metrics_server(ctx: Context) -> Iterator[None]:
    settings = ctx.settings
    if settings.metrics_port is None:
        yield
        return
    from pipeline import metrics
    from subscribers.store.health import StoreCheck

    exposition = metrics.Exposition(metrics.registry(ctx.engine), settings.metrics_token_value)
    try:
        server = metrics.MetricsServer(
            exposition,
            StoreCheck(ctx.engine).check,
            host=settings.metrics_host,
            port=settings.metrics_port,
        )
    except OSError as err:
        raise ConfigError(
            f"{ENV_PREFIX}METRICS_PORT: cannot listen on "
            f"{settings.metrics_host}:{settings.metrics_port} ({err.strerror or err})"
        ) from None
    server.start()
    try:
        yield
    finally:
        server.stop()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    # The handler only sets the event: the loop ends its wait at once, and a send in
    # progress records its calls in flight and hands nothing more over (the engine's stop).
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command()
@date_option
@sample_option
@pass_context
def draft(ctx: Context, date_: dt.datetime | None, sample: bool) -> None:
    """Assemble and render the day's issue and mail a test copy to MORNINGPOST_EDITORS."""
    done = daily.draft(ctx, issue_date(ctx.settings, date_), sample=sample)
    click.echo(f"Issue #{done.issue.number} of {done.issue.date}: {done.issue.subject}")
    if done.rendered:
        click.echo(f"  HTML: {done.rendered.html_path} ({done.rendered.html_bytes:,} bytes)")
    click.echo(f"  Test copies sent: {done.test_copies} of {len(ctx.settings.editors)}")


@click.command()
@date_option
@click.option("--by", help="Who approves (default: your login name).")
@sample_option
@pass_context
def approve(ctx: Context, date_: dt.datetime | None, by: str | None, sample: bool) -> None:
    """Mark the day's draft approved for sending (see MORNINGPOST_REQUIRE_APPROVAL)."""
    ws = ctx.issue(issue_date(ctx.settings, date_))
    date = ws.date
    if not ws.has_draft():
        raise ConfigError(
            f"there is no draft of {date} to approve (run `morningpost draft --date {date}`)"
        )
    if not ws.is_rendered():
        raise ConfigError(f"the draft of {date} is not rendered yet (run `morningpost render`)")
    with ctx.engine.begin() as conn:
        edition = editions.approve(conn, date, by=by or login_name())
    log.info("issue approved", extra={"date": date.isoformat(), "by": edition.approved_by})
    when = edition.approved_at.isoformat(timespec="seconds") if edition.approved_at else "?"
    click.echo(f"Issue #{edition.number} of {date} approved by {edition.approved_by} at {when}")
