"""The editors' preview: the whole page in headless Chromium, its guards and its stream over HTTP.

The browser test runs the real wiring (``pipeline.commands.preview``: sample sources, a real
store, real renders written to disk) with two parts swapped for test folders: the watched
template folder is a temporary one, and the render step first compiles the templates in it,
so a broken template is reported exactly as a broken ``emails/templates`` file would be,
without the test ever touching the real templates.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import jinja2
import mjml
import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright

from emails.errors import ConfigError, RenderError
from emails.issue import Issue
from emails.preview.app import ACTIONS, classify, create_preview_app, stop_streams
from emails.preview.checks import spamassassin_path
from emails.preview.config import Draft, PreviewConfig, SampleValues
from emails.preview.frames import force_dark, inject_head
from emails.preview.problems import describe_error
from emails.render import render_email
from emails.rendered import RenderedEmail
from pipeline.commands.preview import preview_config
from pipeline.context import Context
from pipeline.settings import Settings
from subscribers.store import editions
from subscribers.store.engine import open_store
from subscribers.store.states import EditionState
from tests.conftest import TEST_KEY
from tests.helpers_preview import ARTIFACTS, launch, require_chromium, serving

DATE = dt.date(2026, 11, 27)
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_EDITORIAL = Path(__file__).resolve().parent.parent / "pipeline/sample_data/editorial"
ADDRESS = "The AI Morning Post, 1 Example Street, Manchester M1 1AA, United Kingdom"
SENDER = "The AI Morning Post <briefing@example.com>"
TOKEN = "<the token the page carries>"  # replaced by the real one in each test
_TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')
FIRST_TITLE = "Small Models Win the Week"
SECOND_TITLE = "Editors Rewrite the Lead Live"
LEAD = """---
section: lead
title: {title}
author: The Editors
score: 7
summary: What changed in open AI this week, in one paragraph for the preview test.
---
The body of the lead, written for the preview test. It says what the data says.
"""
WAIT_MS = 20_000
needs_chromium = require_chromium()


# --- the page in Chromium, through the real wiring -----------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def wired(tmp_path: Path) -> Settings:
    editorial = tmp_path / "content" / DATE.isoformat()
    editorial.mkdir(parents=True)
    (editorial / "01-lead.md").write_text(LEAD.format(title=FIRST_TITLE), encoding="utf-8")
    for name in ("02-deep-dive.md", "03-opinion-editor.md"):
        shutil.copy(SAMPLE_EDITORIAL / name, editorial / name)
    return Settings(
        data_dir=tmp_path / "var",
        secret_key=TEST_KEY,
        editorial_dir=tmp_path / "content",
        editors=["editor@example.com"],
        public_url="https://post.example.com",
    )


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "probe.mjml.j2").write_text("<p>{{ 'fine' }}</p>\n", encoding="utf-8")
    return folder


def compiling(folder: Path, render: Callable[[], Draft]) -> Callable[[], Draft]:
    """``render``, after compiling every template in ``folder`` as emails.render does."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, undefined=jinja2.StrictUndefined
    )

    def render_checked() -> Draft:
        for path in sorted(folder.glob("*.j2")):
            try:
                env.get_template(path.name).render()
            except jinja2.TemplateError as err:
                raise RenderError(f"{path.name}: {err}") from err
        return render()

    return render_checked


def email_frames(page: Page) -> dict[int, FrameLocator]:
    return {375: page.frame_locator("#frame-phone"), 680: page.frame_locator("#frame-desktop")}


