"""A real (not sample) draft, assembled from the bundled recordings: `--sample` on the command
line works in the sample data directory, so tests that want the real one build it here."""

from __future__ import annotations

import datetime as dt


def draft_from_recordings(date: str) -> None:
    """Write the draft of ``date`` (YYYY-MM-DD) into the data directory the settings name."""
    from pipeline import jobs
    from pipeline.context import Context
    from pipeline.settings import load_settings

    with Context(load_settings()) as ctx:
        jobs.assemble_issue(ctx, ctx.issue(dt.date.fromisoformat(date)), sample=True)
