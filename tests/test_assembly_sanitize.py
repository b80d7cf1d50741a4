"""Nothing hostile from a source reaches ``issue.json``; Unicode and right-to-left text do."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from emails.sanitize import ALLOWED_TAGS, clean_html, plain_text
from pipeline.assembly.assemble import assemble
from pipeline.sources.feeds import parse_feed
from pipeline.sources.items import EditorialPiece

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
DAY = dt.date(2026, 2, 25)


class _Collector(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def start_tags(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = _Collector()
    collector.feed(fragment)
    collector.close()
    return collector.tags


# Random HTML built from the pieces attacks are made of, nested and mis-nested at will.
_TAGS = ["script", "style", "img", "iframe", "svg", "a", "p", "em", "div", "object", "math"]
_ATTRS = ["href", "src", "style", "onclick", "onerror", "onload", "title", "srcset", "xlink:href"]
_VALUES = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:x",
    "https://ok.example/a",
    "http://ok.example/b",
    "mailto:x@example.com",
    "//evil.example/pixel.gif",
    "color:red;background:url(https://t.example/p)",
    "alert(1)",
]
_attribute = st.tuples(st.sampled_from(_ATTRS), st.sampled_from(_VALUES)).map(
    lambda pair: f' {pair[0]}="{pair[1]}"'
)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = "".join(draw(st.lists(_attribute, max_size=3)))
    inner = draw(
        st.lists(st.one_of(_text, _element(depth + 1)) if depth < 3 else _text, max_size=3)
    )
    closing = draw(st.sampled_from([f"</{tag}>", "", f"</{tag.upper()}>"]))
    return f"<{tag}{attrs}>{''.join(inner)}{closing}"


_html = st.lists(st.one_of(_text, _element()), min_size=1, max_size=4).map("".join)


@settings(max_examples=200, deadline=None)
@given(_html)
def test_random_html_leaves_only_allowlisted_tags_and_safe_links(fragment: str) -> None:
    cleaned = clean_html(fragment)
    for tag, attrs in start_tags(cleaned):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in {"href", "title", "rel"}, name
            assert not name.startswith("on")
            if name == "href":
                assert (value or "").lower().startswith(("https://", "http://")), value


@settings(max_examples=200, deadline=None)
@given(_html)
def test_random_html_as_plain_text_has_no_tags_at_all(fragment: str) -> None:
    text = plain_text(fragment)
    assert start_tags(text) == []
    lowered = text.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<style" not in lowered


def test_unicode_and_right_to_left_text_survive() -> None:
    samples = [
        "مراجعة النماذج الصغيرة",
        "שלום עולם",
        "نص عربي \u200f with an RLM mark",
        "\u202bembedded RTL\u202c",
        "Zürich, Łódź, 東京, émoji 🚀",
    ]
    for sample in samples:
        assert plain_text(sample) == sample
        assert clean_html(f"<p>{sample}</p>") == f"<p>{sample}</p>"


def test_a_hostile_feed_never_reaches_the_issue() -> None:
    gathered = parse_feed(
        (FIXTURES / "hostile.rss").read_bytes(), base_url="https://hostile.example.net/feed"
    )
    gathered.editorial = [
        EditorialPiece(
            section="deep-dive",
            title="<b onmouseover=x>Deep</b>",
            body_html=(
                '<p style="x" onclick="y">Body <a href="javascript:alert(1)">bad</a> '
                '<a href="mailto:x@example.com">mail</a> '
                '<a href="https://ok.example/a">good</a></p><img src="https://t.example/p.gif">'
            ),
        )
    ]
    issue = assemble(gathered, date=DAY, number=1, city="Manchester")
    raw = issue.to_json().lower()

    for hostile in (
        "<script",
        "javascript:",
        "data:text",
        "onerror",
        "onclick",
        "onmouseover",
        "style=",
        "<style",
        "<img",
        "<iframe",
        "pixel.gif",
        "mailto:",
        "utm_source",
        "fbclid",
    ):
        assert hostile not in raw, hostile
    # Feed stories are news now: the freshest leads the issue (no models today), the other
    # is in the news section; both cleaned, and the unsafe links in neither.
    assert issue.lead is not None
    stories = {s.headline: [link.url for link in s.sources] for s in issue.news}
    stories[issue.lead.title] = [link.url for link in issue.lead.links]
    assert set(stories) == {"Model release", "مراجعة النماذج الصغيرة — שלום עולם"}
    assert stories["Model release"] == ["https://hostile.example.net/a?id=7"]
    assert issue.deep_dive is not None
    assert issue.deep_dive.title == "Deep"
    assert 'href="https://ok.example/a"' in issue.deep_dive.body_html
    json.loads(issue.to_json())  # and it is still valid JSON, Unicode intact
    assert "שלום" in issue.to_json()
