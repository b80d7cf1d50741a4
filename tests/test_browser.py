"""The rendered email, web edition and archive index in headless Chromium (Playwright).

One browser for the module. Screenshots go to ``test-artifacts/`` at the repo root, where
CI collects them. Without Debian's chromium the module is skipped, except in CI, where a
missing browser is a failure: .ci/debian-packages should have installed it.

The accessibility checks run axe-core (``node_modules/axe-core/axe.min.js``, pinned in
package.json and package-lock.json; ``npm ci`` installs it, and .ci/run does). Without it
they are skipped, except in CI, where that is a failure too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FloatRect, Locator, Page, sync_playwright

from emails.archive import ArchiveUrls, render_index
from emails.issue import Issue
from emails.render import render_email, render_web
from tests.helpers_preview import CHROMIUM_ARGS

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("CI"):
    pytest.fail("/usr/bin/chromium is missing: .ci/debian-packages should install it")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN_NO_EDITOR = Path(__file__).parent / "golden" / "no-editor" / "issue.json"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
TAP_TARGET = 24  # px: WCAG 2.2's minimum target size (2.5.8)
ARTIFACTS = ROOT / "test-artifacts"
ADDRESS = "The AI Morning Post, 1 Example Street, Manchester M1 1AA, United Kingdom"
HEIGHT = 800
ARGS = CHROMIUM_ARGS
SECTIONS = [
    "Lead Story",
    "By the Numbers",
    "News in Brief",
    "Deep Dive",
    "Opinion & Analysis",
    "Tools of the Week",
    "Weekend Reading",
]
HEBREW_TITLE = "מודלים קטנים מנצחים את הענקיים"
ARABIC_HEADLINE = "GPT-5 يغيّر قواعد البحث على الإنترنت"
ARABIC_TOOL = "نموذج التعرف على الكلام العربي"

# Every element holding text, with the WCAG contrast ratio of its colour against the first
# opaque background behind it. Large text (24px, or 18.66px bold) needs 3, the rest 4.5.
CONTRAST_JS = """
() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.display === 'none' || style.opacity === '0') continue;
    const [f, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push([el.textContent.trim().slice(0, 40), ratio]);
  }
  return failures;
}
"""


def load(name: str) -> Issue:
    return Issue.load(FIXTURES / name)


def rtl_issue() -> Issue:
    issue = load("issue.json")
    assert issue.lead is not None
    tool = issue.tools[0].model_copy(update={"name": ARABIC_TOOL})
    return issue.model_copy(
        update={
            "lead": issue.lead.model_copy(update={"title": HEBREW_TITLE}),
            "tools": [tool, *issue.tools[1:]],
        }
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files under test, written once: what `morningpost render` would write."""
    folder = tmp_path_factory.mktemp("rendered")
    urls = ArchiveUrls(
        index="https://news.example.com/issues/",
        feed="https://news.example.com/issues/feed.xml",
        issue=lambda day: f"https://news.example.com/issues/{day}/",
    )
    issue = load("issue.json")
    contents = {
        "email.html": render_email(issue, postal_address=ADDRESS).html,
        "web.html": render_web(issue, postal_address=ADDRESS, archive_url=urls.index),
        "rtl.html": render_email(rtl_issue(), postal_address=ADDRESS).html,
        "index.html": render_index([load("issue_minimal.json"), issue], urls),
        "no-editor.html": render_web(
            Issue.load(GOLDEN_NO_EDITOR), postal_address=ADDRESS, archive_url=urls.index
        ),
    }
    for name, content in contents.items():
        (folder / name).write_text(content, encoding="utf-8")
    return {name: folder / name for name in contents}


def open_page(browser: Browser, path: Path, width: int, **options: Any) -> Page:
    page = browser.new_page(viewport={"width": width, "height": HEIGHT}, **options)
    page.goto(path.as_uri())
    return page


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def assert_in_view(locator: Locator, width: int) -> None:
    locator.scroll_into_view_if_needed()
    assert locator.is_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["width"] > 0
    assert box["height"] > 0
    # The box is relative to the viewport: inside it horizontally, and scrolled into it.
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= HEIGHT


