"""The stages as jobs: each reads the previous stage's files and writes its own.

This is the composition root: settings in, store, sources and transport built and wired.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from emails.archive import ArchiveFiles, ArchiveUrls, Edition, write_archive
from emails.errors import ConfigError, MorningPostError, TransportError
from emails.issue import Issue
from emails.render import RenderedEmail, email_subject, render_email, render_web
from emails.transports.base import Transport
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import SesTransport
from emails.transports.ses import make_client as make_ses_client
from pipeline import paths
from pipeline.assembly import history
from pipeline.assembly.assemble import assemble, require_items
from pipeline.sending.engine import (
    Mailing,
    Progress,
    SendOptions,
    SendReport,
    message_for,
    send_issue,
)
from pipeline.settings import ENV_PREFIX, Settings
from pipeline.sources import build_sources, sample_sources
from pipeline.sources.base import Source, gather
from pipeline.sources.http import make_client
from pipeline.sources.items import Gathering
from subscribers import links
from subscribers.addresses import normalise
from subscribers.demo import demo_csv, seed_demo_subscribers
from subscribers.store import editions, locks
from subscribers.store.roster import Subscriber, open_store

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
    web_path: Path
    web_bytes: int
    archive: ArchiveFiles


def assemble_issue(
    settings: Settings,
    date: dt.date,
    *,
    sample: bool = False,
    gathered: Gathering | None = None,
) -> Issue:
    """Fetch the sources (unless ``gathered`` is given) and write ``issue.json`` for ``date``.

    Too few items (``MORNINGPOST_MIN_ITEMS``) raises ``TooFewItems``: the previous draft, if
    any, stays as it was, and a new date is not given a number.
    """
    engine = open_store(settings.store_url)
    _refuse_if_started(engine, date, "re-assembled")
    if gathered is None:
        gathered = gather(sources(settings, date, sample=sample))
    featured = history.featured_before(settings.data_dir, date)
    # Assembly is pure and cheap: build once to count, and number the issue only if it will
    # be written, so a refused day never records (or spends) a number.
    draft = assemble(gathered, date=date, number=1, city=settings.city, featured=featured)
    require_items(draft, settings.min_items)
    with engine.begin() as conn:
        number = editions.issue_number(conn, date)
    issue = draft.model_copy(update={"number": number})
    _write_atomically(paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON, issue.to_json())
    _withdraw_approval(engine, date, "it was re-assembled")
    return issue


def _withdraw_approval(engine: Engine, date: dt.date, why: str) -> None:
    # An approval is of the content the editor saw: new content needs a new approval.
    with engine.begin() as conn:
        if editions.withdraw_approval(conn, date):
            log.warning("the approval of %s is withdrawn: %s", date, why)


def _write_atomically(target: Path, text: str) -> None:
    """Replace ``target`` whole: a reader never sees half a draft, a crash never leaves one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)


def sources(
    settings: Settings, date: dt.date, *, sample: bool, editorial_dir: Path | None = None
) -> list[Source]:
    """The day's sources: live ones from the settings, or the bundled recordings."""
    if sample:
        return sample_sources()
    return build_sources(
        client=make_client(settings.source_timeout),
        feeds=settings.feeds,
        weather_url=settings.weather_url,
        city=settings.city,
        latitude=settings.latitude,
        longitude=settings.longitude,
        timezone=settings.timezone,
        editorial_dir=editorial_dir or settings.editorial_dir / date.isoformat(),
    )


def load_issue(settings: Settings, date: dt.date) -> Issue:
    path = paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON
    if not path.exists():
        raise ConfigError(
            f"no issue for {date}: {path} does not exist (run `morningpost assemble`)"
        )
    return Issue.load(path)


