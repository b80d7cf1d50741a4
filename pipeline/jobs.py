"""The stages as jobs, wired: each reads the previous stage's files and writes its own.

This is the composition root: a ``Context`` (settings, the store, the transports) comes in,
and each job hands its parts the values they need.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from emails.archive import ArchiveFiles
from emails.errors import ConfigError, EditionError, NotApproved, TransportError
from emails.issue import Issue
from emails.render import render_email, render_web
from emails.transports.base import Transport
from pipeline import transports
from pipeline.assembly import history
from pipeline.assembly.assemble import assemble, featured_model_ids, require_items
from pipeline.assembly.dedup import Seen
from pipeline.context import Context
from pipeline.publish import archive_urls, publish_archive
from pipeline.sending.engine import Progress, SendOptions, SendReport, send_issue
from pipeline.sending.mailing import Mailing, message_for
from pipeline.settings import ENV_PREFIX
from pipeline.sources import (
    CardReader,
    EditorialSource,
    build_sources,
    card_reader,
    sample_card_reader,
    sample_sources,
)
from pipeline.sources.base import Source, gather
from pipeline.sources.cards import with_cards
from pipeline.sources.http import make_client
from pipeline.sources.items import Gathering
from pipeline.workspace import IssueWorkspace
from pipeline.writer.desk import DeskEdition, make_desk
from pipeline.writer.facts import FactsPack
from pipeline.writer.pieces import DeskCall
from pipeline.writer.prompts import Piece
from subscribers.addresses import normalise
from subscribers.demo import demo_csv, seed_demo_subscribers
from subscribers.store import editions
from subscribers.store.roster import Subscriber
from subscribers.store.states import EditionState, SubscriberStatus


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
    ctx: Context,
    ws: IssueWorkspace,
    *,
    sample: bool = False,
    gathered: Gathering | None = None,
    editorial: bool = True,
    rewrite: bool = False,
) -> Issue:
    """Fetch the sources (unless ``gathered`` is given) and write ``ws``'s ``issue.json``.

    Too few items (``MORNINGPOST_MIN_ITEMS``) raises ``TooFewItems``: the previous draft, if
    any, stays as it was, and a new date is not given a number. ``editorial=False`` leaves
    the editors' pieces out (with ``sample``: the bundled day as if no editor wrote).
    ``rewrite``: the AI desk asks its model again instead of answering from its cache.
    """
    ws.refuse_if_sending_began("re-assembled")
    return _assemble(
        ctx, ws, sample=sample, gathered=gathered, editorial=editorial, rewrite=rewrite
    )


def _assemble(
    ctx: Context,
    ws: IssueWorkspace,
    *,
    sample: bool,
    gathered: Gathering | None = None,
    editorial: bool = True,
    rewrite: bool = False,
) -> Issue:
    settings = ctx.settings
    if gathered is None:
        gathered = gather(sources(ctx, ws.date, sample=sample, editorial=editorial))
    featured = history.featured_before(ctx.data, ws.date)
    now = settings.issue_time(ws.date)
    gathered = _with_featured_cards(gathered, cards(ctx, sample=sample), featured, now)
    # Assembly is pure and cheap: build once to count, and number the issue only if it will
    # be written, so a refused day never records (or spends) a number.
    build = functools.partial(
        assemble,
        gathered,
        date=ws.date,
        number=1,
        city=settings.city,
        featured=featured,
        now=now,
        reading_heading=settings.reading_heading,
    )
    draft = build()
    require_items(draft, settings.min_items)
    # The desk is asked only for a day that will be drafted: a refused day costs no tokens.
    desk = _desk(ctx, ws, rewrite=rewrite)
    if desk is not None:
        draft = build(desk=desk, recent_headlines=history.recent_headlines(ctx.data, ws.date))
        draft = _with_earlier_spending(draft, ws)
    with ctx.engine.begin() as conn:
        number = editions.issue_number(conn, ws.date)
    issue = draft.model_copy(update={"number": number})
    ws.save(issue)
    ws.withdraw_approval("it was re-assembled")
    return issue


def _desk(ctx: Context, ws: IssueWorkspace, *, rewrite: bool) -> DeskCall | None:
    """The AI desk of the settings, answering from the issue's cache unless ``rewrite``;
    None with ``MORNINGPOST_WRITER=none`` (nothing is built: no call can be made)."""
    desk = make_desk(ctx.settings, cache_dir=ws.writer_cache)
    if desk is None:
        return None

    def write(pack: FactsPack, *, covered: Collection[Piece]) -> DeskEdition:
        return desk.write(pack, covered=covered, rewrite=rewrite)

    return write


def _with_earlier_spending(issue: Issue, ws: IssueWorkspace) -> Issue:
    """``issue`` with the desk's total: this assembly's spending plus the earlier drafts' of
    the same date (re-assembling answers from the cache, so it adds little or nothing)."""
    record = issue.desk
    if record is None or not ws.has_draft():
        return issue
    try:
        earlier = Issue.load(ws.issue_json).desk
    except (OSError, ValueError):  # a draft hand-edited out of shape: count from here
        return issue
    if earlier is None:
        return issue
    total = earlier.total.plus(record.usage)
    return issue.model_copy(update={"desk": record.model_copy(update={"total": total})})


def _with_featured_cards(
    gathered: Gathering, read: CardReader, featured: Seen, now: dt.datetime
) -> Gathering:
    """``gathered`` with the cards of the models the issue will feature (and only those)."""
    ids = featured_model_ids(gathered, featured=featured, now=now)
    if not ids:
        return gathered
    return Gathering(
        models=with_cards(gathered.models, read(ids)),
        papers=list(gathered.papers),
        news=list(gathered.news),
        editorial=list(gathered.editorial),
        weather=gathered.weather,
    )


def cards(ctx: Context, *, sample: bool) -> CardReader:
    """Where model cards are read: the Hub (``HF_ENDPOINT``), or the bundled recordings."""
    if sample:
        return sample_card_reader()
    return card_reader(client=make_client(ctx.settings.source_timeout))


def sources(
    ctx: Context,
    date: dt.date,
    *,
    sample: bool,
    editorial_dir: Path | None = None,
    editorial: bool = True,
) -> list[Source]:
    """The day's sources: live ones from the settings, or the bundled recordings."""
    if sample:
        return sample_sources(editorial=editorial)
    settings = ctx.settings
    found = build_sources(
        client=make_client(settings.source_timeout),
        feeds=settings.feeds,
        weather_url=settings.weather_url,
        city=settings.city,
        latitude=settings.latitude,
        longitude=settings.longitude,
        timezone=settings.timezone,
        editorial_dir=editorial_dir or settings.editorial_dir / date.isoformat(),
    )
    return found if editorial else [s for s in found if s.name != EditorialSource.name]