@pytest.mark.parametrize("width", [375, 600])
def test_email_fits_the_width_and_shows_every_section(
    browser: Browser, pages: dict[str, Path], artifacts: Path, width: int
) -> None:
    page = open_page(browser, pages["email.html"], width)
    try:
        assert scroll_width(page) <= width
        for title in SECTIONS:
            heading = page.locator("td.mp-heading-title", has_text=title)
            assert heading.count() == 1, title
            # a heading to assistive technology, not only text in capitals
            assert page.get_by_role("heading", name=title, level=2, exact=True).count() == 1
            assert_in_view(heading, width)
        for footer_link in ("Unsubscribe", "View in your browser"):
            assert_in_view(page.get_by_role("link", name=footer_link), width)
        assert_in_view(page.get_by_text(ADDRESS), width)
        preheader = page.get_by_text(load("issue.json").preheader, exact=True)
        assert preheader.count() == 1
        assert not preheader.is_visible()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / f"email-{width}.png"), full_page=True)
    finally:
        page.close()


def figure_boxes(page: Page) -> list[FloatRect]:
    figures = page.locator(".mp-figure-value")
    boxes = [figures.nth(i).bounding_box() for i in range(figures.count())]
    return [box for box in boxes if box is not None]


def test_figures_stack_under_480px_and_sit_in_a_row_at_600(
    browser: Browser, pages: dict[str, Path]
) -> None:
    narrow = open_page(browser, pages["email.html"], 375)
    wide = open_page(browser, pages["email.html"], 600)
    try:
        stacked, row = figure_boxes(narrow), figure_boxes(wide)
        assert len(stacked) == len(row) == 3
        assert [b["y"] for b in stacked] == sorted(b["y"] for b in stacked)
        assert len({round(b["y"]) for b in stacked}) == 3
        assert len({round(b["y"]) for b in row}) == 1
        assert narrow.locator(".mp-name").evaluate("e => getComputedStyle(e).fontSize") == "34px"
        assert wide.locator(".mp-name").evaluate("e => getComputedStyle(e).fontSize") == "44px"
    finally:
        narrow.close()
        wide.close()


