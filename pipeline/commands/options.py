"""Options and helpers shared by the commands."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import click

from pipeline import logs
from pipeline.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

date_option = click.option(
    "--date",
    "date_",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: today in MORNINGPOST_TIMEZONE).",
)
sample_option = click.option(
    "--sample", is_flag=True, help="Use the bundled recorded sources (offline, demo data)."
)


def issue_date(settings: Settings, value: dt.datetime | None) -> dt.date:
    """The date a command works on: the one given, else today in the newsletter's zone."""
    return value.date() if value else settings.today()


def pass_settings(command: Callable[Concatenate[Settings, P], R]) -> Callable[P, R]:
    """Load the settings when the command runs, so ``--help`` works even with bad ones."""

    @functools.wraps(command)
    def with_settings(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = load_settings()
        logs.protect(settings.secret_key)
        return command(settings, *args, **kwargs)

    return with_settings
