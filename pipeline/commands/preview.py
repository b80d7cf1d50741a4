"""``morningpost preview``: the editors' preview page (``emails.preview``), wired from the settings.

What each change does:

* ``issue.json`` or a template (``emails/templates``) changed: re-render (``jobs.render_issue``,
  so ``email.html``, ``email.txt`` and ``web.html`` on disk are always what the page shows,
  and what an approval approves).
* An editorial Markdown file changed: re-assemble, then re-render. Sources are not fetched
  on every save: the preview keeps what it fetched last in memory and re-runs assembly over
  it with the editorial folder read afresh. The first editorial change of a session, when
  nothing was fetched yet, fetches once (as the "Re-fetch" button does); with ``--sample``
  that fetch replays the bundled recordings, offline, while the editorial stays the editors'
  own folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

import emails
from emails.errors import ConfigError, IssueLocked
from emails.issue import Issue
from pipeline import jobs, transports
from pipeline.commands.options import (
    date_option,
    issue_date,
    login_name,
    pass_context,
    sample_option,
)
from pipeline.context import Context
from pipeline.settings import Settings

if TYPE_CHECKING:
    from types import FrameType

    from sqlalchemy import Engine
    from starlette.applications import Starlette

    from emails.deliverability import IssueResults
    from emails.preview.config import Draft, PreviewConfig, SampleValues
    from pipeline.sources.base import Source
    from pipeline.sources.items import Gathering

DEFAULT_PORT = 8081
TEMPLATES_DIR = Path(emails.__file__).resolve().parent / "templates"
# Signs the sample unsubscribe link in the preview: it looks real, and the web app rejects it.
_PREVIEW_KEY = "preview-only-key-links-signed-with-it-lead-nowhere"
_SAMPLE_READER = ("reader@example.com", "Ada")
_ANY_INTERFACE = ("", "0.0.0.0", "::")  # noqa: S104 - names, compared against; nothing binds here


def build_app(
    ctx: Context, date: dt.date, *, sample: bool = False, host: str = "127.0.0.1"
) -> Starlette:
    """The preview app for the issue of ``date``; creates its watched folders if missing."""
    from emails.preview.app import create_preview_app

    return create_preview_app(preview_config(ctx, date, sample=sample, host=host))


def preview_config(
    ctx: Context, date: dt.date, *, sample: bool = False, host: str = "127.0.0.1"
) -> PreviewConfig:
    """Everything ``create_preview_app`` needs, from the context (tests replace parts)."""
    from emails.preview.checks import spamassassin_path
    from emails.preview.config import LOOPBACK_HOSTS, PreviewConfig

    settings = ctx.settings
    editorial_dir = settings.editorial_dir / date.isoformat()
    issue_json = ctx.issue(date).issue_json
    # awatch needs folders that exist; an empty editorial folder also shows editors where to write.
    for folder in (editorial_dir, issue_json.parent):
        folder.mkdir(parents=True, exist_ok=True)
    drafting = _Drafting(ctx, date, sample=sample, editorial_dir=editorial_dir)
    return PreviewConfig(
        date=date,
        render=lambda: _render(ctx, date),
        reassemble=drafting.editorial_changed,
        refetch=drafting.refetch,
        send_test=lambda: _send_test(ctx, date, sample=sample),
        approve=lambda: _approve(ctx.engine, date),
        status=lambda: _status(ctx.engine, date),
        message=lambda draft: _message(settings, draft),
        sample=_sample_values(settings, date),
        sender=settings.sender,
        editorial_dir=editorial_dir,
        issue_json=issue_json,
        template_dirs=(TEMPLATES_DIR,),
        editors=tuple(settings.editors),
        allowed_hosts=LOOPBACK_HOSTS + (() if host in _ANY_INTERFACE else (host,)),
        spamassassin=spamassassin_path(),
        stats=lambda: _stats(ctx.engine),
    )


def _render(ctx: Context, date: dt.date) -> Draft:
    from emails.preview.config import Draft

    ws = ctx.issue(date)  # afresh: the files change under a long-running preview
    # Once sending began, show the files that went out: they must never change now.
    with contextlib.suppress(IssueLocked):
        jobs.render_issue(ctx, ws)
    return Draft(ws.issue, ws.rendered, ws.web_html.read_text("utf-8"))


class _Drafting:
    """Assembly for the preview: sources fetched on request, the editorial read on each change."""

    def __init__(self, ctx: Context, date: dt.date, *, sample: bool, editorial_dir: Path) -> None:
        self.ctx, self.date, self.sample = ctx, date, sample
        self.editorial_dir = editorial_dir
        self._fetched: Gathering | None = None

    def refetch(self) -> str:
        from pipeline.sources import gather

        self._fetched = gather(self._fetching_sources())
        issue = self._assemble(self._fetched)
        return f"Sources re-fetched; issue #{issue.number} re-assembled ({_counts(issue)})"

    def editorial_changed(self) -> str:
        if self._fetched is None:
            return self.refetch()
        issue = self._assemble(self._fetched)
        return f"Issue #{issue.number} re-assembled with the editorial ({_counts(issue)})"

    def _fetching_sources(self) -> list[Source]:
        """Every source but the editorial one, which is read on each change instead."""
        from pipeline.sources import EditorialSource

        found = jobs.sources(
            self.ctx, self.date, sample=self.sample, editorial_dir=self.editorial_dir
        )
        return [source for source in found if source.name != EditorialSource.name]

    def _assemble(self, fetched: Gathering) -> Issue:
        """``jobs.assemble_issue`` over ``fetched`` plus the editorial folder read afresh."""
        from pipeline.sources import EditorialSource
        from pipeline.sources.items import Gathering

        gathered = Gathering(
            models=list(fetched.models),
            papers=list(fetched.papers),
            news=list(fetched.news),
            weather=fetched.weather,
        )
        gathered.merge(EditorialSource(self.editorial_dir).fetch())
        # ``sample``: the featured models' cards come from the recordings too, never the Hub.
        ws = self.ctx.issue(self.date)
        return jobs.assemble_issue(self.ctx, ws, gathered=gathered, sample=self.sample)


def _counts(issue: Issue) -> str:
    from pipeline.assembly.assemble import count_items

    pieces = (issue.lead is not None) + (issue.deep_dive is not None) + len(issue.opinions)
    return f"{count_items(issue)} items, {pieces} written pieces"


def _send_test(ctx: Context, date: dt.date, *, sample: bool) -> str:
    from pipeline.scheduling import daily

    editors = ctx.settings.editors
    if not editors:
        raise ConfigError("MORNINGPOST_EDITORS is empty: there is nobody to send a test copy to")
    ws = ctx.issue(date)
    sent = daily.send_test_copies(ctx, ws, sample=sample)
    where = transports.destination(ctx.settings, ws.test_copies_outbox, sample=sample)
    return f"Test copy sent to {sent} of {len(editors)} editor(s) via {where}"


def _approve(engine: Engine, date: dt.date) -> str:
    from subscribers.store import editions

    with engine.begin() as conn:
        edition = editions.approve(conn, date, by=login_name())
    return f"Issue #{edition.number} of {date} approved by {edition.approved_by}"


def _status(engine: Engine, date: dt.date) -> str:
    from subscribers.store import editions
    from subscribers.store.states import EditionState

    with engine.connect() as conn:
        edition = editions.get(conn, date)
    if edition is None:
        return "Not assembled yet"
    if edition.state is EditionState.APPROVED:
        when = edition.approved_at.astimezone().strftime("%H:%M") if edition.approved_at else "?"
        return f"Approved by {edition.approved_by} at {when}"
    if edition.state is EditionState.DRAFT:
        return "Draft · not approved"
    return edition.state.capitalize()


def _stats(engine: Engine) -> list[IssueResults]:
    """The last issues' results for the Stats tab, oldest first (as `morningpost stats`)."""
    from subscribers.feedback.results import recent_results

    with engine.connect() as conn:
        return recent_results(conn)


