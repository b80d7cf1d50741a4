"""``morningpost subscribers ...``: managing the list."""

from __future__ import annotations

import click

from pipeline.commands.options import pass_settings
from pipeline.settings import Settings
from subscribers import schema
from subscribers.store import add_subscriber, count, open_store


@click.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="The subscriber's name, for the greeting.")
@pass_settings
def subscribers_add(settings: Settings, email: str, name: str | None) -> None:
    """Add EMAIL as an active subscriber."""
    engine = open_store(settings.store_url)
    with engine.begin() as conn:
        new_id = add_subscriber(conn, email, name=name, source="cli")
    click.echo(f"added subscriber {new_id}")


@subscribers.command("count")
@click.option("--status", type=click.Choice(schema.STATUSES), help="Count only this status.")
@pass_settings
def subscribers_count(settings: Settings, status: str | None) -> None:
    """Print how many subscribers there are (of one status)."""
    engine = open_store(settings.store_url)
    with engine.connect() as conn:
        click.echo(count(conn, status))
