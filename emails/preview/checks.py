"""The preview's checks panel: pure functions over a rendered issue, one ``Check`` each.

Each check looks at what readers get (the HTML with the placeholders filled), so a
``MORNINGPOST_PUBLIC_URL`` on plain http shows up as the insecure unsubscribe link it
would be. Nothing here writes or sends; SpamAssassin is the one subprocess, run only when
it is installed (``spam_check``), offline (``-L``: local rules only, no network tests).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Literal

from emails.issue import Article, Issue
from emails.render import HTML_BUDGET_BYTES

Status = Literal["ok", "info", "warn", "fail"]

# Inbox rows: phones show roughly the first 35-40 characters of a subject, desktop clients
# about 60-70; the preview text after it fills what is left (Gmail: about 90-140).
SUBJECT_PHONE_CHARS = 38
SUBJECT_DESKTOP_CHARS = 65
PREHEADER_MIN_CHARS = 40
# SpamAssassin's default spam threshold is 5 points; the sample issue scores below 1.
SPAM_WARN_POINTS = 1.0
SPAM_FAIL_POINTS = 5.0
SPAM_TIMEOUT_SECONDS = 60.0
_MAX_DETAILS = 12
_SAFE_SCHEMES = ("https:", "mailto:")
_SPAM_SCORE = re.compile(r"Content analysis details:\s+\((-?[\d.]+) points")
_SPAM_RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+(\S+)\s+(.*)$")
_TAGS = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Check:
    """One row of the panel: what was checked, how it went, and what to look at."""

    name: str
    status: Status
    summary: str
    details: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class InboxRow:
    """The issue as a mail client's message list shows it, before anyone opens it."""

    sender: str
    subject: str
    preheader: str


def run_checks(issue: Issue, html: str, text: str) -> list[Check]:
    """Every check but SpamAssassin (slow, see ``spam_check``), in the panel's order."""
    return [
        html_size(html),
        images_without_alt(html),
        insecure_links(html),
        missing_sections(issue),
        empty_sections(issue),
        inbox_check(InboxRow("", issue.subject, issue.preheader)),
        plaintext_check(text),
    ]


def html_size(html: str, budget: int = HTML_BUDGET_BYTES) -> Check:
    size = len(html.encode("utf-8"))
    share = size / budget
    status: Status = "fail" if size > budget else "warn" if share > 0.9 else "ok"
    summary = f"{size / 1024:.1f} KB of {budget / 1024:.0f} KB ({share:.0%})"
    if status == "fail":
        summary += ": Gmail clips the email after about 102 KB"
    return Check("HTML size", status, summary)


def images_without_alt(html: str) -> Check:
    # alt="" is right for a decorative image (screen readers skip it); no alt at all is not.
    images = _parse(html).images
    missing = [src or "(no src)" for src, alt in images if alt is None]
    if not missing:
        return Check("Images without alt text", "ok", f"none ({len(images)} image(s) in all)")
    return Check("Images without alt text", "fail", f"{len(missing)} image(s)", _details(missing))


def insecure_links(html: str) -> Check:
    """Links and image sources that are not https (mailto: and in-page anchors are fine)."""
    parsed = _parse(html)
    urls = [*parsed.links, *(src for src, _ in parsed.images if src)]
    bad = list(dict.fromkeys(u for u in urls if not _is_safe(u)))
    if not bad:
        return Check("Links not https", "ok", f"none of {len(urls)} link(s) and image(s)")
    return Check("Links not https", "fail", f"{len(bad)} of {len(urls)}", _details(bad))


def missing_sections(issue: Issue) -> Check:
    """Sections assembly left out: allowed (nothing true to say), but an editor should know."""
    present = _sections(issue)
    missing = [name for name, value in present.items() if not value]
    if issue.masthead.weather is None:
        missing.append("Weather (masthead)")
    if not missing:
        return Check("Missing sections", "ok", "every section is there")
    status: Status = "warn" if issue.lead is None else "info"
    return Check("Missing sections", status, ", ".join(missing) + " left out")


def empty_sections(issue: Issue) -> Check:
    """Sections present but with nothing a reader can see in them (a title without a body)."""
    empty = [f"{name}: {why}" for name, why in _emptiness(issue)]
    if not empty:
        return Check("Empty sections", "ok", "every section has content")
    return Check("Empty sections", "fail", f"{len(empty)} empty", _details(empty))


def inbox_row(sender: str, issue: Issue) -> InboxRow:
    """``sender`` is the From header; clients show its display name, else the address."""
    name, address = parseaddr(sender)
    return InboxRow(name or address or sender, issue.subject, issue.preheader)


