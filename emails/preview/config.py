"""What the preview is handed (``PreviewConfig``) and what it shows (drafts, problems)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emails.deliverability import IssueResults
from emails.issue import Issue
from emails.rendered import RenderedEmail

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Draft:
    """One render of the day's issue: the email (with its placeholders) and the web edition."""

    issue: Issue
    email: RenderedEmail
    web_html: str


@dataclass(frozen=True)
class SampleValues:
    """What the preview fills the placeholders with: real-looking links that change nothing."""

    unsubscribe_url: str
    view_url: str
    greeting: str = "Good morning, Ada"


@dataclass(frozen=True)
class PreviewConfig:
    """Everything the preview needs, as values and callables (``emails`` knows no settings).

    The callables block (they run in a worker thread) and raise ``MorningPostError`` with a
    one-line reason; the ones that act return a one-line report for the page.
    """

    date: dt.date
    render: Callable[[], Draft]  # read issue.json, render it (and write the files)
    reassemble: Callable[[], str]  # an editorial file changed: rebuild issue.json
    refetch: Callable[[], str]  # fetch the sources afresh and rebuild issue.json
    send_test: Callable[[], str]  # a test copy to the editors
    approve: Callable[[], str]  # the approval `morningpost approve` records
    status: Callable[[], str]  # one line: the issue's state in the store
    message: Callable[[Draft], bytes]  # the whole message a reader gets, for SpamAssassin
    sample: SampleValues
    sender: str
    editorial_dir: Path  # the day's folder of Markdown pieces
    issue_json: Path
    template_dirs: tuple[Path, ...]
    editors: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    spamassassin: str | None = None  # its path; None: the check says it is not run
    # The last issues' results, oldest first, for the Stats tab; None: no Stats tab.
    stats: Callable[[], Sequence[IssueResults]] | None = None


@dataclass(frozen=True)
class Problem:
    """Why the draft could not be rendered, for the page; ``template`` and ``line`` if known."""

    message: str
    template: str | None = None
    line: int | None = None
    source: str | None = None  # the template's line, as written
    details: str = ""


@dataclass(frozen=True)
class Notice:
    text: str
    ok: bool
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())