@needs_chromium
def test_an_editor_previews_edits_breaks_fixes_and_approves(
    browser: Browser, wired: Settings, templates: Path
) -> None:
    config = preview_config(Context(wired), DATE, sample=True)
    config = replace(config, render=compiling(templates, config.render), template_dirs=(templates,))
    with serving(create_preview_app(config)) as base:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            page.goto(base)
            # No draft yet: the page says so, and only re-fetching is offered.
            expect(page.locator("#problem")).to_contain_text("no issue for 2026-11-27")
            expect(page.get_by_role("button", name="Approve")).to_be_disabled()
            page.get_by_role("button", name="Re-fetch sources & re-assemble").click()
            expect(page.locator("#notice")).to_contain_text("re-assembled", timeout=WAIT_MS)
            expect(page.locator("#state")).to_have_text("Draft · not approved")
            see_the_issue_at_both_widths(page, FIRST_TITLE)
            see_dark_mode(page)

            # An edit to the editorial file arrives without anyone reloading.
            lead = wired.editorial_dir / DATE.isoformat() / "01-lead.md"
            lead.write_text(LEAD.format(title=SECOND_TITLE), encoding="utf-8")
            for frame in email_frames(page).values():
                expect(frame.locator("h1.mp-title")).to_have_text(SECOND_TITLE, timeout=WAIT_MS)
            expect(page.locator("#plaintext")).to_contain_text(SECOND_TITLE)
            expect(page.locator("#inbox-desktop")).to_contain_text(SECOND_TITLE)
            if spamassassin_path():
                expect(page.locator("#check-spam")).to_contain_text("points", timeout=WAIT_MS)
            screenshot_whole_page(page, ARTIFACTS / "preview.png")

            # A broken template is reported with its name and line, and blocks approval.
            (templates / "probe.mjml.j2").write_text("<p>\n  fine\n{{ issue.title }\n")
            expect(page.locator("#problem")).to_contain_text("probe.mjml.j2, line 3")
            expect(page.locator("#problem")).to_contain_text("{{ issue.title }")
            expect(page.get_by_role("button", name="Approve")).to_be_disabled()
            expect(page.frame_locator("#frame-phone").locator("h1.mp-title")).to_have_text(
                SECOND_TITLE
            )  # the last good draft stays on show

            (templates / "probe.mjml.j2").write_text("<p>{{ 'fine again' }}</p>\n")
            expect(page.locator("#problem")).to_have_count(0, timeout=WAIT_MS)
            page.get_by_role("button", name="Approve").click()
            expect(page.locator("#notice")).to_contain_text("approved by")
            expect(page.locator("#state")).to_contain_text("Approved by")
        finally:
            page.close()
    with open_store(wired.store_url).connect() as conn:
        assert editions.state(conn, DATE) == EditionState.APPROVED
    html = (wired.data_dir / "issues" / DATE.isoformat() / "email.html").read_text()
    assert SECOND_TITLE in html  # what was approved is on disk, ready to send


def screenshot_whole_page(page: Page, path: Path) -> None:
    """The page at its full height: Chromium leaves iframes that were below the viewport
    blank in a ``full_page`` screenshot, so the viewport is made as tall as the page."""
    viewport = page.viewport_size
    assert viewport is not None
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": height})
    try:
        expect(
            page.frame_locator("#frame-web").get_by_role("link", name="All issues")
        ).to_be_visible()
        path.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(viewport)


def see_the_issue_at_both_widths(page: Page, title: str) -> None:
    for width, frame in email_frames(page).items():
        expect(frame.locator("h1.mp-title")).to_have_text(title)
        for section in ("Lead Story", "Deep Dive", "Tools of the Week"):
            expect(frame.locator("td.mp-heading-title", has_text=section)).to_have_count(1)
        root = frame.locator("html")
        assert root.evaluate("e => e.clientWidth") == width
        assert root.evaluate("e => e.scrollWidth") <= width  # nothing sticks out sideways
    # The phone gets the email's narrow layout (its own @media rule), the desktop the wide one.
    size = "e => getComputedStyle(e).fontSize"
    assert email_frames(page)[375].locator(".mp-name").evaluate(size) == "34px"
    assert email_frames(page)[680].locator(".mp-name").evaluate(size) == "44px"
    expect(page.frame_locator("#frame-web").get_by_role("link", name="All issues")).to_be_visible()


def see_dark_mode(page: Page) -> None:
    card = page.frame_locator("#frame-dark").locator(".mp-card").first
    expect(card).to_have_css("background-color", "rgb(27, 26, 24)")
    light = page.frame_locator("#frame-phone").locator(".mp-card").first
    expect(light).to_have_css("background-color", "rgb(255, 253, 248)")


# --- guards and the event stream, over HTTP with stand-ins for the pipeline ----------------


@functools.cache
def fixture_email() -> tuple[Issue, RenderedEmail]:
    issue = Issue.load(FIXTURES / "issue.json")
    return issue, render_email(issue, postal_address=ADDRESS)


