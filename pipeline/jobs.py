"""The stages as jobs: each reads the previous stage's files and writes its own.

This is the composition root: settings in, store, sources and transport built and wired.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import boto3
from sqlalchemy import Engine

from emails.errors import ConfigError, MorningPostError
from emails.issue import Issue
from emails.render import RenderedEmail, render_email
from emails.transports.base import Transport
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import SesTransport
from pipeline import paths
from pipeline.assemble import assemble
from pipeline.send import Mailing, SendReport, send_issue
from pipeline.settings import Settings
from pipeline.sources import build_sources, sample_sources
from pipeline.sources.base import Source, gather
from pipeline.sources.http import make_client
from subscribers import editions
from subscribers.demo import demo_csv, seed_demo_subscribers
from subscribers.store import open_store

log = logging.getLogger(__name__)


class IssueLocked(MorningPostError):
    """The issue's sending has begun: its draft and rendered files may no longer change."""


_STARTED = (editions.SENDING, editions.SENT, editions.PAUSED)


@dataclass(frozen=True)
class Rendered:
    html_path: Path
    text_path: Path
    html_bytes: int
    text_bytes: int


def assemble_issue(settings: Settings, date: dt.date, *, sample: bool = False) -> Issue:
    """Fetch the sources and write ``issue.json`` for ``date``; return the issue."""
    engine = open_store(settings.store_url)
    _refuse_if_started(engine, date, "re-assembled")
    with engine.begin() as conn:
        number = editions.issue_number(conn, date)
    gathered = gather(_sources(settings, date, sample=sample))
    issue = assemble(gathered, date=date, number=number, city=settings.city)
    target = paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(issue.to_json(), encoding="utf-8")
    return issue


def _sources(settings: Settings, date: dt.date, *, sample: bool) -> list[Source]:
    if sample:
        return sample_sources()
    return build_sources(
        client=make_client(),
        feeds=settings.feeds,
        weather_url=settings.weather_url,
        city=settings.city,
        latitude=settings.latitude,
        longitude=settings.longitude,
        timezone=settings.timezone,
        editorial_dir=settings.editorial_dir / date.isoformat(),
    )


def load_issue(settings: Settings, date: dt.date) -> Issue:
    path = paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON
    if not path.exists():
        raise ConfigError(
            f"no issue for {date}: {path} does not exist (run `morningpost assemble`)"
        )
    return Issue.load(path)


def render_issue(settings: Settings, date: dt.date) -> Rendered:
    """Render ``issue.json`` for ``date`` into ``email.html`` and ``email.txt``."""
    _refuse_if_started(open_store(settings.store_url), date, "re-rendered")
    rendered = render_email(load_issue(settings, date), postal_address=settings.postal_address)
    folder = paths.issue_dir(settings.data_dir, date)
    html_path, text_path = folder / paths.EMAIL_HTML, folder / paths.EMAIL_TXT
    html_path.write_text(rendered.html, encoding="utf-8")
    text_path.write_text(rendered.text, encoding="utf-8")
    return Rendered(html_path, text_path, len(rendered.html.encode()), len(rendered.text.encode()))


def load_rendered(settings: Settings, issue: Issue) -> RenderedEmail:
    folder = paths.issue_dir(settings.data_dir, issue.date)
    html_path, text_path = folder / paths.EMAIL_HTML, folder / paths.EMAIL_TXT
    if not html_path.exists() or not text_path.exists():
        raise ConfigError(f"issue {issue.date} is not rendered yet (run `morningpost render`)")
    return RenderedEmail(
        html=html_path.read_text("utf-8"), text=text_path.read_text("utf-8"), subject=issue.subject
    )


def make_transport(settings: Settings, date: dt.date) -> Transport:
    if settings.transport == "ses":
        return SesTransport(boto3.client("sesv2"))
    return OutboxTransport(paths.outbox_dir(settings.data_dir, date))


def send(
    settings: Settings,
    date: dt.date,
    *,
    transport: Transport | None = None,
    dry_run: bool = False,
    engine: Engine | None = None,
) -> SendReport:
    """Send the rendered issue for ``date`` to every active subscriber not yet sent."""
    secret = settings.require_secret_key()
    issue = load_issue(settings, date)
    engine = engine or open_store(settings.store_url)
    with engine.begin() as conn:
        editions.ensure(conn, issue.date, issue.number)
    mailing = Mailing(
        date=date,
        rendered=load_rendered(settings, issue),
        sender=settings.sender,
        public_url=settings.public_url,
        secret_key=secret,
    )
    return send_issue(engine, transport or make_transport(settings, date), mailing, dry_run=dry_run)


@dataclass(frozen=True)
class RunResult:
    issue: Issue
    rendered: Rendered | None
    report: SendReport
    seeded: int


def run(settings: Settings, date: dt.date, *, sample: bool = False) -> RunResult:
    """Assemble (unless a draft exists), render (unless sending began), then send."""
    settings.require_secret_key()
    engine = open_store(settings.store_url)
    seeded = _seed(engine) if sample else 0
    issue_path = paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON
    issue = (
        load_issue(settings, date)
        if issue_path.exists()
        else assemble_issue(settings, date, sample=sample)
    )
    # Once sending began, everyone must get the same email: never re-render under a send.
    rendered = None if _started(engine, date) else render_issue(settings, date)
    # Sample content must never reach real readers, whatever transport is configured.
    outbox = OutboxTransport(paths.outbox_dir(settings.data_dir, date)) if sample else None
    report = send(settings, date, engine=engine, transport=outbox)
    return RunResult(issue=issue, rendered=rendered, report=report, seeded=seeded)


def _seed(engine: Engine) -> int:
    with engine.begin() as conn:
        return seed_demo_subscribers(conn, demo_csv())


def _started(engine: Engine, date: dt.date) -> bool:
    with engine.connect() as conn:
        return editions.state(conn, date) in _STARTED


def _refuse_if_started(engine: Engine, date: dt.date, verb: str) -> None:
    if _started(engine, date):
        raise IssueLocked(
            f"the issue of {date} is being sent or was sent: it cannot be {verb} "
            "(readers must all get the same email)"
        )