def inbox_check(row: InboxRow) -> Check:
    notes = []
    if len(row.subject) > SUBJECT_DESKTOP_CHARS:
        notes.append(f"the subject ({len(row.subject)} chars) is cut on desktop as well")
    elif len(row.subject) > SUBJECT_PHONE_CHARS:
        notes.append(f"phones show about the first {SUBJECT_PHONE_CHARS} chars of the subject")
    if not row.preheader.strip():
        notes.append("no preview text: clients show the email's first words instead")
    elif len(row.preheader) < PREHEADER_MIN_CHARS:
        notes.append(f"short preview text ({len(row.preheader)} chars)")
    cut = len(row.subject) > SUBJECT_DESKTOP_CHARS
    status: Status = "warn" if cut or not (row.preheader.strip() and row.subject.strip()) else "ok"
    summary = f"subject {len(row.subject)} chars, preview text {len(row.preheader)} chars"
    return Check("Subject and preview text", status, summary, tuple(notes))


def plaintext_check(text: str) -> Check:
    words = len(text.split())
    status: Status = "ok" if words else "fail"
    return Check("Plaintext version", status, f"{words} words, {len(text.splitlines())} lines")


def spamassassin_path() -> str | None:
    return shutil.which("spamassassin")


def spam_check(message: bytes, *, spamassassin: str | None = None) -> Check:
    """SpamAssassin's score of ``message`` (a whole RFC 5322 message), local rules only.

    ``spamassassin`` None looks it up on PATH; when it is not installed the check says so.
    Takes about two seconds: the preview runs it in the background after each render.
    """
    program = spamassassin or spamassassin_path()
    if program is None:
        return Check("SpamAssassin", "info", "not installed (Debian package spamassassin)")
    try:
        report = subprocess.run(  # noqa: S603 - a fixed program; the message goes to stdin
            [program, "-L", "-t"],
            input=message,
            capture_output=True,
            timeout=SPAM_TIMEOUT_SECONDS,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError) as err:
        return Check("SpamAssassin", "warn", f"could not run: {type(err).__name__}")
    return spam_result(report)


def spam_result(report: str) -> Check:
    """The check for SpamAssassin's ``-t`` report: its score and the rules that scored."""
    found = _SPAM_SCORE.search(report)
    if found is None:
        return Check("SpamAssassin", "warn", "no score in SpamAssassin's report")
    score = round(float(found.group(1)), 1) or 0.0  # never "-0.0"
    status: Status = (
        "fail" if score >= SPAM_FAIL_POINTS else "warn" if score >= SPAM_WARN_POINTS else "ok"
    )
    return Check("SpamAssassin", status, f"{score:.1f} points (spam at 5.0)", _rules(report))


def _rules(report: str) -> tuple[str, ...]:
    rules = []
    for line in report[report.find("Content analysis details") :].splitlines():
        match = _SPAM_RULE.match(line)
        if match and float(match.group(1)) != 0:
            rules.append(f"{match.group(1)} {match.group(2)}: {match.group(3).strip()}")
    return _details(rules)


class _Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href") is not None:
            self.links.append((values["href"] or "").strip())
        elif tag == "img":
            self.images.append(((values.get("src") or "").strip(), values.get("alt")))


def _parse(html: str) -> _Parsed:
    parser = _Parsed()
    parser.feed(html)
    parser.close()
    return parser


def _is_safe(url: str) -> bool:
    return url.startswith("#") or url.lower().startswith(_SAFE_SCHEMES)


def _sections(issue: Issue) -> dict[str, object]:
    return {
        "Lead Story": issue.lead,
        "By the Numbers": issue.numbers,
        issue.news_heading: issue.news,
        "Deep Dive": issue.deep_dive,
        "Opinion & Analysis": issue.opinions,
        "Tools of the Week": issue.tools,
        issue.reading_heading: issue.reading,
    }


def _emptiness(issue: Issue) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    articles: list[tuple[str, Article | None]] = [
        ("Lead Story", issue.lead),
        ("Deep Dive", issue.deep_dive),
        *((f"Opinion {n}", piece) for n, piece in enumerate(issue.opinions, start=1)),
    ]
    for name, article in articles:
        if article is not None:
            found.extend((name, why) for why in _article_gaps(article))
    found.extend(
        ("By the Numbers", f"figure {n} has no value or label")
        for n, f in enumerate(issue.numbers, start=1)
        if not (f.value.strip() and f.label.strip())
    )
    found.extend(
        ("Tools of the Week", f"tool {n} has no name or description")
        for n, t in enumerate(issue.tools, start=1)
        if not (t.name.strip() and t.description.strip())
    )
    found.extend(
        (issue.reading_heading, f"reading {n} has no title")
        for n, r in enumerate(issue.reading, start=1)
        if not r.title.strip()
    )
    return found


def _article_gaps(article: Article) -> list[str]:
    gaps = []
    if not article.title.strip():
        gaps.append("no title")
    if not _TAGS.sub("", article.body_html).strip():
        gaps.append(f"“{_cut(article.title, 40)}” has no body text")
    return gaps


def _details(items: Sequence[str]) -> tuple[str, ...]:
    shown = tuple(items[:_MAX_DETAILS])
    if len(items) > _MAX_DETAILS:
        shown += (f"… and {len(items) - _MAX_DETAILS} more",)
    return shown


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
