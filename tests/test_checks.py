"""The preview's checks panel: each check on made-up HTML and on the real rendered fixture."""

from __future__ import annotations

import html
import os
import string
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emails.issue import Article, Figure, Issue
from emails.preview import checks
from emails.render import HTML_BUDGET_BYTES, render_email

FIXTURES = Path(__file__).parent / "fixtures"
ADDRESS = "The AI Morning Post, 1 Example Street, Manchester M1 1AA, United Kingdom"
SENDER = "The AI Morning Post <briefing@example.com>"

REPORT = """
Content analysis details:   (2.7 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 2.5 MISSING_DATE           Missing Date: header
-0.0 NO_RECEIVED            Informational: message has no Received headers
 0.2 HTML_MESSAGE           BODY: HTML included in message
                            and a continuation line
"""


def fixture() -> Issue:
    return Issue.load(FIXTURES / "issue.json")


def page(body: str) -> str:
    return f"<!doctype html><html><body>{body}</body></html>"


def test_the_rendered_fixture_passes_every_check_but_its_long_subject() -> None:
    issue = fixture()
    rendered = render_email(issue, postal_address=ADDRESS)
    personal = rendered.html.replace("{{unsubscribe_url}}", "https://p.example.com/u/t")
    personal = personal.replace("{{view_url}}", "https://p.example.com/issues/x/")
    found = {c.name: c for c in checks.run_checks(issue, personal, rendered.text)}
    subject = found.pop("Subject and preview text")
    assert [c.status for c in found.values()] == ["ok"] * len(found), found
    assert subject.status == "warn"  # the fixture's subject is longer than desktops show
    assert subject.details == (
        f"the subject ({len(issue.subject)} chars) is cut on desktop as well",
    )
    assert found["HTML size"].summary == (
        f"{len(personal.encode()) / 1024:.1f} KB of {HTML_BUDGET_BYTES // 1024} KB "
        f"({len(personal.encode()) / HTML_BUDGET_BYTES:.0%})"
    )


def test_html_size_warns_near_the_budget_and_fails_over_it() -> None:
    assert checks.html_size("x" * 1000, budget=2000).status == "ok"
    assert checks.html_size("x" * 1900, budget=2000).status == "warn"
    over = checks.html_size("é" * 1001, budget=2000)  # bytes, not characters
    assert over.status == "fail"
    assert "Gmail clips" in over.summary


def test_images_need_an_alt_attribute_but_decorative_ones_may_be_empty() -> None:
    found = checks.images_without_alt(
        page('<img src="https://a/1.png" alt="A chart"><img src="https://a/2.png" alt="">'
             '<img src="https://a/3.png"><IMG SRC="https://a/4.png">')
    )  # fmt: skip
    assert found.status == "fail"
    assert found.details == ("https://a/3.png", "https://a/4.png")
    assert checks.images_without_alt(page("<p>no images</p>")).status == "ok"


def test_links_and_images_not_on_https_are_listed_once() -> None:
    found = checks.insecure_links(
        page('<a href="http://a.example/">x</a><a href="http://a.example/">again</a>'
             '<a href="https://b.example/">ok</a><a href="mailto:x@example.com">m</a>'
             '<a href="#top">top</a><a href="javascript:alert(1)">j</a>'
             '<img alt="" src="http://c.example/i.png">')
    )  # fmt: skip
    assert found.status == "fail"
    assert found.details == ("http://a.example/", "javascript:alert(1)", "http://c.example/i.png")
    assert found.summary == "3 of 7"


SAFE = ("https://", "HTTPS://", "mailto:", "#")
UNSAFE = ("http://", "ftp://", "javascript:", "data:", "//", "", "{{")
# No ":" or "#": the rest of a URL can never turn an unsafe prefix into a safe scheme.
REST = st.text(alphabet=string.ascii_letters + "/.?=&-_ é", max_size=20)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6), REST), max_size=16))
def test_exactly_the_links_not_on_a_safe_scheme_are_flagged(
    links: list[tuple[bool, int, str]],
) -> None:
    urls = [
        ((SAFE if safe else UNSAFE)[pick % len(SAFE if safe else UNSAFE)] + rest).strip()
        for safe, pick, rest in links
    ]
    anchors = "".join(f'<a href="{html.escape(u, quote=True)}">x</a>' for u in urls)
    found = checks.insecure_links(page(anchors))
    flagged = [u for u, (safe, _, _) in zip(urls, links, strict=True) if not safe]
    unsafe = list(dict.fromkeys(flagged))
    assert (found.status == "ok") == (not unsafe)
    if unsafe:
        assert found.summary == f"{len(unsafe)} of {len(urls)}"
        assert found.details[: len(unsafe)] == tuple(unsafe[:12])