class Pipeline:
    """Stand-ins for the wiring's callables; records what was called, in order."""

    def __init__(self, issue_json: Path) -> None:
        self.issue_json = issue_json
        self.calls: list[str] = []

    def render(self) -> Draft:
        self.calls.append("render")
        if self.issue_json.read_text() == "broken":
            raise RenderError("issue.mjml.j2: something broke")
        issue, email = fixture_email()
        # The web edition stands in for "what the draft says": issue.json's text.
        return Draft(issue, email, self.issue_json.read_text())

    def act(self, name: str) -> Callable[[], str]:
        def run() -> str:
            self.calls.append(name)
            return f"{name} done"

        return run

    def reassemble(self) -> str:
        self.calls.append("reassemble")
        self.issue_json.write_text("re-assembled")  # as assembly rewrites issue.json
        return "re-assembled"


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    issue_json = tmp_path / "var" / "issue.json"
    issue_json.parent.mkdir()
    issue_json.write_text("first")
    return Pipeline(issue_json)


def stub_config(tmp_path: Path, pipeline: Pipeline) -> PreviewConfig:
    for name in ("content", "templates"):
        (tmp_path / name).mkdir(exist_ok=True)
    return PreviewConfig(
        date=DATE,
        render=pipeline.render,
        reassemble=pipeline.reassemble,
        refetch=pipeline.act("refetch"),
        send_test=pipeline.act("send-test"),
        approve=pipeline.act("approve"),
        status=lambda: "Draft · not approved",
        message=lambda _draft: b"",
        sample=SampleValues(
            unsubscribe_url="https://post.example.com/unsubscribe/sample",
            view_url="https://post.example.com/issues/2026-11-27/",
        ),
        sender=SENDER,
        editorial_dir=tmp_path / "content",
        issue_json=pipeline.issue_json,
        template_dirs=(tmp_path / "templates",),
        editors=("editor@example.com",),
    )


@pytest.fixture
def stub_server(tmp_path: Path, pipeline: Pipeline) -> Iterator[httpx.Client]:
    app = create_preview_app(stub_config(tmp_path, pipeline))
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def page_token(client: httpx.Client) -> str:
    """The form token, read off the page as a browser has it."""
    found = _TOKEN_FIELD.search(client.get("/").text)
    assert found is not None
    return found.group(1)


def same_origin(client: httpx.Client) -> dict[str, str]:
    return {"Origin": str(client.base_url).rstrip("/")}


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        pytest.param({}, "same", id="no-token"),
        pytest.param({"token": "guess"}, "same", id="wrong-token"),
        pytest.param({"token": TOKEN}, {"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"token": TOKEN}, {"Origin": "null"}, id="sandboxed-origin"),
        pytest.param({"token": TOKEN}, {}, id="no-origin-or-referer"),
        pytest.param(
            {"token": TOKEN},
            {"Referer": "https://evil.example/page", "Sec-Fetch-Site": "cross-site"},
            id="foreign-referer",
        ),
        pytest.param({"token": TOKEN}, {"Host": "evil.example"}, id="rebound-host"),
    ],
)
def test_actions_from_anywhere_but_the_page_are_refused(
    stub_server: httpx.Client, pipeline: Pipeline, form: dict[str, str], headers: object
) -> None:
    sent = same_origin(stub_server) if headers == "same" else headers
    assert isinstance(sent, dict)
    token = page_token(stub_server)
    form = {name: token if value == TOKEN else value for name, value in form.items()}
    response = stub_server.post("/actions/approve", data=form, headers=sent)
    assert response.status_code == 403
    assert "approve" not in pipeline.calls


