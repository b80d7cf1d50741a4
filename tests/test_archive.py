"""The web archive (index page, Atom feed, a page per issue) and `morningpost render`."""

from __future__ import annotations

import datetime as dt
import shutil
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from emails.archive import (
    FEED_XML,
    INDEX_HTML,
    PAGE_HTML,
    ArchiveUrls,
    Edition,
    render_feed,
    render_index,
    write_archive,
)
from emails.issue import Issue
from pipeline.cli import main
from pipeline.workspace import ISSUE_JSON, WEB_HTML, DataDir

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC = "https://news.example.com/mp"
URLS = ArchiveUrls(
    index=f"{PUBLIC}/issues/",
    feed=f"{PUBLIC}/issues/feed.xml",
    issue=lambda day: f"{PUBLIC}/issues/{day.isoformat()}/",
)
FULL_DATE, MINIMAL_DATE = dt.date(2026, 2, 25), dt.date(2026, 2, 26)


def _page(data_dir: Path, date: dt.date) -> Path:
    return DataDir(data_dir).archive / date.isoformat() / PAGE_HTML


def load(name: str) -> Issue:
    return Issue.load(FIXTURES / name)


def both() -> list[Issue]:
    """Newest first, as the archive lists them."""
    return [load("issue_minimal.json"), load("issue.json")]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if href:
            self.hrefs.append(href)


def hrefs(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.hrefs


# --- feed ------------------------------------------------------------------------------


def test_feed_parses_as_atom_with_absolute_links() -> None:
    parsed = feedparser.parse(render_feed(both(), URLS))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "The AI Morning Post"
    assert parsed.feed.id == URLS.index
    assert {link.rel: link.href for link in parsed.feed.links} == {
        "self": URLS.feed,
        "alternate": URLS.index,
    }
    assert parsed.feed.updated == "2026-02-26T00:00:00Z"
    assert [entry.link for entry in parsed.entries] == [
        f"{PUBLIC}/issues/2026-02-26/",
        f"{PUBLIC}/issues/2026-02-25/",
    ]
    first, second = parsed.entries
    assert first.title == "A quiet day in AI"
    assert first.summary == "One tool worth a look."
    assert first.id == first.link
    assert second.title.startswith("The Specialization Wave")
    assert second.published == "2026-02-25T00:00:00Z"


def test_empty_feed_is_still_valid() -> None:
    parsed = feedparser.parse(render_feed([], URLS))
    assert not parsed.bozo
    assert parsed.entries == []
    assert parsed.feed.title == "The AI Morning Post"


@settings(max_examples=60, deadline=None)
@given(subject=st.text(min_size=1), preheader=st.text())
def test_feed_survives_any_text(subject: str, preheader: str) -> None:
    """Markup, entities, control characters, astral planes: the feed stays well-formed."""
    issue = load("issue_minimal.json").model_copy(
        update={"subject": subject, "preheader": preheader}
    )
    parsed = feedparser.parse(render_feed([issue], URLS))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == 1
    assert parsed.entries[0].link == f"{PUBLIC}/issues/2026-02-26/"


# --- index page ------------------------------------------------------------------------


def test_index_lists_issues_newest_first_with_absolute_links() -> None:
    page = render_index(both(), URLS)
    links = hrefs(page)
    issue_links = [href for href in links if "/issues/2026" in href]
    assert issue_links == [f"{PUBLIC}/issues/2026-02-26/", f"{PUBLIC}/issues/2026-02-25/"]
    assert URLS.feed in links
    assert 'type="application/atom+xml"' in page
    assert "Thursday, 26 February 2026 · Issue #29" in page
    assert "One tool worth a look." in page
    lowered = page.lower()
    for forbidden in ("<script", "<form", "@import", "javascript:"):
        assert forbidden not in lowered


def test_index_escapes_subjects_and_marks_direction() -> None:
    issue = load("issue_minimal.json").model_copy(
        update={"subject": '<img src=x onerror="alert(1)"> שלום'}
    )
    page = render_index([issue], URLS)
    assert "<img" not in page
    assert "&lt;img src=x onerror=" in page
    assert 'dir="auto">&lt;img' in page


def test_empty_index() -> None:
    assert "No issues yet." in render_index([], URLS)


# --- write_archive ---------------------------------------------------------------------


def test_write_archive_copies_pages_and_writes_index_and_feed(tmp_path: Path) -> None:
    editions = []
    for issue in both():
        web = tmp_path / "issues" / issue.date.isoformat() / "web.html"
        web.parent.mkdir(parents=True)
        web.write_text(f"<p>{issue.subject}</p>", encoding="utf-8")
        editions.append(Edition(issue, web))
    archive = tmp_path / "archive"
    files = write_archive(archive, reversed(editions), URLS)
    assert files.pages == 2
    assert files.index == archive / "index.html"
    assert (archive / "2026-02-26" / "index.html").read_text() == "<p>A quiet day in AI</p>"
    assert feedparser.parse(files.feed.read_bytes()).entries[0].title == "A quiet day in AI"
    assert sorted(p.name for p in archive.rglob(".*")) == []  # no temporary files left
    assert (archive / "feed.xml").stat().st_mode & 0o777 == 0o644

    editions[0].web_html.write_text("<p>fixed</p>", encoding="utf-8")
    write_archive(archive, editions, URLS)
    assert (archive / "2026-02-26" / "index.html").read_text() == "<p>fixed</p>"


# --- morningpost render ----------------------------------------------------------------


def place(data_dir: Path, fixture: str, date: dt.date) -> Path:
    folder = DataDir(data_dir).issues / date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / fixture, folder / ISSUE_JSON)
    return folder


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch, env_settings: Path) -> str:
    monkeypatch.setenv("MORNINGPOST_PUBLIC_URL", PUBLIC)
    return PUBLIC


