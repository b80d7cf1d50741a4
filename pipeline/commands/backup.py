"""``morningpost backup``: a consistent copy of the store and the issue files."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline import backup as backups
from pipeline.commands.options import pass_context
from pipeline.context import Context


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create for the backup (default: DATA_DIR/backups/<UTC time>).",
)
@click.option(
    "--no-store",
    is_flag=True,
    help="Back up the issue files only (the database is dumped some other way).",
)
@pass_context
def backup(ctx: Context, output: Path | None, no_store: bool) -> None:
    """Copy the store (SQLite online backup, or pg_dump) and DATA_DIR's issues and archive.

    Safe while a send runs. Writes a manifest (sizes, sha256, row counts); restoring is
    described in deploy/README.md.
    """
    done = backups.backup(
        ctx.settings,
        output or backups.default_output(ctx.settings),
        include_store=not no_store,
    )
    store, files = done.manifest["store"], done.manifest["files"]
    click.echo(f"Backup written to {done.directory}")
    if store:
        rows = store.get("rows", {})
        counted = "".join(f", {rows[t]:,} {t}" for t in ("subscribers", "deliveries") if t in rows)
        click.echo(f"  store: {store['file']} ({store['bytes']:,} bytes{counted})")
    else:
        click.echo("  store: not included (--no-store)")
    issues = len(files["issues"])
    click.echo(
        f"  files: {files['file']} ({files['bytes']:,} bytes, {files['entries']:,} files, "
        f"{issues} issue{'' if issues == 1 else 's'})"
    )
