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
    "status": "status:status",
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
# What `morningpost --help` lists beside each command: its docstring's first paragraph, as
# one line, kept here so that listing the commands imports none of them
# (tests/test_startup.py holds each to its docstring). A command missing here still works:
# it is imported to ask.
SHORT_HELP = {
    "approve": "Mark the day's draft approved for sending (see MORNINGPOST_REQUIRE_APPROVAL).",
    "assemble": "Fetch the sources and write DATA_DIR/issues/DATE/issue.json"
    " (re-running replaces it).",
    "backup": "Copy the store (SQLite online backup, or pg_dump) and DATA_DIR's issues and"
    " archive.",
    "bounces": "Record and apply the SES events waiting in MORNINGPOST_BOUNCES_QUEUE_URL,"
    " then stop.",
    "draft": "Assemble and render the day's issue and mail a test copy to MORNINGPOST_EDITORS.",
    "preview": "Preview the day's draft in a browser, re-rendered whenever a file changes.",
    "render": "Render issue.json into email.html, email.txt and web.html; refresh the web archive.",
    "run": "Assemble, render and send the day's issue (the main job).",
    "schedule": "Run the daily schedule until stopped (SIGTERM or Ctrl-C).",
    "send": "Deliver the rendered issue to every active subscriber not yet sent; safe to re-run.",
    "serve": "Run the web app: subscribe, confirm, unsubscribe (RFC 8058), archive, SNS webhook,"
    " /healthz, and /metrics for the bearer of MORNINGPOST_METRICS_TOKEN.",
    "stats": "Results per issue: sent, delivered, bounced, complained, rejected, delayed,"
    " unsubscribed, opened and clicked, with the rates SES and Gmail hold senders to.",
    "status": "The issue's state, deliveries, who is sending it and how fast, and why it waits.",
    "subscribers": "Manage the subscriber list.",
}  # fmt: skip


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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing ``click.Group`` writes, from ``SHORT_HELP`` instead of the commands."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, self._short_help(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str, limit: int) -> str:
        # A stand-in with the same help shortens it exactly as the command itself would.
        command = (
            click.Command(name, help=SHORT_HELP[name])
            if name in SHORT_HELP
            else self.get_command(ctx, name)
        )
        return command.get_short_help_str(limit) if command else ""

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