def test_render_writes_email_text_web_and_the_archive(env_settings: Path, public_url: str) -> None:
    full = place(env_settings, "issue.json", FULL_DATE)
    place(env_settings, "issue_minimal.json", MINIMAL_DATE)  # assembled, never rendered

    result = CliRunner().invoke(main, ["render", "--date", "2026-02-25"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for line, name in zip(lines, ("email.html", "email.txt", "web.html"), strict=False):
        size = (full / name).stat().st_size
        assert line == f"{full / name} {size:,} bytes"
    # A draft stays private: it reaches the archive when its sending begins.
    assert lines[3].endswith("index.html and feed.xml: 0 issues archived")
    assert not _page(env_settings, FULL_DATE).exists()
    sent = CliRunner().invoke(main, ["send", "--date", "2026-02-25"])
    assert sent.exit_code == 0, sent.output + sent.stderr
    web = (full / WEB_HTML).read_text("utf-8")
    assert _page(env_settings, FULL_DATE).read_text("utf-8") == web
    assert f'href="{public_url}/issues/"' in web
    assert "{{" not in web
    assert not _page(env_settings, MINIMAL_DATE).exists()
    feed = feedparser.parse((DataDir(env_settings).archive / FEED_XML).read_bytes())
    assert [entry.link for entry in feed.entries] == [f"{public_url}/issues/2026-02-25/"]


def test_rendering_another_day_adds_it_to_the_archive(env_settings: Path, public_url: str) -> None:
    place(env_settings, "issue.json", FULL_DATE)
    place(env_settings, "issue_minimal.json", MINIMAL_DATE)
    broken = place(env_settings, "issue.json", dt.date(2026, 2, 20))
    (broken / WEB_HTML).write_text("<p>old</p>")
    (broken / ISSUE_JSON).write_text("{not json")  # skipped, with a warning
    runner = CliRunner()
    for day in ("2026-02-25", "2026-02-26"):
        result = runner.invoke(main, ["render", "--date", day])
        assert result.exit_code == 0, result.output
        assert runner.invoke(main, ["send", "--date", day]).exit_code == 0
    index = (DataDir(env_settings).archive / INDEX_HTML).read_text("utf-8")
    assert [h for h in hrefs(index) if "/issues/2026" in h] == [
        f"{public_url}/issues/2026-02-26/",
        f"{public_url}/issues/2026-02-25/",
    ]
    assert _page(env_settings, MINIMAL_DATE).exists()
    assert not _page(env_settings, dt.date(2026, 2, 20)).exists()


def test_render_without_an_issue_is_one_line(env_settings: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--date", "2026-03-01"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no issue for 2026-03-01")
    assert len(result.stderr.strip().splitlines()) == 1