def render_issue(settings: Settings, date: dt.date) -> Rendered:
    """Render ``issue.json`` for ``date`` into ``email.html``, ``email.txt`` and ``web.html``,
    then refresh the web archive from every rendered issue on disk."""
    engine = open_store(settings.store_url)
    _refuse_if_started(engine, date, "re-rendered")
    issue = load_issue(settings, date)
    urls = _archive_urls(settings)
    rendered = render_email(issue, postal_address=settings.postal_address)
    web = render_web(
        issue, postal_address=settings.postal_address, archive_url=urls.index, feed_url=urls.feed
    )
    folder = paths.issue_dir(settings.data_dir, date)
    html_path, text_path = folder / paths.EMAIL_HTML, folder / paths.EMAIL_TXT
    web_path = folder / paths.WEB_HTML
    if html_path.exists() and html_path.read_text("utf-8") != rendered.html:
        _withdraw_approval(engine, date, "its email changed when re-rendered")
    html_path.write_text(rendered.html, encoding="utf-8")
    text_path.write_text(rendered.text, encoding="utf-8")
    web_path.write_text(web, encoding="utf-8")
    archive = publish_archive(settings, engine)
    return Rendered(
        html_path,
        text_path,
        len(rendered.html.encode()),
        len(rendered.text.encode()),
        web_path,
        len(web.encode()),
        archive,
    )


def _archive_urls(settings: Settings) -> ArchiveUrls:
    return ArchiveUrls(
        index=links.archive_url(settings.public_url),
        feed=links.feed_url(settings.public_url),
        issue=functools.partial(links.issue_url, settings.public_url),
    )


def publish_archive(
    settings: Settings, engine: Engine, *, including: dt.date | None = None
) -> ArchiveFiles:
    """Rewrite the web archive with the issues that went out (and ``including``, about to).

    Drafts stay private: an issue appears on the web when its sending begins, in time for
    its "view in browser" link.
    """
    with engine.connect() as conn:
        public = editions.dates_out(conn)
    if including is not None:
        public.add(including.isoformat())
    return write_archive(
        paths.archive_dir(settings.data_dir), _editions(settings, public), _archive_urls(settings)
    )


def _editions(settings: Settings, public: set[str]) -> list[Edition]:
    """The public issues with a rendered web edition; an unreadable one is skipped."""
    found = []
    for web_path in sorted(paths.issues_root(settings.data_dir).glob(f"*/{paths.WEB_HTML}")):
        if web_path.parent.name not in public:
            continue
        try:
            issue = Issue.load(web_path.parent / paths.ISSUE_JSON)
        except (OSError, ValueError) as err:
            log.warning("archive: skipping %s: %s", web_path.parent, str(err).splitlines()[0])
            continue
        found.append(Edition(issue, web_path))
    return found


def load_rendered(settings: Settings, issue: Issue) -> RenderedEmail:
    folder = paths.issue_dir(settings.data_dir, issue.date)
    html_path, text_path = folder / paths.EMAIL_HTML, folder / paths.EMAIL_TXT
    if not html_path.exists() or not text_path.exists():
        raise ConfigError(f"issue {issue.date} is not rendered yet (run `morningpost render`)")
    return RenderedEmail(
        html=html_path.read_text("utf-8"),
        text=text_path.read_text("utf-8"),
        subject=email_subject(issue),
    )


def make_transport(settings: Settings, date: dt.date) -> Transport:
    if settings.transport == "ses":
        return SesTransport(
            make_ses_client(concurrency=settings.send_concurrency),
            configuration_set=settings.ses_configuration_set,
        )
    return OutboxTransport(paths.outbox_dir(settings.data_dir, date))


