"""Where each stage keeps its files under ``DATA_DIR``, and one dated issue as an object.

    DATA_DIR/
      morningpost.db               the store (unless MORNINGPOST_DATABASE_URL names another)
      issues/<date>/               an issue's workspace: issue.json, email.html, email.txt,
                                   web.html
      issues/<date>/writer-cache/  the AI desk's validated answers for that day, by input
                                   (``assemble --rewrite`` asks the model again)
      archive/                     the public web archive (``emails.archive`` names its files)
      outbox/<date>/               .eml files of the outbox transport; test-copies/ inside
      outbox/confirmations/        double opt-in mail of the web app, not tied to an issue

An ``IssueWorkspace`` is what every stage holds for the issue it works on: the paths, the
draft loaded once, the rendered email, and the store's word on whether sending began (after
which the files may no longer change: readers must all get the same email).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from emails.errors import ConfigError, IssueLocked
from emails.issue import Issue
from emails.rendered import RenderedEmail, email_subject
from subscribers.store import editions, locks
from subscribers.store.states import EditionState

log = logging.getLogger(__name__)

ISSUE_JSON, EMAIL_HTML, EMAIL_TXT, WEB_HTML = "issue.json", "email.html", "email.txt", "web.html"
WRITER_CACHE = "writer-cache"
TEST_COPIES = "test-copies"  # under outbox/<date>/, apart from the readers' messages
# Long enough to outlive a stalled store write, short enough that a crashed holder's issue
# is free again within minutes; the holder renews it while it works.
ISSUE_LOCK_TTL = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class DataDir:
    """The folders under ``DATA_DIR``."""

    root: Path

    @property
    def issues(self) -> Path:
        return self.root / "issues"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def outbox(self, date: dt.date) -> Path:
        return self.root / "outbox" / date.isoformat()

    @property
    def confirmations_outbox(self) -> Path:
        return self.root / "outbox" / "confirmations"

    def issue_folders(self) -> Iterator[tuple[dt.date, Path]]:
        """Every dated folder under ``issues/``; folders not named by a date are ignored."""
        if not self.issues.is_dir():
            return
        for folder in self.issues.iterdir():
            try:
                day = dt.date.fromisoformat(folder.name)
            except ValueError:
                continue
            if folder.is_dir() and day.isoformat() == folder.name:
                yield day, folder


def issue_lock(date: dt.date) -> str:
    """The store lock one process holds while it drafts or sends the issue of ``date``."""
    return f"issue:{date.isoformat()}"


class IssueWorkspace:
    """The issue of one date: its files, its draft, and whether its sending began."""

    def __init__(self, data: DataDir, date: dt.date, engine: Engine) -> None:
        self.data, self.date, self.engine = data, date, engine
        self.folder = data.issues / date.isoformat()
        self.issue_json = self.folder / ISSUE_JSON
        self.email_html = self.folder / EMAIL_HTML
        self.email_txt = self.folder / EMAIL_TXT
        self.web_html = self.folder / WEB_HTML
        self.writer_cache = self.folder / WRITER_CACHE

    @property
    def outbox(self) -> Path:
        return self.data.outbox(self.date)

    @property
    def test_copies_outbox(self) -> Path:
        return self.outbox / TEST_COPIES

    # -- the draft -------------------------------------------------------------------------

    def has_draft(self) -> bool:
        return self.issue_json.exists()

    @functools.cached_property
    def issue(self) -> Issue:
        """The draft, read once; ``ConfigError`` when it was never assembled."""
        if not self.has_draft():
            raise ConfigError(
                f"no issue for {self.date}: {self.issue_json} does not exist "
                "(run `morningpost assemble`)"
            )
        return Issue.load(self.issue_json)

    def save(self, issue: Issue) -> None:
        """Replace ``issue.json`` whole: a reader never sees half a draft, a crash never
        leaves one."""
        write_atomically(self.issue_json, issue.to_json())
        self.__dict__["issue"] = issue

    # -- the rendered email ----------------------------------------------------------------

    @functools.cached_property
    def rendered(self) -> RenderedEmail:
        """The rendered email, read once; ``ConfigError`` when it was never rendered."""
        if not self.email_html.exists() or not self.email_txt.exists():
            raise ConfigError(
                f"issue {self.date} is not rendered yet (run `morningpost render`)"
            )
        return RenderedEmail(
            html=self.email_html.read_text("utf-8"),
            text=self.email_txt.read_text("utf-8"),
            subject=email_subject(self.issue),
        )

    def is_rendered(self) -> bool:
        return self.email_html.exists()

    def save_rendered(self, rendered: RenderedEmail, web: str) -> None:
        self.email_html.write_text(rendered.html, encoding="utf-8")
        self.email_txt.write_text(rendered.text, encoding="utf-8")
        self.web_html.write_text(web, encoding="utf-8")
        self.__dict__["rendered"] = rendered

    # -- its record in the store -----------------------------------------------------------

    def state(self) -> EditionState | None:
        with self.engine.connect() as conn:
            return editions.state(conn, self.date)

    def sending_began(self) -> bool:
        state = self.state()
        return state is not None and state.went_out

    def refuse_if_sending_began(self, verb: str) -> None:
        if self.sending_began():
            raise self.locked_error(verb)

    def locked_error(self, verb: str) -> IssueLocked:
        return IssueLocked(
            f"the issue of {self.date} is being sent or was sent: it cannot be {verb} "
            "(readers must all get the same email)",
            date=self.date,
        )

    def withdraw_approval(self, why: str) -> None:
        # An approval is of the content the editor saw: new content needs a new approval.
        with self.engine.begin() as conn:
            if editions.withdraw_approval(conn, self.date):
                log.warning("the approval of %s is withdrawn: %s", self.date, why)

    @contextmanager
    def locked(self, *, wait: dt.timedelta = dt.timedelta(0)) -> Iterator[locks.Lease]:
        """Hold the issue's lock (``LockHeld`` if another process still has it after
        ``wait``)."""
        with locks.held(
            self.engine, issue_lock(self.date), ttl=ISSUE_LOCK_TTL, wait=wait
        ) as lease:
            yield lease


def write_atomically(target: Path, text: str) -> None:
    """Replace ``target`` whole, through a sibling file and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