def _sample_values(settings: Settings, date: dt.date) -> SampleValues:
    from emails.personalise import greeting_for
    from emails.preview.config import SampleValues
    from subscribers.links import issue_url, unsubscribe_url
    from subscribers.tokens import make_token

    return SampleValues(
        unsubscribe_url=unsubscribe_url(settings.public_url, make_token(_PREVIEW_KEY, 0)),
        view_url=issue_url(settings.public_url, date),
        greeting=greeting_for(_SAMPLE_READER[1]),
    )


def _message(settings: Settings, draft: Draft) -> bytes:
    """The message a reader would get, for SpamAssassin: the send engine's own builder."""
    from emails.message import WIRE
    from pipeline.sending.mailing import Mailing, message_for
    from subscribers.store.roster import Subscriber
    from subscribers.store.states import SubscriberStatus

    mailing = Mailing(
        date=draft.issue.date,
        rendered=draft.email,
        sender=settings.sender,
        public_url=settings.public_url,
        secret_key=_PREVIEW_KEY,
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
    email, name = _SAMPLE_READER
    reader = Subscriber(id=0, email=email, name=name, status=SubscriberStatus.ACTIVE)
    return message_for(mailing, reader).as_bytes(policy=WIRE)


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to listen on (keep it local)."
)
@click.option(
    "--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
    help="Port to listen on.",
)  # fmt: skip
@date_option
@sample_option
@pass_context
def preview(ctx: Context, host: str, port: int, date_: dt.datetime | None, sample: bool) -> None:
    """Preview the day's draft in a browser, re-rendered whenever a file changes.

    Shows the email at phone and desktop widths and in dark mode, the plaintext and the web
    version, and a checks panel; buttons re-fetch the sources, send the editors a test copy
    (MORNINGPOST_EDITORS) and approve. Editing a Markdown file in
    MORNINGPOST_EDITORIAL_DIR/<date>/, issue.json or a template updates the open page.
    """
    date = issue_date(ctx.settings, date_)
    app = build_app(ctx, date, sample=sample, host=host)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Preview of the issue of {date}: http://{shown}:{port}/  (Ctrl-C to stop)")
    _serve(app, host, port)


def _serve(app: Starlette, host: str, port: int) -> None:
    """uvicorn, ending the open pages' event streams as soon as it is asked to stop."""
    import uvicorn

    from emails.preview.app import stop_streams

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stop_streams(app)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    Server(config).run()
