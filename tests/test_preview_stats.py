"""The preview's Stats tab: the same figures as `morningpost stats`, drawn as server-rendered
SVG, through the real wiring (``pipeline.commands.preview``) over a store with a few weeks
of sends and SES events; in headless Chromium, with a screenshot in test-artifacts/."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, expect, sync_playwright

from emails.deliverability import IssueResults
from emails.preview.app import create_preview_app
from emails.preview.charts import bar_chart, charts
from pipeline.cli import main
from pipeline.commands.preview import preview_config
from pipeline.commands.stats import sparkline
from pipeline.context import Context
from pipeline.settings import Settings
from subscribers.store.engine import open_store
from tests.conftest import TEST_KEY
from tests.helpers_preview import ARTIFACTS, launch, require_chromium, serving
from tests.sample_sends import build_sample

DATE = dt.date(2026, 11, 23)  # the last issue of the sample
needs_chromium = require_chromium()


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "var", secret_key=TEST_KEY, editorial_dir=tmp_path / "content"
    )
    build_sample(open_store(settings.store_url))
    monkeypatch.setenv("MORNINGPOST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MORNINGPOST_SECRET_KEY", TEST_KEY)
    return settings


@pytest.fixture
def preview(wired: Settings) -> Iterator[str]:
    app = create_preview_app(preview_config(Context(wired), DATE))
    with serving(app) as base:
        yield base


@needs_chromium
def test_the_stats_tab_draws_the_figures_stats_prints(preview: str, wired: Settings) -> None:
    expected = json.loads(CliRunner().invoke(main, ["stats", "--json"]).stdout)["issues"]
    latest = expected[-1]
    with sync_playwright() as playwright:
        browser: Browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if preview not in r.url else None)
        try:
            page.goto(preview)
            page.get_by_role("link", name="Stats").click()
            expect(page).to_have_url(f"{preview}/stats")
            expect(page.locator("#latest h2")).to_have_text(f"Issue #8 of {DATE}")
            for name in ("sent", "delivered", "complained", "unsubscribed"):
                expect(page.locator(f"#fig-{name}")).to_have_text(str(latest[name]))
            expect(page.locator("#fig-opened")).to_have_text(str(latest["opened"]["human"]))
            bounced = latest["bounced"]["hard"] + latest["bounced"]["soft"]
            expect(page.locator("#fig-bounced")).to_have_text(str(bounced))
            charts_ = page.locator("#charts svg.chart")
            expect(charts_).to_have_count(5)
            # One bar per issue and series: sent and delivered over 8 issues.
            expect(charts_.nth(0).locator("rect title")).to_have_count(16)
            first_bar = charts_.nth(0).locator("rect title").first
            assert first_bar.text_content() == f"16 Nov · sent: {expected[0]['sent']}"
            expect(page.locator("#issues tr")).to_have_count(len(expected) + 1)
            warnings = page.locator(".warning")
            assert warnings.count() == sum(len(r["warnings"]) for r in expected) > 0
            box = charts_.nth(1).bounding_box()
            assert box is not None
            assert box["width"] > 300  # drawn, not collapsed
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "preview-stats.png"), full_page=True)
        finally:
            page.close()
            browser.close()
    assert outside == []  # no CDN, no font, no script from anywhere else


def test_the_stats_page_has_no_script_and_the_draft_page_links_to_it(preview: str) -> None:
    with httpx.Client(base_url=preview, timeout=10) as http:
        stats = http.get("/stats")
        draft = http.get("/")
    assert stats.status_code == 200
    assert "<script" not in stats.text
    assert stats.text.count("<svg") == 5
    assert 'href="/stats"' in draft.text


def test_without_a_stats_source_there_is_no_tab(tmp_path: Path) -> None:
    from tests.test_preview import Pipeline, stub_config

    issue_json = tmp_path / "var" / "issue.json"
    issue_json.parent.mkdir()
    issue_json.write_text("first")
    app = create_preview_app(stub_config(tmp_path, Pipeline(issue_json)))
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/stats").status_code == 404
        assert 'href="/stats"' not in http.get("/").text


def test_charts_escape_labels_and_scale_to_the_limit_lines() -> None:
    results = [
        IssueResults(dt.date(2026, 11, d), d, 100, 95, 1, 1, 0, 0, 0, 0) for d in (20, 21)
    ]
    drawn = dict(charts(results))
    bounce = drawn["Bounce rate (hard bounces / sent)"]
    assert "10.0 % SES may pause sending" in bounce  # the top limit line sets the scale
    assert bounce.count("<rect") == 2 + 1  # two bars and the legend's swatch
    svg = bar_chart(["<b>"], [])
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg


def test_sparklines_scale_between_the_lowest_and_highest() -> None:
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([2.0, 2.0]) == "▁▁"
    assert sparkline([None, 1.0, 3.0]) == " ▁█"
    assert sparkline([]) == ""