def render_issue(ctx: Context, ws: IssueWorkspace) -> Rendered:
    """Render ``ws``'s ``issue.json`` into ``email.html``, ``email.txt`` and ``web.html``,
    then refresh the web archive from every rendered issue on disk."""
    ws.refuse_if_sending_began("re-rendered")
    return _render(ctx, ws)


def _render(ctx: Context, ws: IssueWorkspace) -> Rendered:
    settings, issue = ctx.settings, ws.issue
    urls = archive_urls(settings.public_url)
    rendered = render_email(issue, postal_address=settings.postal_address)
    web = render_web(
        issue, postal_address=settings.postal_address, archive_url=urls.index, feed_url=urls.feed
    )
    if ws.email_html.exists() and ws.email_html.read_text("utf-8") != rendered.html:
        ws.withdraw_approval("its email changed when re-rendered")
    ws.save_rendered(rendered, web)
    archive = publish_archive(ctx.data, ctx.engine, settings.public_url)
    return Rendered(
        ws.email_html,
        ws.email_txt,
        len(rendered.html.encode()),
        len(rendered.text.encode()),
        ws.web_html,
        len(web.encode()),
        archive,
    )


# How long a send waits for the issue's lock: another send starting holds it a moment, a
# run drafting the issue (sources, render) up to a minute or so.
START_WAIT = dt.timedelta(seconds=90)


def send(
    ctx: Context,
    ws: IssueWorkspace,
    *,
    transport: Transport | None = None,
    dry_run: bool = False,
    resend_unknown: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    join: bool = False,
) -> SendReport:
    """Send the rendered issue of ``ws`` to every active subscriber not yet sent.

    Any number of processes may send one issue at once: each delivery goes out once, by
    the ledger's leases. Each takes the issue's lock only to start (read the rendered
    files, move the issue to ``sending``), so none starts while a draft is being written.
    Setting ``stop`` ends the send cleanly: calls in flight are recorded, nothing more
    goes out, and the report says ``interrupted``. ``join`` sends only beside a send
    another process began (``run``: the one that drafts and checks the approval); it
    waits ``JOIN_WAIT`` for one to begin, and refuses (``EditionError``) if none did.
    """
    transport = transport or ctx.transport(ws.outbox)
    if dry_run:
        return _deliver(ctx, _mailing(ctx, ws), transport, None, dry_run=True, progress=progress)
    rate = _send_rate(ctx, transport)
    if join:
        _wait_for_the_send(ws, stop or threading.Event())
    with ws.locked(wait=START_WAIT):
        mailing = _begin(ctx, ws)
    return _deliver(
        ctx,
        mailing,
        transport,
        rate,
        resend_unknown=resend_unknown,
        progress=progress,
        stop=stop,
    )


# How long ``send --join`` waits for a ``run`` started with it to begin sending (the run
# may draft the issue first), and how often it looks.
JOIN_WAIT = dt.timedelta(minutes=5)
JOIN_POLL = 2.0  # seconds


def _wait_for_the_send(ws: IssueWorkspace, stop: threading.Event) -> None:
    """Return once the issue's send has begun; ``EditionError`` if it did not in time.

    A poll of the store: the process that begins the send is another one."""
    deadline = time.monotonic() + JOIN_WAIT.total_seconds()
    while not ws.sending_began():
        if time.monotonic() >= deadline or stop.wait(JOIN_POLL):
            raise EditionError(
                f"no send of the issue of {ws.date} began (`send --join` only joins one "
                "that `run` or `send` began): nothing was sent",
                date=ws.date,
            )


