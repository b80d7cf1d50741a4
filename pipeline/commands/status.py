"""``morningpost status``: what the store says about one issue.

Apart from the commands that make and send issues (``issue.py``), so that asking for the
status loads the store and nothing of the sources, the renderer or the send engine.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from pipeline.commands.options import date_option, issue_date, pass_context, sample_option
from pipeline.context import Context
from pipeline.scheduling.clock import local_instant
from pipeline.status import Approval, issue_status, text_lines


@click.command()
@date_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
@sample_option
@pass_context
def status(ctx: Context, date_: dt.datetime | None, as_json: bool, sample: bool) -> None:
    """The issue's state, deliveries, who is sending it and how fast, and why it waits."""
    settings = ctx.settings
    date = issue_date(settings, date_)
    approval = Approval(
        required=settings.require_approval,
        cutoff=local_instant(date, settings.cutoff_time, settings.zone),
        zone=settings.timezone,
    )
    draft = ctx.issue(date).issue_json
    report = issue_status(ctx.engine, date, approval=approval, draft=draft)
    if as_json:
        click.echo(json.dumps(report))
        return
    for line in text_lines(report):
        click.echo(line)
