"""Properties of the plaintext renderer: wrapping, link references, the whole text part."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from emails.issue import Issue
from emails.plaintext import WIDTH, html_to_text, wrap_lines
from emails.render import render_email

FIXTURES = Path(__file__).parent / "fixtures"

# Words never hold the whitespace textwrap splits on (ASCII only: a no-break space stays).
words = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters=" "),
    min_size=1,
    max_size=30,
)
long_words = st.one_of(words, st.text("abcdef/:.", min_size=73, max_size=120))
prefixes = st.sampled_from(["", "  ", "- ", "12. ", "> > ", "    "])


def too_long(line: str, prefix_width: int) -> bool:
    """Longer than WIDTH although more than one word: a wrapping failure."""
    return len(line) > WIDTH and len(line[prefix_width:].split(" ")) > 1


@given(st.lists(long_words, max_size=60), prefixes, prefixes, st.sampled_from([" ", "  ", "\n"]))
def test_wrap_lines_fits_the_width_and_keeps_every_word(
    chunks: list[str], first: str, rest: str, separator: str
) -> None:
    text = separator.join(chunks)
    lines = wrap_lines(text, first=first, rest=rest)
    assert lines
    assert lines[0].startswith(first.rstrip())
    assert all(line.startswith(rest) for line in lines[1:])
    stripped = [lines[0][len(first) :], *(line[len(rest) :] for line in lines[1:])]
    assert not any(
        len(line) > WIDTH and " " in bare.strip(" ")
        for line, bare in zip(lines, stripped, strict=True)
    )
    assert " ".join(stripped).split() == text.split()


paragraph = st.lists(words, min_size=1, max_size=40).map(" ".join)
urls = st.from_regex(r"https://[a-z]{1,12}\.example/[a-z0-9/]{0,90}", fullmatch=True)


@st.composite
def fragments(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Paragraphs, list items and quotes of allowlisted HTML with links in them."""
    parts, cited = [], []
    for _ in range(draw(st.integers(1, 6))):
        text = html.escape(draw(paragraph), quote=False)
        if draw(st.booleans()):
            url = draw(urls)
            cited.append(url)
            text += f' <a href="{html.escape(url)}">{html.escape(draw(paragraph))}</a>'
        wrapper = draw(st.sampled_from(["<p>{}</p>", "<ul><li>{}</li></ul>", "<ol><li>{}</li></ol>",
                                        "<blockquote><p>{}</p></blockquote>"]))  # fmt: skip
        parts.append(wrapper.format(text))
    return "".join(parts), cited


@given(fragments())
def test_html_to_text_wraps_and_numbers_every_link(case: tuple[str, list[str]]) -> None:
    fragment, cited = case
    text, listed = html_to_text(fragment)
    assert listed == list(dict.fromkeys(cited))  # each distinct URL once, in order
    for n in range(1, len(listed) + 1):
        assert f"[{n}]" in text
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" >-.0123456789"))
        assert not too_long(line, indent), line
    assert "<" not in text.replace("&lt;", "") or "&lt;" in fragment


@settings(max_examples=25, deadline=None)
@given(title=paragraph, summary=paragraph, name=words, value=words)
def test_whole_text_part_stays_within_72_columns(
    title: str, summary: str, name: str, value: str
) -> None:
    issue = Issue.load(FIXTURES / "issue.json")
    assert issue.lead is not None
    figure = issue.numbers[0].model_copy(update={"value": value[:12]})
    issue = issue.model_copy(
        update={
            "lead": issue.lead.model_copy(update={"title": title, "summary": summary}),
            "tools": [issue.tools[0].model_copy(update={"name": name}), *issue.tools[1:]],
            "numbers": [figure, *issue.numbers[1:]],
        }
    )
    text = render_email(issue, postal_address="1 Example Street").text
    for line in text.splitlines():
        assert not too_long(line, len(line) - len(line.lstrip())), line
    # Every heading is followed by its rule; every section's references are listed.
    assert re.findall(r"^-{72}$", text, flags=re.MULTILINE)
    assert title.split(" ")[0] in text
