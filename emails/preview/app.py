"""The editors' preview: a local page showing the day's draft as readers will get it.

``create_preview_app`` takes plain values and callables (``PreviewConfig``) and returns a
Starlette app; ``pipeline/commands/preview.py`` wires it from the settings and runs it under
uvicorn on 127.0.0.1. The page shows the email at phone and desktop widths and in dark mode,
the plaintext and the web edition, a checks panel (``checks``), and three buttons.

Live reload: the app's lifespan watches the day's editorial folder, ``issue.json`` and the
template folders (watchfiles ``awatch``). An editorial change calls ``reassemble`` first (the
wiring re-runs assembly over the sources it fetched last, with the editorial read afresh);
every change then re-renders, and each open page hears of a new version on its one
server-sent-events stream (``/events``) and reloads itself. A render that fails keeps the
last good draft on screen under an error naming the template and line.

Dark mode is the email with its own dark rules switched on (``frames.force_dark``); clients
that recolour on their own (Gmail's and Outlook's forced dark modes) are not simulated.

Only the action POSTs change anything: GET and HEAD read (a HEAD of ``/events`` is answered
at once, never held open as a stream), OPTIONS and other methods get 405.

Cross-site requests (``guard``): every request must name a loopback host (or one of
``allowed_hosts``) in ``Host``, which stops DNS rebinding; each POST must come from this
page (``Origin`` or ``Referer`` equal to the page's own origin) and carry the per-process
form token. Anything else gets 403 and changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from watchfiles import Change, awatch

from emails.deliverability import percent
from emails.errors import MorningPostError
from emails.personalise import personalise
from emails.preview import charts, checks
from emails.preview.config import (
    Draft,
    Notice,
    PreviewConfig,
    Problem,
)
from emails.preview.frames import force_dark, inject_head
from emails.preview.guard import HostGuard, same_origin
from emails.preview.problems import describe_error
from emails.render import long_date
from emails.templating import html_environment

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0  # a comment line on idle streams, so a dead page's stream ends
RECONNECT_MS = 2000  # EventSource's wait before reconnecting: no storm after a restart
FORM_LIMIT = 4096  # an action's form is one token
ACTIONS = ("refetch", "send-test", "approve")
_NEEDS_DRAFT = ("send-test", "approve")  # never on a draft that failed to render

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
        "frame-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
# The framed email may load its images from anywhere, and runs nothing (the iframe is
# sandboxed without scripts as well).
_FRAME_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    ),
}












def create_preview_app(config: PreviewConfig) -> Starlette:
    """The preview app, with a form token of its own that only its page carries."""
    preview = _Preview(config, secrets.token_urlsafe(32))
    routes = [
        Route("/", preview.page, methods=["GET"]),
        Route("/events", preview.events, methods=["GET"]),
        Route("/frame/email", preview.email_frame, methods=["GET"]),
        Route("/frame/web", preview.web_frame, methods=["GET"]),
        Route("/preview.js", preview.script, methods=["GET"]),
        Route("/actions/{name}", preview.action, methods=["POST"]),
        Route("/stats", preview.stats_page, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=preview.lifespan)
    app.add_middleware(HostGuard, allowed=config.allowed_hosts)
    app.state.preview = preview
    return app


def stop_streams(app: Starlette) -> None:
    """End the open pages' event streams: call it when the server is asked to stop.

    Safe from a signal handler or another thread. Without it, a server waits for those
    never-ending responses until its graceful-shutdown timeout, then cancels them.
    """
    preview: _Preview = app.state.preview
    preview.stop_streams()


# --- pure helpers --------------------------------------------------------------------------








def classify(
    changes: Iterable[tuple[Change, str]], config: PreviewConfig
) -> tuple[set[str], list[str]]:
    """What changed, as kinds (``editorial``, ``issue``, ``template``) and file names.

    Only Markdown files count in the editorial folder, and only ``issue.json`` in the
    issue's folder (the render writes its other files there).
    """
    kinds: set[str] = set()
    names: list[str] = []
    for _change, raw in changes:
        kind = _kind(Path(raw), config)
        if kind is not None:
            kinds.add(kind)
            names.append(Path(raw).name)
    return kinds, sorted(set(names))


def _kind(path: Path, config: PreviewConfig) -> str | None:
    if path.suffix == ".md" and path.is_relative_to(config.editorial_dir):
        return "editorial"
    if path == config.issue_json:
        return "issue"
    if any(path.is_relative_to(folder) for folder in config.template_dirs):
        return None if path.name.startswith(".") else "template"
    return None
















# --- the app's state -------------------------------------------------------------------------


class _Preview:
    """The draft on show, its checks, and who to tell when it changes.

    One lock orders renders and actions, so an approval never lands between a change to
    the files and the render that shows it. ``version`` counts what a page shows (the draft,
    an error, a notice); a page whose version is old reloads.
    """

    def __init__(self, config: PreviewConfig, token: str) -> None:
        self.config = config
        self.token = token
        self.version = 0
        self.draft: Draft | None = None
        self.problem: Problem | None = None
        self.notice: Notice | None = None
        self.activity = "Not rendered yet"
        self.checks: list[checks.Check] = []
        self.spam: checks.Check | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._spam_wanted: Draft | None = None
        self._spam_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        async with self._lock:
            await self._refresh("Rendered at start")
        stop = asyncio.Event()
        self._spawn(self._watch(stop))
        try:
            yield
        finally:
            stop.set()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch(self, stop: asyncio.Event) -> None:
        folders = [self.config.editorial_dir, self.config.issue_json.parent]
        folders += self.config.template_dirs
        present = [folder for folder in folders if folder.is_dir()]
        for folder in set(folders) - set(present):
            log.warning("preview: %s does not exist; changes there are not seen", folder)
        if not present:
            return
        try:
            async for changes in awatch(*present, stop_event=stop):
                kinds, names = classify(changes, self.config)
                if kinds:
                    await self._on_change(kinds, names)
        except Exception as err:  # noqa: BLE001 - an editor must learn the page went stale
            log.error("preview: watching stopped: %s", _line(err))
            self._tell(False, f"Live updates stopped ({_line(err)}): restart the preview")

    async def _on_change(self, kinds: set[str], names: list[str]) -> None:
        async with self._lock:
            changed = ", ".join(names)
            shown = self.version
            if "editorial" in kinds:
                ok, report = await _attempt(self.config.reassemble)
                self.notice = Notice(report if ok else f"{changed}: {report}", ok)
            await self._refresh(f"Re-rendered after a change to {changed}")
            if "editorial" in kinds and self.version == shown:
                self._bump()  # the notice changed even if the draft did not: one reload

    # -- rendering ------------------------------------------------------------------------

    async def _refresh(self, activity: str) -> None:
        """Render the draft; show it when it differs from the one on show (or an error)."""
        stamp = dt.datetime.now().astimezone().strftime("%H:%M:%S")
        try:
            draft = await run_in_threadpool(self.config.render)
        except Exception as err:  # noqa: BLE001 - any failure is shown on the page, not raised
            log.warning("preview: render failed: %s", _line(err))
            problem = describe_error(err)
            if problem != self.problem:
                self.problem, self.activity = problem, f"Render failed at {stamp}"
                self._bump()
            return
        if draft == self.draft and self.problem is None:
            return
        html, text = self._personal(draft)
        found = await run_in_threadpool(checks.run_checks, draft.issue, html, text)
        # No await from here on: a page never shows one draft with another's checks.
        self.draft, self.checks, self.problem = draft, found, None
        self.activity, self.spam = f"{activity} at {stamp}", None
        self._spam_wanted = draft
        if self.config.spamassassin and (self._spam_task is None or self._spam_task.done()):
            self._spam_task = self._spawn(self._score_spam())
        self._bump()

    def _personal(self, draft: Draft) -> tuple[str, str]:
        sample = self.config.sample
        return personalise(
            draft.email,
            unsubscribe_url=sample.unsubscribe_url,
            view_url=sample.view_url,
            greeting=sample.greeting,
        )

    async def _score_spam(self) -> None:
        # One run at a time; edits that land meanwhile are scored once, as their last render.
        while self._spam_wanted is not None:
            draft, self._spam_wanted = self._spam_wanted, None
            try:
                message = await run_in_threadpool(self.config.message, draft)
                check = await run_in_threadpool(
                    checks.spam_check, message, spamassassin=self.config.spamassassin
                )
            except Exception as err:  # noqa: BLE001 - a check that fails is a row, not a crash
                check = checks.Check("SpamAssassin", "warn", f"not scored: {_line(err)}")
            if draft is self.draft:
                self.spam = check
                self._wake()

    def stop_streams(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._close_streams)

    def _close_streams(self) -> None:
        self._closing = True
        self._wake()

    def _bump(self) -> None:
        self.version += 1
        self._wake()

    def _wake(self) -> None:
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    def _tell(self, ok: bool, text: str) -> None:
        self.notice = Notice(text, ok)
        self._bump()

    # -- pages --------------------------------------------------------------------------

    async def page(self, _request: Request) -> Response:
        status = await run_in_threadpool(_safely, self.config.status)
        body = html_environment().get_template("preview.html.j2").render(self._view(status))
        return HTMLResponse(body, headers=_PAGE_HEADERS)

    def _view(self, status: str) -> dict[str, Any]:
        draft, config = self.draft, self.config
        text = self._personal(draft)[1] if draft else ""
        spam = self.spam or _spam_placeholder(config.spamassassin)
        return {
            "date": config.date,
            "long_date": long_date(config.date),
            "draft": draft,
            "status": status,
            "problem": self.problem,
            "notice": self.notice,
            "activity": self.activity,
            "checks": [*self.checks, spam] if draft else [],
            "tally": _tally(self.checks),
            "inbox": checks.inbox_row(config.sender, draft.issue) if draft else None,
            "text": text,
            "version": self.version,
            "token": self.token,
            "editors": config.editors,
            "editorial_dir": config.editorial_dir,
            "can_act": draft is not None and self.problem is None,
            "has_stats": config.stats is not None,
        }

    async def stats_page(self, _request: Request) -> Response:
        """The Stats tab: the last issues' results as figures, warnings and SVG charts."""
        if self.config.stats is None:
            return PlainTextResponse("no stats here", status_code=404)
        try:
            results = list(await run_in_threadpool(self.config.stats))
            problem = None
        except Exception as err:  # noqa: BLE001 - a store that cannot answer is still a page
            results, problem = [], _line(err)
        latest = results[-1] if results else None
        body = html_environment().get_template("preview-stats.html.j2").render(
            date=self.config.date,
            results=list(reversed(results)),
            latest=latest,
            rates=latest.rates() if latest else {},
            charts=charts.charts(results),
            problem=problem,
            percent=percent,
        )
        return HTMLResponse(body, headers=_PAGE_HEADERS)

    async def email_frame(self, request: Request) -> Response:
        if self.draft is None:
            return _frame(_NO_DRAFT)
        html = inject_head(self._personal(self.draft)[0], '<base target="_blank">')
        return _frame(force_dark(html) if request.query_params.get("scheme") == "dark" else html)

    async def web_frame(self, _request: Request) -> Response:
        if self.draft is None:
            return _frame(_NO_DRAFT)
        return _frame(inject_head(self.draft.web_html, '<base target="_blank">'))

    async def script(self, _request: Request) -> Response:
        body = html_environment().get_template("preview.js.j2").render()
        return Response(body, media_type="text/javascript", headers=_FRAME_HEADERS)

    async def events(self, request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":  # a HEAD gets no body: never hold it open as a stream
            return Response(media_type="text/event-stream", headers=headers)
        return StreamingResponse(self._stream(), media_type="text/event-stream", headers=headers)

    async def _stream(self) -> AsyncIterator[str]:
        """``version`` whenever what the page shows changed; ``spam`` when a score arrives.

        Starlette ends the stream when the page goes away (it listens for the disconnect);
        ``stop_streams`` ends it when the server stops. The page's EventSource reconnects.
        """
        yield f"retry: {RECONNECT_MS}\n\n"
        sent_version: int | None = None
        sent_spam: checks.Check | None = None
        while not self._closing:
            if self.version != sent_version:
                sent_version = self.version
                yield f"event: version\ndata: {sent_version}\n\n"
            if self.spam is not None and self.spam is not sent_spam:
                sent_spam = self.spam
                yield f"event: spam\ndata: {json.dumps(_check_json(sent_spam))}\n\n"
            try:
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": still here\n\n"
        yield "event: bye\ndata: the preview server stopped\n\n"

    # -- actions ------------------------------------------------------------------------

    async def action(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ACTIONS:
            return PlainTextResponse("no such action", status_code=404)
        if not await self._trusted(request):
            log.warning("preview: refused a cross-site %s", name)
            return PlainTextResponse("refused: not a request from the preview page", 403)
        async with self._lock:
            await self._run(name)
        return RedirectResponse("/", status_code=303)

    async def _trusted(self, request: Request) -> bool:
        declared = request.headers.get("content-length", "")
        if not same_origin(request) or not declared.isdigit() or int(declared) > FORM_LIMIT:
            return False
        form = await request.form()
        token = form.get("token")
        return isinstance(token, str) and secrets.compare_digest(token, self.token)

    async def _run(self, name: str) -> None:
        if name in _NEEDS_DRAFT and (self.draft is None or self.problem is not None):
            self._tell(False, "The draft does not render: fix it first, then try again.")
            return
        hook = {
            "refetch": self.config.refetch,
            "send-test": self.config.send_test,
            "approve": self.config.approve,
        }[name]
        ok, report = await _attempt(hook)
        self.notice = Notice(report, ok)
        shown = self.version
        if name == "refetch":
            await self._refresh("Re-rendered after re-fetching the sources")
        if self.version == shown:
            self._bump()


_NO_DRAFT = (
    "<!doctype html><meta charset='utf-8'><body style='font:16px sans-serif;padding:1rem'>"
    "<p>No draft to show.</p></body>"
)


def _frame(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers=_FRAME_HEADERS)


async def _attempt(hook: Callable[[], str]) -> tuple[bool, str]:
    """Run ``hook`` in a worker thread: ``(True, its report)`` or ``(False, why it failed)``."""
    try:
        return True, await run_in_threadpool(hook)
    except Exception as err:  # noqa: BLE001 - the editor reads why on the page
        log.warning("preview: %s", _line(err))
        return False, _line(err)


def _line(err: BaseException) -> str:
    text = (str(err) or type(err).__name__).splitlines()[0]
    return text if isinstance(err, MorningPostError) else f"{type(err).__name__}: {text}"


def _safely(status: Callable[[], str]) -> str:
    try:
        return status()
    except Exception as err:  # noqa: BLE001 - a status the store cannot give is still a page
        return f"state unknown ({_line(err)})"


def _spam_placeholder(spamassassin: str | None) -> checks.Check:
    if spamassassin is None:
        return checks.Check("SpamAssassin", "info", "not installed: not scored")
    return checks.Check("SpamAssassin", "info", "scoring\u2026")


def _tally(found: list[checks.Check]) -> list[tuple[str, int]]:
    """How many checks ended each way, worst first (SpamAssassin, late, is not counted)."""
    counts = [(status, sum(c.status == status for c in found)) for status in _STATUS_ORDER]
    return [(status, count) for status, count in counts if count]


_STATUS_ORDER = ("fail", "warn", "info", "ok")


def _check_json(check: checks.Check) -> dict[str, object]:
    return {
        "status": check.status,
        "summary": check.summary,
        "details": list(check.details),
    }