@pytest.mark.parametrize("name", ["email.html", "web.html"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_stays_readable_in_light_and_dark_mode(
    browser: Browser, pages: dict[str, Path], artifacts: Path, scheme: str, name: str
) -> None:
    """The web edition skips premailer: its tiles must turn dark with their text too."""
    page = open_page(browser, pages[name], 600, color_scheme=scheme)
    try:
        background = page.locator(".mp-card").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert background == ("rgb(27, 26, 24)" if scheme == "dark" else "rgb(255, 253, 248)")
        tile = page.locator(".mp-tint td > table").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert tile == ("rgb(42, 40, 37)" if scheme == "dark" else "rgb(243, 238, 228)")
        assert page.evaluate(CONTRAST_JS) == []
        if scheme == "dark":
            shot = f"{name.removesuffix('.html')}-600-dark.png"
            page.screenshot(path=str(artifacts / shot), full_page=True)
    finally:
        page.close()


@pytest.fixture(scope="module")
def axe_script() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE.relative_to(ROOT)} is missing: .ci/run should have run `npm ci`")
        pytest.skip("axe-core is not installed: run `npm ci` at the repository root")
    return AXE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["email.html", "web.html", "no-editor.html"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violation(
    browser: Browser, pages: dict[str, Path], axe_script: str, name: str, scheme: str
) -> None:
    page = open_page(browser, pages[name], 600, color_scheme=scheme)
    try:
        page.add_script_tag(content=axe_script)
        result = page.evaluate("async () => await axe.run(document)")
        failing = [
            (v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in FAILING_IMPACTS
        ]
        assert failing == []
        assert result["passes"]  # axe really ran its rules on the page
    finally:
        page.close()


def test_axe_would_catch_the_beige_tiles_of_the_dark_web_edition(
    browser: Browser, pages: dict[str, Path], axe_script: str
) -> None:
    """The check can fail: with the dark tile rule removed, axe reports the 1.7:1 contrast."""
    html = pages["web.html"].read_text(encoding="utf-8")
    broken = pages["web.html"].with_name("web-beige.html")
    broken.write_text(html.replace(".mp-card .mp-tint td > table", ".no-such-class"), "utf-8")
    page = open_page(browser, broken, 600, color_scheme="dark")
    try:
        page.add_script_tag(content=axe_script)
        result = page.evaluate("async () => await axe.run(document, {runOnly: ['color-contrast']})")
        assert [(v["id"], v["impact"]) for v in result["violations"]] == [
            ("color-contrast", "serious")
        ]
    finally:
        page.close()


@pytest.mark.parametrize("name", ["email.html", "web.html"])
def test_the_page_has_a_main_landmark_only_when_it_is_a_page(
    browser: Browser, pages: dict[str, Path], name: str
) -> None:
    """The web edition is a page; the email sits inside a mail client's page, which has one."""
    page = open_page(browser, pages[name], 375)
    try:
        assert page.get_by_role("main").count() == (1 if name == "web.html" else 0)
    finally:
        page.close()


@pytest.mark.parametrize("name", ["email.html", "web.html"])
def test_footer_links_are_big_enough_to_tap(
    browser: Browser, pages: dict[str, Path], name: str
) -> None:
    page = open_page(browser, pages[name], 375)
    try:
        links = page.locator(".mp-footer a")
        assert links.count() >= 1
        for index in range(links.count()):
            box = links.nth(index).bounding_box()
            assert box is not None
            assert box["height"] >= TAP_TARGET, links.nth(index).inner_text()
    finally:
        page.close()


def test_news_headlines_keep_their_direction_language_and_characters(
    browser: Browser, pages: dict[str, Path]
) -> None:
    page = open_page(browser, pages["email.html"], 600)
    try:
        headline = page.locator(".mp-story-headline", has_text=ARABIC_HEADLINE)
        assert headline.count() == 1
        assert headline.get_attribute("lang") == "ar"
        # "GPT-5" opens it: only the explicit dir makes it right to left
        assert headline.evaluate("e => getComputedStyle(e).direction") == "rtl"
        via = page.locator(".mp-story-via").first
        assert via.inner_text() == "via The AI Dispatch and Machine Learning Weekly"
        assert via.evaluate("e => getComputedStyle(e).direction") == "ltr"
    finally:
        page.close()


def test_right_to_left_titles_read_right_to_left(browser: Browser, pages: dict[str, Path]) -> None:
    page = open_page(browser, pages["rtl.html"], 600)
    try:
        direction = "e => getComputedStyle(e).direction"
        title = page.locator("h1.mp-title")
        assert title.evaluate(direction) == "rtl"
        assert page.locator(".mp-item-title", has_text=ARABIC_TOOL).evaluate(direction) == "rtl"
        assert page.locator("h2.mp-title").evaluate(direction) == "ltr"  # English stays LTR
        # Aligned to the right edge of the text column, like any right-to-left paragraph.
        box, column = title.bounding_box(), page.locator("h1.mp-title >> xpath=..").bounding_box()
        assert box is not None
        assert column is not None
        text_right = title.evaluate(
            "e => { const r = document.createRange(); r.selectNodeContents(e);"
            " return r.getBoundingClientRect().right; }"
        )
        assert abs(text_right - (column["x"] + column["width"])) < 2
        assert scroll_width(page) <= 600
    finally:
        page.close()


@pytest.mark.parametrize("name", ["web.html", "index.html"])
def test_web_edition_and_archive_index_fit_a_phone(
    browser: Browser, pages: dict[str, Path], artifacts: Path, name: str
) -> None:
    page = open_page(browser, pages[name], 375)
    try:
        assert scroll_width(page) <= 375
        link = "All issues" if name == "web.html" else "Atom feed"
        assert_in_view(page.get_by_role("link", name=link), 375)
        if name == "web.html":
            for title in SECTIONS:
                assert_in_view(page.locator("td.mp-heading-title", has_text=title), 375)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(
            path=str(artifacts / f"{name.removesuffix('.html')}-375.png"), full_page=True
        )
    finally:
        page.close()
