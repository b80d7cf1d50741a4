"""Rendering of an issue into email HTML and text, and per-subscriber personalisation."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from emails import render as render_module
from emails.errors import RenderError
from emails.issue import Issue, Weather
from emails.personalise import greeting_for, personalise
from emails.plaintext import References, html_to_text
from emails.render import (
    long_date,
    render_email,
    render_web,
    text_direction,
    weather_line,
)
from emails.rendered import PLACEHOLDERS, RenderedEmail

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
ADDRESS = "The AI Morning Post, 1 Example Street, Manchester M1 1AA, United Kingdom"
HTML_SECTIONS = [
    "Lead Story",
    "By the Numbers",
    "Deep Dive",
    "Opinion &amp; Analysis",
    "Tools of the Week",
    "Weekend Reading",
    "Unsubscribe",
]
TEXT_SECTIONS = [
    "LEAD STORY",
    "BY THE NUMBERS",
    "DEEP DIVE",
    "OPINION & ANALYSIS",
    "TOOLS OF THE WEEK",
    "WEEKEND READING",
    "Unsubscribe:",
]
PLACEHOLDER_RE = re.compile(r"\{\{(\w+)\}\}")


def load(name: str) -> Issue:
    return Issue.load(FIXTURES / name)


def render(issue: Issue) -> RenderedEmail:
    return render_email(issue, postal_address=ADDRESS)


def with_lead_title(title: str) -> Issue:
    issue = load("issue.json")
    assert issue.lead is not None
    return issue.model_copy(update={"lead": issue.lead.model_copy(update={"title": title})})


@pytest.fixture(scope="module")
def full() -> RenderedEmail:
    return render(load("issue.json"))


@pytest.fixture(scope="module")
def minimal() -> RenderedEmail:
    return render(load("issue_minimal.json"))


ARCHIVE_URL = "https://news.example.com/issues/"
FEED_URL = "https://news.example.com/issues/feed.xml"


@pytest.fixture(scope="module")
def web() -> str:
    return render_web(
        load("issue.json"), postal_address=ADDRESS, archive_url=ARCHIVE_URL, feed_url=FEED_URL
    )


def positions(haystack: str, needles: list[str]) -> list[int]:
    return [haystack.index(needle) for needle in needles]


# --- structure -------------------------------------------------------------------------


def test_sections_appear_in_the_order_of_the_sample(full: RenderedEmail) -> None:
    html_at = positions(full.html, HTML_SECTIONS)
    text_at = positions(full.text, TEXT_SECTIONS)
    assert html_at == sorted(html_at)
    assert text_at == sorted(text_at)


def test_masthead_carries_date_issue_city_weather_and_score(full: RenderedEmail) -> None:
    for part in (full.html, full.text):
        assert "Wednesday, 25 February 2026" in part
        assert "Issue #28" in part
        assert "Manchester" in part
        assert "6°C Overcast" in part
        assert "7/10" in part
        assert "Your Daily AI Intelligence Briefing" in part
        assert "Artificial Intelligence • Machine Learning • Future Tech" in part
    assert full.subject.startswith("The Specialization Wave")


def test_empty_sections_are_left_out(minimal: RenderedEmail) -> None:
    for absent in [*HTML_SECTIONS[:4], "Weekend Reading", "°C"]:
        assert absent not in minimal.html
    for absent in [*TEXT_SECTIONS[:4], "WEEKEND READING", "°C"]:
        assert absent not in minimal.text
    assert "Tools of the Week" in minimal.html
    assert "TOOLS OF THE WEEK" in minimal.text
    assert "OpenMath-Nemotron 1.5B" in minimal.html


def test_figures_are_one_column_each_and_stack_on_small_screens(full: RenderedEmail) -> None:
    assert full.html.count('class="mj-outlook-group-fix mj-column-per-33') == 3
    assert "@media only screen and (min-width:480px)" in full.html
    for value in ("4/5", "1.5B params", "3+"):
        assert f"><bdi>{value}</bdi></div>" in full.html


def test_deep_dive_pull_quote_and_sanitised_body_html_kept(full: RenderedEmail) -> None:
    assert 'class="mp-pullquote"' in full.html
    assert "<em>accessibility</em>" in full.html
    assert ">Analysis</p>" in full.html


def test_opinion_columns_carry_their_column_name(full: RenderedEmail) -> None:
    assert ">Editor's Column</p>" in full.html or ">Editor&#39;s Column</p>" in full.html
    assert "Guest Column" in full.html
    assert "Editor's Column\n" in full.text


def test_opinion_column_pull_quote(full: RenderedEmail) -> None:
    opinion = full.html[full.html.index("Opinion &amp; Analysis") :]
    assert re.search(r'class="mp-pullquote"[^>]*>“The future of AI may well belong', opinion)
    assert "    “The future of AI may well belong to these specialized craftspeople" in full.text


def test_tools_and_reading_are_numbered_and_linked(full: RenderedEmail) -> None:
    for number in ("01", "02", "03", "04"):
        assert f">{number}</td>" in full.html
    assert '<a href="https://huggingface.co/anujjamwal/OpenMath-Nemotron-1.5B"' in full.html
    assert "Text generation · 1.5B params" in full.html
    assert "01  OpenMath-Nemotron 1.5B [1]" in full.text
    assert "03  BabyLM Challenge: Learning with Limited Data [3]" in full.text


# --- email-client and spam-filter hygiene ----------------------------------------------


def test_html_head_and_accessibility(full: RenderedEmail) -> None:
    assert full.html.startswith("<!doctype html>")
    assert '<html lang="en" dir="ltr"' in full.html
    tables = re.findall(r"<table\b[^>]*>", full.html)
    assert len(tables) > 10
    assert all('role="presentation"' in table for table in tables)
    assert all(re.search(r'\balt="[^"]+"', img) for img in re.findall(r"<img\b[^>]*>", full.html))
    assert '<meta name="color-scheme" content="light dark">' in full.html
    assert '<meta name="supported-color-schemes" content="light dark">' in full.html
    assert "<title>The Specialization Wave" in full.html


def test_media_rules_and_their_important_flags_survive_premailer(full: RenderedEmail) -> None:
    assert "@media (prefers-color-scheme: dark)" in full.html
    assert "background-color: #0f0e0d !important" in full.html
    assert ".mp-name { font-size: 34px !important; }" in full.html


def test_css_is_inlined_with_system_fonts(full: RenderedEmail) -> None:
    assert 'class="mp-name" style=' in full.html
    assert "Georgia" in full.html
    assert "&#39;" not in full.html.split("</head>")[0]  # no entity inside <style>


def test_nothing_active_or_remote(full: RenderedEmail) -> None:
    lowered = full.html.lower()
    for forbidden in ("<script", "<link", "<form", "fonts.googleapis", "@import", "javascript:"):
        assert forbidden not in lowered


def test_preheader_is_hidden_without_white_text(full: RenderedEmail) -> None:
    preview = re.search(r'<div style="display:none;[^"]*">([^<]*)</div>', full.html)
    assert preview is not None
    assert preview.group(1).startswith("Today's trending models")
    assert "#ffffff" not in preview.group(0).lower()
    assert "font-size" not in preview.group(0)  # a 1px font before text: FONT_INVIS_MSGID


def test_language_comes_from_the_issue() -> None:
    issue = load("issue_minimal.json").model_copy(update={"language": "de"})
    assert '<html lang="de" dir="ltr"' in render(issue).html


def test_right_to_left_language_turns_the_layout() -> None:
    issue = load("issue_minimal.json").model_copy(update={"language": "he"})
    html_out = render(issue).html
    assert '<html lang="he" dir="rtl"' in html_out
    assert "direction:ltr" not in html_out
    assert 'align="right"' in html_out


@pytest.mark.parametrize(
    ("language", "direction"),
    [("en", "ltr"), ("ar", "rtl"), ("he-IL", "rtl"), ("fa_IR", "rtl"), ("UR", "rtl"),
     ("de", "ltr"), ("", "ltr"), ("arn", "ltr")],
)  # fmt: skip
def test_text_direction(language: str, direction: str) -> None:
    assert text_direction(language) == direction


def test_content_blocks_set_their_own_direction(full: RenderedEmail) -> None:
    """dir="auto" per block: a Hebrew title in an English issue still reads right to left."""
    for tag in ('<h1 class="mp-title" dir="auto"', '<h2 class="mp-title" dir="auto"',
                '<h3 class="mp-title-small" dir="auto"', '<div class="mp-item-title" dir="auto"',
                '<p class="mp-standfirst" dir="auto"'):  # fmt: skip
        assert tag in full.html
    assert "text-align:start" in full.html
    assert 'align="start"' not in full.html  # no such attribute value


# --- web edition ----------------------------------------------------------------------


def test_web_edition_has_the_issue_without_per_subscriber_parts(web: str) -> None:
    positions(web, HTML_SECTIONS[:-1])  # every section, and
    assert positions(web, HTML_SECTIONS[:-1]) == sorted(positions(web, HTML_SECTIONS[:-1]))
    assert "Unsubscribe" not in web
    assert "View in your browser" not in web
    assert "briefing." not in web  # the greeting line
    assert PLACEHOLDER_RE.search(web) is None
    assert render_module._MARKER_PREFIX not in web
    assert f'<a href="{ARCHIVE_URL}"' in web
    assert f'<a href="{FEED_URL}"' in web
    assert "The web edition of The AI Morning Post, issue #28" in web
    assert ADDRESS in web


def test_web_edition_is_a_page_for_browsers(web: str) -> None:
    assert web.lstrip().lower().startswith("<!doctype html>")
    assert '<html lang="en" dir="ltr"' in web
    assert re.search(r"<meta name=\"color-scheme\" content=\"light dark\" ?/?>", web)
    assert "@media (prefers-color-scheme: dark)" in web
    assert "display:none" not in web  # no hidden preheader on a web page
    lowered = web.lower()
    for forbidden in ("<script", "<form", "fonts.googleapis", "@import", "javascript:"):
        assert forbidden not in lowered


def test_web_edition_without_archive_links() -> None:
    page = render_web(load("issue_minimal.json"), postal_address=ADDRESS)
    assert "All issues" not in page
    assert "Atom feed" not in page


def test_web_edition_escapes_content() -> None:
    page = render_web(with_lead_title("<script>x</script> {{greeting}}"), postal_address=ADDRESS)
    assert "<script" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


# --- escaping --------------------------------------------------------------------------


def test_hostile_title_is_escaped_not_markup() -> None:
    rendered = render(with_lead_title('<script>alert("x")</script> & <b>bold</b>'))
    assert "<script" not in rendered.html
    assert "<b>bold" not in rendered.html
    assert "&lt;script&gt;alert(" in rendered.html
    assert '<script>alert("x")</script> & <b>bold</b>' in rendered.text


def test_content_cannot_forge_a_placeholder() -> None:
    issue = with_lead_title("{{unsubscribe_url}} and {{greeting}}{")
    assert issue.lead is not None
    body = '<p><a href="https://x.example/{{greeting}}" title="<style>{{view_url}}">t</a></p>'
    lead = issue.lead.model_copy(update={"body_html": body})
    issue = issue.model_copy(update={"subject": "{{view_url}} today", "lead": lead})
    rendered = render_email(issue, postal_address="{{greeting}} Street")
    for part in (rendered.html, rendered.text):
        assert sorted(PLACEHOLDER_RE.findall(part)) == sorted(PLACEHOLDERS)
    assert "&#123;&#123;unsubscribe_url}}" in rendered.html
    assert "{\u2060{unsubscribe_url}}" in rendered.text
    assert "{{" not in rendered.subject

    html_out, text_out = personalise(
        rendered, unsubscribe_url="https://u.example/x", view_url="https://v.example", greeting="Hi"
    )
    assert "https://u.example/x" in html_out
    assert html_out.count("https://u.example/x") == 1
    assert text_out.count("https://u.example/x") == 1


def test_braces_in_html_outside_css_are_all_escaped(full: RenderedEmail) -> None:
    body = full.html.split("</head>", 1)[1]
    without_placeholders = PLACEHOLDER_RE.sub("", body)
    assert "{" not in re.sub(r"<!--.*?-->", "", without_placeholders, flags=re.DOTALL)


# --- size budget and failures ----------------------------------------------------------


def test_full_issue_is_well_under_the_size_budget(full: RenderedEmail) -> None:
    assert len(full.html.encode("utf-8")) < 100 * 1024


def test_size_budget_error_names_the_measured_size(
    full: RenderedEmail, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = len(full.html.encode("utf-8"))
    monkeypatch.setattr(render_module, "HTML_BUDGET_BYTES", size - 1)
    with pytest.raises(RenderError, match=rf"email\.html is {size} bytes, over the 100 KB budget"):
        render(load("issue.json"))


def test_size_is_measured_in_utf8_bytes() -> None:
    render_module.check_size("é" * 51_200)  # exactly 102,400 bytes: allowed
    with pytest.raises(RenderError, match="102402 bytes"):
        render_module.check_size("é" * 51_201)


def test_mjml_failure_becomes_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: str, **kwargs: object) -> str:
        raise ValueError("unexpected element")

    monkeypatch.setattr(render_module.mjml, "mjml2html", broken)
    with pytest.raises(RenderError, match=r"issue\.mjml\.j2: MJML failed: unexpected element"):
        render(load("issue_minimal.json"))


# --- plaintext -------------------------------------------------------------------------


def long_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 72 and "://" not in line]


def test_text_lines_fit_72_columns_except_urls(full: RenderedEmail) -> None:
    assert long_lines(full.text) == []
    assert long_lines(personalise(full, unsubscribe_url="x", view_url="y", greeting="Hi")[1]) == []


def section_of(text: str, heading: str) -> str:
    start = text.index(heading)
    following = [text.find(h, start + 1) for h in TEXT_SECTIONS if text.find(h, start + 1) > 0]
    return text[start : min(following)]


@pytest.mark.parametrize(
    ("heading", "count"),
    [("LEAD STORY", 4), ("TOOLS OF THE WEEK", 4), ("WEEKEND READING", 3)],
)
def test_references_are_numbered_per_section_and_listed_under_it(
    full: RenderedEmail, heading: str, count: int
) -> None:
    section = section_of(full.text, heading)
    listed = re.findall(r"^\[(\d+)\] (https://\S+)$", section, flags=re.MULTILINE)
    assert [int(n) for n, _ in listed] == list(range(1, count + 1))
    cited = {int(n) for n in re.findall(r"\[(\d+)\](?! https)", section)}
    assert cited == set(range(1, count + 1))


def test_text_masthead_and_footer(full: RenderedEmail) -> None:
    assert full.text.splitlines()[0].strip() == "THE AI MORNING POST"
    assert "Unsubscribe: {{unsubscribe_url}}\n" in full.text
    assert "View in your browser: {{view_url}}\n" in full.text
    assert full.text.rstrip().endswith(ADDRESS)
    assert "\n\n\n" not in full.text


def test_placeholders_appear_exactly_once_each(full: RenderedEmail, minimal: RenderedEmail) -> None:
    for rendered in (full, minimal):
        for part in (rendered.html, rendered.text):
            for name in PLACEHOLDERS:
                assert part.count("{{" + name + "}}") == 1, name
    assert '<a href="{{unsubscribe_url}}"' in full.html
    assert '<a href="{{view_url}}"' in full.html


def test_html_to_text_paragraphs_lists_quotes_and_links() -> None:
    fragment = (
        "<p>One <strong>bold</strong>\n  claim,<br>new line &amp; more.</p>"
        '<ul><li>first <a href="https://a.example">A</a></li><li>second</li></ul>'
        '<ol><li>one</li><li>two <a href="https://a.example">again</a></li></ol>'
        "<blockquote><p>Quoted <code>x = 1</code></p></blockquote>"
        '<p><a href="https://b.example/">https://b.example/</a> bare</p>'
    )
    text, links = html_to_text(fragment)
    assert text == (
        "One bold claim,\nnew line & more.\n\n"
        "- first A [1]\n- second\n\n"
        "1. one\n2. two again [1]\n\n"
        "> Quoted x = 1\n\n"
        "https://b.example/ bare"
    )
    assert links == ["https://a.example"]


def test_html_to_text_wraps_with_hanging_indent_and_keeps_urls_whole() -> None:
    url = "https://example.com/" + "x" * 80
    text, _ = html_to_text(f"<ul><li>{'word ' * 30}</li></ul><p>{url}</p>")
    lines = text.splitlines()
    assert lines[0].startswith("- word")
    assert all(line.startswith("  word") for line in lines[1:-2])
    assert lines[-1] == url
    assert long_lines(text) == []


def test_html_to_text_nested_lists_and_item_paragraphs() -> None:
    fragment = (
        "<ol><li>outer<ul><li>inner a</li><li>inner b</li></ul></li>"
        "<li><p>second</p><p>more of it</p></li></ol><p>after</p>"
    )
    assert html_to_text(fragment)[0] == (
        "1. outer\n   - inner a\n   - inner b\n2. second\n   more of it\n\nafter"
    )


def test_html_to_text_continues_a_sections_numbering() -> None:
    refs = References()
    refs.cite("https://first.example")
    text, links = html_to_text('<p><a href="https://second.example">two</a></p>', refs=refs)
    assert text == "two [2]"
    assert links == ["https://first.example", "https://second.example"]


def test_html_to_text_keeps_no_break_spaces() -> None:
    assert html_to_text("<p>10&nbsp;%</p>")[0] == "10\xa0%"


# --- personalise -----------------------------------------------------------------------


def test_personalise_escapes_html_and_keeps_text_raw(full: RenderedEmail) -> None:
    value = 'https://x.example/u?a=1&b="2"<{{greeting}}>'
    html_out, text_out = personalise(
        full, unsubscribe_url=value, view_url="https://v.example", greeting="Good morning, Ada"
    )
    assert html.escape(value, quote=True) in html_out
    assert value in text_out
    # Inserted once, never substituted again: the value's own {{greeting}} stays.
    assert "{{greeting}}" in text_out
    assert text_out.count("Good morning, Ada") == 1
    assert "Good morning, Ada. Here is today\N{RIGHT SINGLE QUOTATION MARK}s briefing." in html_out


@pytest.mark.parametrize(
    "value",
    ["\\1", "\\g<0>", "\\g<greeting>", "$1", "{{greeting}}", "}}{{view_url", "&amp;", "&#123;",
     "<a href='x'>\"q\"</a>", "\u202eevil", "\x00", "\r\n\r\n", "🙂" * 3],
)  # fmt: skip
def test_personalise_keeps_hostile_values_intact(full: RenderedEmail, value: str) -> None:
    html_out, text_out = personalise(full, unsubscribe_url=value, view_url=value, greeting=value)
    escaped = html.escape(value, quote=True)
    assert html_out.count(escaped) >= 3
    assert f'<a href="{escaped}"' in html_out
    assert text_out.count(value) >= 3
    assert f"Unsubscribe: {value}\n" in text_out
    # Nothing but the three placeholders changed.
    rebuilt = html_out.replace(escaped, "")
    assert rebuilt == PLACEHOLDER_RE.sub("", full.html)


@given(unsubscribe_url=st.text(), view_url=st.text(), greeting=st.text())
def test_personalise_property(
    full: RenderedEmail, unsubscribe_url: str, view_url: str, greeting: str
) -> None:
    html_out, text_out = personalise(
        full, unsubscribe_url=unsubscribe_url, view_url=view_url, greeting=greeting
    )
    for value in (unsubscribe_url, view_url, greeting):
        assert html.escape(value, quote=True) in html_out
        assert value in text_out
    assume(not any("{{" in v or "}}" in v for v in (unsubscribe_url, view_url, greeting)))
    assert PLACEHOLDER_RE.search(html_out) is None
    assert PLACEHOLDER_RE.search(text_out) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [(None, "Good morning"), ("", "Good morning"), ("  ", "Good morning"),
     ("Ada", "Good morning, Ada"), ("  Ada \n Lovelace ", "Good morning, Ada Lovelace")],
)  # fmt: skip
def test_greeting_for(name: str | None, expected: str) -> None:
    assert greeting_for(name) == expected


# --- helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 2, 25), "Wednesday, 25 February 2026"),
        (dt.date(2024, 12, 1), "Sunday, 1 December 2024"),
        (dt.date(2025, 1, 6), "Monday, 6 January 2025"),
    ],
)
def test_long_date(day: dt.date, expected: str) -> None:
    assert long_date(day) == expected


def test_weather_line() -> None:
    assert weather_line(Weather(temperature_c=6.0, condition="Overcast")) == "6°C Overcast"
    assert weather_line(Weather(temperature_c=-0.4, condition="Fog")) == "0°C Fog"
    assert weather_line(Weather(temperature_c=-3.6, condition="Snow")) == "-4°C Snow"
    assert weather_line(None) == ""


# --- golden files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("golden", "part"), [("issue.txt", "text"), ("email.html", "html"), ("web.html", "web")]
)
def test_golden(full: RenderedEmail, web: str, golden: str, part: str) -> None:
    """Any change to the output is deliberate: rerun with UPDATE_GOLDEN=1 and review the diff."""
    actual = web if part == "web" else getattr(full, part)
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")