def test_an_action_from_the_page_runs_once_and_returns_to_it(
    stub_server: httpx.Client, pipeline: Pipeline
) -> None:
    page = stub_server.get("/")
    token = page_token(stub_server)
    assert len(token) >= 32  # drawn per process: no other site can know it
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    response = stub_server.post(
        "/actions/approve", data={"token": token}, headers=same_origin(stub_server)
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert pipeline.calls.count("approve") == 1
    assert "approve done" in stub_server.get("/").text


def test_a_draft_that_does_not_render_cannot_be_approved_or_sent(
    stub_server: httpx.Client, pipeline: Pipeline
) -> None:
    with stub_server.stream("GET", "/events") as response:
        stream = events(response)
        assert next(stream) == ("version", "1")
        pipeline.issue_json.write_text("broken")
        assert next(stream) == ("version", "2")
    page = stub_server.get("/").text
    assert "something broke" in page
    assert "the last draft that rendered" in page  # still on show below the error
    token = page_token(stub_server)
    for action in ("approve", "send-test"):
        response = stub_server.post(
            f"/actions/{action}", data={"token": token}, headers=same_origin(stub_server)
        )
        assert response.status_code == 303
        assert action not in pipeline.calls
    assert "fix it first" in stub_server.get("/").text


def test_a_page_from_another_host_name_is_not_served(stub_server: httpx.Client) -> None:
    # DNS rebinding: evil.example resolving to 127.0.0.1 must not read the draft or token.
    assert stub_server.get("/", headers={"Host": "evil.example:8081"}).status_code == 403
    assert stub_server.get("/", headers={"Host": "localhost:8081"}).status_code == 200


def test_frames_hold_the_email_with_sample_values_and_no_placeholders(
    stub_server: httpx.Client,
) -> None:
    light = stub_server.get("/frame/email").text
    assert "https://post.example.com/unsubscribe/sample" in light
    assert "{{" not in light.replace("{{ ", "")  # no {{unsubscribe_url}} left
    assert '<base target="_blank">' in light
    dark = stub_server.get("/frame/email", params={"scheme": "dark"}).text
    assert "prefers-color-scheme: dark" in light
    assert "prefers-color-scheme: dark" not in dark
    assert '<meta name="color-scheme" content="dark">' in dark


def events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, line.removeprefix("data: ")


def test_changes_reach_the_page_on_its_one_event_stream(
    stub_server: httpx.Client, pipeline: Pipeline, tmp_path: Path
) -> None:
    with stub_server.stream("GET", "/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        assert next(stream) == ("version", "1")  # the render at start

        pipeline.issue_json.write_text("second")
        assert next(stream) == ("version", "2")
        assert set(pipeline.calls) == {"render"}

        (tmp_path / "content" / "01-lead.md").write_text("---\nsection: lead\n---\n")
        assert next(stream) == ("version", "3")
        # An editorial change re-assembles first, then renders what that wrote.
        assert pipeline.calls.count("reassemble") == 1
        assert pipeline.calls[pipeline.calls.index("reassemble") + 1] == "render"


def test_stopping_the_server_ends_open_streams_at_once(tmp_path: Path, pipeline: Pipeline) -> None:
    app = create_preview_app(stub_config(tmp_path, pipeline))
    with (
        serving(app) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", "/events") as response,
    ):
        stream = events(response)
        assert next(stream) == ("version", "1")
        stop_streams(app)  # what `morningpost preview` does on Ctrl-C
        assert next(stream) == ("bye", "the preview server stopped")
        assert next(stream, None) is None  # the response ended: nothing holds the server


# --- pure parts --------------------------------------------------------------------------


def raised(action: Callable[[], object]) -> BaseException:
    with pytest.raises(RenderError) as caught:
        action()
    return caught.value


def render_template(source: str) -> Callable[[], object]:
    env = jinja2.Environment(
        loader=jinja2.DictLoader({"issue.mjml.j2": source}), undefined=jinja2.StrictUndefined
    )

    def run() -> object:
        try:
            return env.get_template("issue.mjml.j2").render(issue={})
        except jinja2.TemplateError as err:
            raise RenderError(f"issue.mjml.j2: {err}") from err

    return run


def test_a_syntax_error_names_its_template_line_and_source() -> None:
    problem = describe_error(raised(render_template("<mjml>\n<mj-body>\n{% if x %}\n")))
    assert problem.template == "issue.mjml.j2"
    assert problem.line == 3
    assert problem.source == "{% if x %}"
    assert problem.message.startswith("issue.mjml.j2: ")


def test_an_undefined_name_is_found_in_the_rewritten_traceback(tmp_path: Path) -> None:
    (tmp_path / "issue.mjml.j2").write_text("one\ntwo\n{{ issue.missing.title }}\n")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(tmp_path), undefined=jinja2.StrictUndefined
    )

    def run() -> object:
        try:
            return env.get_template("issue.mjml.j2").render(issue={})
        except jinja2.TemplateError as err:
            raise RenderError(f"issue.mjml.j2: {err}") from err

    problem = describe_error(raised(run))
    assert (problem.template, problem.line) == ("issue.mjml.j2", 3)
    assert problem.source == "{{ issue.missing.title }}"
    assert "missing" in problem.message


def test_an_mjml_error_is_shown_without_a_made_up_line() -> None:
    def run() -> object:
        try:
            return mjml.mjml2html("<mjml><mj-body><mj-text>unclosed</mj-body></mjml>")
        except ValueError as err:
            raise RenderError(f"issue.mjml.j2: MJML failed: {err}") from err

    problem = describe_error(raised(run))
    assert problem.message.startswith("issue.mjml.j2: MJML failed:")
    assert problem.line is None


def test_other_errors_keep_their_type_and_detail_lines() -> None:
    problem = describe_error(ValueError("1 validation error for Issue\nlead.title\n  required"))
    assert problem.message == "ValueError: 1 validation error for Issue"
    assert "lead.title" in problem.details
    assert describe_error(ConfigError("no issue for 2026-11-27")).message == (
        "no issue for 2026-11-27"
    )


def test_force_dark_switches_on_only_the_dark_rules() -> None:
    html = (
        "<html><head><style>@media (prefers-color-scheme: dark) { a { color: red } }"
        "@media (prefers-color-scheme:light){ a { color: blue } }"
        "@media only screen and (max-width: 480px) { a { font-size: 1px } }</style></head></html>"
    )
    dark = force_dark(html)
    assert "@media all { a { color: red } }" in dark
    assert "@media not all{ a { color: blue } }" in dark
    assert "@media only screen and (max-width: 480px)" in dark
    assert dark.index('<meta name="color-scheme" content="dark">') < dark.index("<style>")


def test_inject_head_without_a_head_puts_the_markup_first() -> None:
    assert inject_head("<p>x</p>", "<base>") == "<base><p>x</p>"
    assert inject_head('<HEAD lang="en"><title>', "<base>") == '<HEAD lang="en"><base><title>'


def test_classify_sees_markdown_issue_json_and_templates_only(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    config = stub_config(tmp_path, pipeline)
    issue_dir = pipeline.issue_json.parent
    changes = {
        (1, str(tmp_path / "content" / "01-lead.md")),
        (2, str(tmp_path / "content" / ".01-lead.md.swp")),
        (2, str(tmp_path / "content" / "notes.txt")),
        (2, str(issue_dir / "email.html")),
        (2, str(issue_dir / "issue.json.partial")),
    }
    kinds, names = classify(changes, config)  # type: ignore[arg-type]
    assert (kinds, names) == ({"editorial"}, ["01-lead.md"])
    more = {(2, str(pipeline.issue_json)), (2, str(tmp_path / "templates" / "issue.mjml.j2"))}
    assert classify(more, config)[0] == {"issue", "template"}  # type: ignore[arg-type]


def test_the_cli_offers_preview_with_help() -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["preview", "--help"])
    assert result.exit_code == 0
    assert re.search(r"--port", result.output)
    assert "127.0.0.1" in result.output


def test_head_and_options_run_nothing_on_any_route(
    tmp_path: Path, stub_server: httpx.Client, pipeline: Pipeline
) -> None:
    """Link checkers and preflights send HEAD and OPTIONS: no action runs, nothing fails."""
    app = create_preview_app(stub_config(tmp_path, pipeline))  # only to list its routes
    paths = [
        route.path.replace("{name}", name)
        for route in app.routes
        for name in (ACTIONS if "{name}" in route.path else ("",))
    ]
    assert "/actions/approve" in paths
    assert "/events" in paths
    token = page_token(stub_server)
    headers = {**same_origin(stub_server), "X-Form-Token": token}
    calls = list(pipeline.calls)
    for path in paths:
        for method in ("HEAD", "OPTIONS"):
            response = stub_server.request(method, path, headers=headers, timeout=5)
            assert response.status_code < 500, (method, path)
            if path.startswith("/actions/"):
                assert response.status_code == 405, (method, path)
    assert [c for c in pipeline.calls[len(calls) :] if c in ACTIONS] == []
