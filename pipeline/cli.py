"""The ``morningpost`` command line: the edge where errors become one line and an exit code."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from emails.errors import MorningPostError
from pipeline import logs

# Each area's commands live in pipeline/commands/; register new ones here, one line each.
# They are imported when used, so `morningpost subscribers count` does not pay for boto3,
# the Hugging Face client and premailer.
COMMANDS = {
    "run": "issue:run",
    "assemble": "issue:assemble",
    "render": "issue:render",
    "send": "issue:send",
    "status": "issue:status",
    "draft": "ops:draft",
    "approve": "ops:approve",
    "schedule": "ops:schedule",
    "subscribers": "subscribers:subscribers",
    "serve": "web:serve",
    "bounces": "bounces:bounces",
    "preview": "preview:preview",
    "stats": "stats:stats",
    "backup": "backup:backup",
}


class _App(click.Group):
    """Loads commands when used; turns every product error into one line and exit status 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"pipeline.commands.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MorningPostError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            line = library_error(err)
            if line is None:
                raise  # a bug: its traceback is what a developer needs
            click.echo(f"error: {line}", err=True)
            sys.exit(1)


def library_error(err: Exception) -> str | None:
    """One line for an AWS (botocore) or HTTP (httpx) error that no closer code turned into
    a product error: the last resort at the edge. None for anything else.

    The libraries are looked up, not imported: if one was never imported, none of its errors
    can have been raised, and `morningpost subscribers count` stays as quick as ever.
    """
    from pipeline.transports import aws_setup_error, one_line

    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        if isinstance(err, botocore.NoRegionError | botocore.NoCredentialsError):
            return str(aws_setup_error("AWS", err))
        if isinstance(err, botocore.BotoCoreError | botocore.ClientError):
            return f"AWS: {one_line(err)}"
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(err, httpx.HTTPError):
        request = getattr(err, "_request", None)
        where = f" ({request.method} {request.url.host})" if request is not None else ""
        return f"HTTP{where}: {one_line(err)}"
    return None


@click.group(cls=_App, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress, not only warnings.")
def main(verbose: bool) -> None:
    """The AI Morning Post: gather, render and send the daily AI briefing.

    Settings come from MORNINGPOST_* environment variables or a .env file.
    """
    logs.setup(verbose=verbose)