def send(
    settings: Settings,
    date: dt.date,
    *,
    transport: Transport | None = None,
    dry_run: bool = False,
    engine: Engine | None = None,
    resend_unknown: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send the rendered issue for ``date`` to every active subscriber not yet sent.

    Setting ``stop`` ends the send cleanly: calls in flight are recorded, nothing more
    goes out, and the report says ``interrupted``.
    """
    mailing, engine = _mailing(settings, date, engine)
    transport = transport or make_transport(settings, date)
    if not dry_run:
        publish_archive(settings, engine, including=date)
    options = SendOptions(
        concurrency=settings.send_concurrency,
        max_rate=None if dry_run else _send_rate(settings, transport),
        resend_unknown=resend_unknown,
    )
    return send_issue(
        engine, transport, mailing, dry_run=dry_run, options=options, progress=progress, stop=stop
    )


def send_test(
    settings: Settings, date: dt.date, to: str, *, transport: Transport | None = None
) -> str:
    """Send the issue of ``date`` to ``to`` alone (a test copy); the ledger is not touched.

    The copy is personalised for no subscriber (id 0): its unsubscribe link leads nowhere.
    """
    mailing, _ = _mailing(settings, date, None)
    address = normalise(to).email
    message = message_for(mailing, Subscriber(id=0, email=address, name=None, status="test"))
    return (transport or make_transport(settings, date)).send(message)


def _mailing(settings: Settings, date: dt.date, engine: Engine | None) -> tuple[Mailing, Engine]:
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
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
    return mailing, engine


def _send_rate(settings: Settings, transport: Transport) -> float | None:
    """MORNINGPOST_MAX_SEND_RATE, else what the transport allows (SES: GetAccount)."""
    if settings.max_send_rate:
        return settings.max_send_rate
    try:
        return transport.max_send_rate()
    except TransportError as err:
        raise ConfigError(f"{err}; set {ENV_PREFIX}MAX_SEND_RATE to send without it") from err


@dataclass(frozen=True)
class RunResult:
    issue: Issue
    rendered: Rendered | None
    report: SendReport
    seeded: int


ISSUE_LOCK_TTL = dt.timedelta(minutes=5)


class NotApproved(MorningPostError):
    """Approval is required (MORNINGPOST_REQUIRE_APPROVAL) and the issue has none."""


def issue_lock(date: dt.date) -> str:
    """The store lock that one process holds while it drafts or sends the issue of ``date``."""
    return f"issue:{date.isoformat()}"


def run(
    settings: Settings,
    date: dt.date,
    *,
    sample: bool = False,
    stop: threading.Event | None = None,
) -> RunResult:
    """Assemble (unless a draft exists), render (unless sending began), then send.

    Holds the issue's lock in the store throughout (``LockHeld`` if another process has
    it), sends only once approved when approval is required (``NotApproved``); setting
    ``stop`` ends the send cleanly (the report says ``interrupted``).
    """
    settings.require_secret_key()
    engine = open_store(settings.store_url)
    with locks.held(engine, issue_lock(date), ttl=ISSUE_LOCK_TTL):
        seeded = _seed(engine) if sample else 0
        issue, rendered = prepare(settings, engine, date, sample=sample)
        _require_approval(settings, engine, issue)
        # Sample content must never reach real readers, whatever transport is configured.
        outbox = OutboxTransport(paths.outbox_dir(settings.data_dir, date)) if sample else None
        report = send(settings, date, engine=engine, transport=outbox, stop=stop)
    return RunResult(issue=issue, rendered=rendered, report=report, seeded=seeded)


def prepare(
    settings: Settings, engine: Engine, date: dt.date, *, sample: bool = False
) -> tuple[Issue, Rendered | None]:
    """The draft of ``date``: assembled unless it exists, rendered unless sending began."""
    issue_path = paths.issue_dir(settings.data_dir, date) / paths.ISSUE_JSON
    issue = (
        load_issue(settings, date)
        if issue_path.exists()
        else assemble_issue(settings, date, sample=sample)
    )
    # Once sending began, everyone must get the same email: never re-render under a send.
    rendered = None if _started(engine, date) else render_issue(settings, date)
    return issue, rendered


def _require_approval(settings: Settings, engine: Engine, issue: Issue) -> None:
    if not settings.require_approval:
        return
    with engine.connect() as conn:
        state = editions.state(conn, issue.date)
    if state in (None, editions.DRAFT):
        raise NotApproved(
            f"issue #{issue.number} of {issue.date} is drafted but not approved, so nothing "
            f"was sent: run `morningpost approve --date {issue.date}` (approval is required)"
        )


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
