"""Options and helpers shared by the commands."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import click

from pipeline import logs
from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from pipeline.context import Context

P = ParamSpec("P")
R = TypeVar("R")

date_option = click.option(
    "--date",
    "date_",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: today in MORNINGPOST_TIMEZONE).",
)
sample_option = click.option(
    "--sample",
    is_flag=True,
    help="Work on the sample data directory (DATA_DIR/sample: its own store, the outbox, "
    "recorded sources, demo subscribers); never touches the real ones.",
)


def issue_date(settings: Settings, value: dt.datetime | None) -> dt.date:
    """The date a command works on: the one given, else today in the newsletter's zone."""
    return value.date() if value else settings.today()


def pass_context(command: Callable[Concatenate[Context, P], R]) -> Callable[P, R]:
    """Load the settings when the command runs, so ``--help`` works even with bad ones, and
    hand the command one ``Context``, closed (its store disposed of) when the command ends.

    A command run with ``--sample`` gets the sample context (``pipeline.context``): its own
    data directory and store, whatever the settings name."""

    @functools.wraps(command)
    def with_context(*args: P.args, **kwargs: P.kwargs) -> R:
        # The store's libraries, once a command runs.
        from pipeline.context import Context, sample_context

        settings = load_settings()
        logs.protect(
            settings.secret_key, settings.metrics_token_value, settings.writer_api_key_value
        )
        with sample_context(settings) if kwargs.get("sample") else Context(settings) as ctx:
            return command(ctx, *args, **kwargs)

    return with_context


def login_name() -> str:
    """Who is at the keyboard, for the records an approval leaves."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry
        return "unknown"