def test_missing_sections_are_named_and_a_missing_lead_warns() -> None:
    issue = fixture().model_copy(update={"deep_dive": None, "reading": []})
    found = checks.missing_sections(issue)
    assert (found.status, found.summary) == ("info", "Deep Dive, Weekend Reading left out")
    no_news = issue.model_copy(update={"news": []})
    assert checks.missing_sections(no_news).summary == (
        "News in Brief, Deep Dive, Weekend Reading left out"
    )
    no_lead = issue.model_copy(update={"lead": None})
    no_weather = issue.masthead.model_copy(update={"weather": None})
    assert checks.missing_sections(no_lead).status == "warn"
    without_weather = issue.model_copy(update={"masthead": no_weather})
    assert "Weather" in checks.missing_sections(without_weather).summary
    assert checks.missing_sections(fixture()).status == "ok"


def test_empty_sections_are_those_with_nothing_to_read() -> None:
    issue = fixture()
    assert issue.deep_dive is not None
    empty = issue.model_copy(
        update={
            "deep_dive": issue.deep_dive.model_copy(update={"body_html": "<p> </p>"}),
            "opinions": [Article(title="", body_html="<p>Text</p>")],
            "numbers": [Figure(label="Models", value="")],
        }
    )
    found = checks.empty_sections(empty)
    assert found.status == "fail"
    assert [d.split(":")[0] for d in found.details] == ["Deep Dive", "Opinion 1", "By the Numbers"]
    assert "has no body text" in found.details[0]


def test_the_inbox_row_uses_the_display_name_and_flags_cut_subjects() -> None:
    issue = fixture()
    row = checks.inbox_row(SENDER, issue)
    assert (row.sender, row.subject, row.preheader) == (
        "The AI Morning Post",
        issue.subject,
        issue.preheader,
    )
    assert checks.inbox_row("briefing@example.com", issue).sender == "briefing@example.com"
    long = checks.inbox_check(checks.InboxRow("x", "S" * 80, "P" * 90))
    assert long.status == "warn"
    assert "cut on desktop" in long.details[0]
    blank = checks.inbox_check(checks.InboxRow("x", "A fine subject", " "))
    assert blank.status == "warn"
    assert "no preview text" in blank.details[0]


def test_a_spamassassin_report_becomes_its_score_and_scoring_rules() -> None:
    found = checks.spam_result(REPORT)
    assert (found.status, found.summary) == ("warn", "2.7 points (spam at 5.0)")
    assert found.details == (
        "2.5 MISSING_DATE: Missing Date: header",
        "0.2 HTML_MESSAGE: BODY: HTML included in message",
    )
    assert checks.spam_result(REPORT.replace("(2.7", "(-0.04")).summary.startswith("0.0 points")
    assert checks.spam_result(REPORT.replace("(2.7", "(7.5")).status == "fail"
    assert checks.spam_result("garbage").status == "warn"


def test_without_spamassassin_the_check_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert checks.spam_check(b"").status == "info"
    broken = checks.spam_check(b"", spamassassin="/nonexistent/spamassassin")
    assert (broken.status, broken.summary) == ("warn", "could not run: FileNotFoundError")


needs_spamassassin = pytest.mark.skipif(
    checks.spamassassin_path() is None and not os.environ.get("CI"),
    reason="Debian spamassassin not installed",
)


@needs_spamassassin
def test_spamassassin_scores_a_real_message() -> None:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "reader@example.com"
    message["Subject"] = "Hello"
    message.set_content("A short and ordinary note.\n")
    found = checks.spam_check(message.as_bytes())
    assert found.summary.endswith("points (spam at 5.0)")
    assert any("MISSING_DATE" in rule for rule in found.details)  # it really looked


def test_the_plaintext_must_have_words() -> None:
    assert checks.plaintext_check("").status == "fail"
    assert checks.plaintext_check("two words\n").summary == "2 words, 1 lines"