def _begin(ctx: Context, ws: IssueWorkspace) -> Mailing:
    """Under the issue's lock: read the rendered issue, publish it, mark it ``sending``
    (from then on nobody re-renders it)."""
    mailing = _mailing(ctx, ws)
    publish_archive(ctx.data, ctx.engine, ctx.settings.public_url, including=ws.date)
    with ctx.engine.begin() as conn:
        editions.move(conn, ws.date, EditionState.SENDING)
    return mailing


def _deliver(
    ctx: Context,
    mailing: Mailing,
    transport: Transport,
    rate: float | None,
    *,
    dry_run: bool = False,
    resend_unknown: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    settings = ctx.settings
    options = SendOptions(
        concurrency=settings.send_concurrency,
        max_rate=rate,
        resend_unknown=resend_unknown,
        lease=dt.timedelta(seconds=settings.send_lease_seconds),
    )
    return send_issue(
        ctx.engine,
        transport,
        mailing,
        dry_run=dry_run,
        options=options,
        progress=progress,
        stop=stop,
    )


def send_test(
    ctx: Context, ws: IssueWorkspace, to: str, *, transport: Transport | None = None
) -> str:
    """Send the issue of ``ws`` to ``to`` alone (a test copy); the ledger is not touched.

    The copy is personalised for no subscriber (id 0): its unsubscribe link leads nowhere.
    """
    mailing = _mailing(ctx, ws)
    address = normalise(to).email
    # Nobody's copy: the status is only what a reader's copy would be built for.
    reader = Subscriber(id=0, email=address, name=None, status=SubscriberStatus.ACTIVE)
    return (transport or ctx.transport(ws.outbox)).send(message_for(mailing, reader))


def _mailing(ctx: Context, ws: IssueWorkspace) -> Mailing:
    settings = ctx.settings
    secret = settings.require_secret_key()
    issue = ws.issue
    with ctx.engine.begin() as conn:
        editions.ensure(conn, issue.date, issue.number)
    return Mailing(
        date=ws.date,
        rendered=ws.rendered,
        sender=settings.sender,
        public_url=settings.public_url,
        secret_key=secret,
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )


def _send_rate(ctx: Context, transport: Transport) -> float | None:
    """MORNINGPOST_MAX_SEND_RATE, else what the transport allows (SES: GetAccount)."""
    if ctx.settings.max_send_rate:
        return ctx.settings.max_send_rate
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
    via: str  # where the messages went, for a person


def run(
    ctx: Context, ws: IssueWorkspace, *, sample: bool = False, stop: threading.Event | None = None
) -> RunResult:
    """Assemble (unless a draft exists), render (unless sending began), then send.

    Holds the issue's lock in the store while it drafts and until the issue is
    ``sending`` (``LockHeld`` if another process has it), then sends as ``send`` does,
    alongside any other process sending the issue. Sends only once approved when approval
    is required (``NotApproved``); setting ``stop`` ends the send cleanly (the report
    says ``interrupted``).
    """
    ctx.settings.require_secret_key()
    with ws.locked():
        seeded = _seed(ctx) if sample else 0
        issue, rendered = prepare(ctx, ws, sample=sample)
        _require_approval(ctx, ws)
        # Sample content must never reach real readers, whatever transport is configured.
        transport = ctx.transport(ws.outbox, sample=sample)
        rate = _send_rate(ctx, transport)
        mailing = _begin(ctx, ws)
    report = _deliver(ctx, mailing, transport, rate, stop=stop)
    via = transports.destination(ctx.settings, ws.outbox, sample=sample)
    return RunResult(issue=issue, rendered=rendered, report=report, seeded=seeded, via=via)


def prepare(
    ctx: Context, ws: IssueWorkspace, *, sample: bool = False
) -> tuple[Issue, Rendered | None]:
    """The draft of ``ws``: assembled unless it exists, rendered unless sending began."""
    began = ws.sending_began()
    if ws.has_draft():
        issue = ws.issue
    elif began:
        raise ws.locked_error("re-assembled")
    else:
        issue = _assemble(ctx, ws, sample=sample)
    # Once sending began, everyone must get the same email: never re-render under a send.
    return issue, None if began else _render(ctx, ws)


def _require_approval(ctx: Context, ws: IssueWorkspace) -> None:
    if not ctx.settings.require_approval:
        return
    if ws.state() in (None, EditionState.DRAFT):
        issue = ws.issue
        raise NotApproved(
            f"issue #{issue.number} of {issue.date} is drafted but not approved, so nothing "
            f"was sent: run `morningpost approve --date {issue.date}` (approval is required)",
            date=issue.date,
        )


def _seed(ctx: Context) -> int:
    with ctx.engine.begin() as conn:
        return seed_demo_subscribers(conn, demo_csv())
