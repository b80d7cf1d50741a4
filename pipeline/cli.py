"""The ``morningpost`` command line: the edge where errors become one line and an exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

from emails.errors import MorningPostError
from pipeline import logs
from pipeline.commands import bounces, issue, ops, preview, subscribers, web


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


@click.group(cls=_App, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress, not only warnings.")
def main(verbose: bool) -> None:
    """The AI Morning Post: gather, render and send the daily AI briefing.

    Settings come from MORNINGPOST_* environment variables or a .env file.
    """
    logs.setup(verbose=verbose)


# Each area's commands live in pipeline/commands/; register new ones here, one line each.
main.add_command(issue.run)
main.add_command(issue.assemble)
main.add_command(issue.render)
main.add_command(issue.send)
main.add_command(issue.status)
main.add_command(subscribers.subscribers)
main.add_command(ops.schedule)
main.add_command(ops.approve)
main.add_command(ops.draft)
main.add_command(web.serve)
main.add_command(bounces.bounces)
main.add_command(preview.preview)
