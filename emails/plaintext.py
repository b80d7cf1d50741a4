"""The plaintext alternative of the issue: wrapped at 72 columns, links as numbered references.

A real text version (not HTML with the tags stripped) matters twice: people read it, and
SpamAssassin's MPART_ALT_DIFF scores mail whose text and HTML parts say different things.
Links become ``[n]`` markers, listed under the section they appear in, so a reader never
scrolls to the end of a long issue to find a URL.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import jinja2

from emails.issue import Issue, Link

WIDTH = 72
TEXT_TEMPLATE = "issue.txt.j2"

_BLOCK_TAGS = frozenset({"p", "blockquote", "ul", "ol", "li"})
# HTML whitespace only: a no-break space in the content must survive folding.
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass
class References:
    """The links cited in one section; ``[n]`` is the n-th distinct URL."""

    urls: list[str] = field(default_factory=list)

    def cite(self, url: str) -> str:
        if url not in self.urls:
            self.urls.append(url)
        return f"[{self.urls.index(url) + 1}]"

    def listing(self) -> str:
        return "\n".join(f"[{n}] {url}" for n, url in enumerate(self.urls, start=1))


@dataclass
class _List:
    ordered: bool
    items: int = 0

    @property
    def marker(self) -> str:
        return f"{self.items}. " if self.ordered else "- "

    @property
    def indent(self) -> str:
        """What lines inside the current item are indented by: the marker's width."""
        return " " * len(self.marker) if self.items else ""


@dataclass
class _Block:
    lines: list[str]
    first_prefix: str
    rest_prefix: str
    list_group: int | None  # which top-level list it belongs to: those items sit tight

    def wrapped(self, width: int) -> str:
        out: list[str] = []
        for index, line in enumerate(self.lines):
            first = self.first_prefix if index == 0 else self.rest_prefix
            out.extend(wrap_lines(line, width=width, first=first, rest=self.rest_prefix))
        return "\n".join(out)


class _FragmentParser(HTMLParser):
    """Turns the allowlisted HTML of ``emails.sanitize`` into blocks of inline text."""

    def __init__(self, refs: References) -> None:
        super().__init__(convert_charrefs=True)
        self.refs = refs
        self.blocks: list[_Block] = []
        self._inline: list[str] = []
        self._lists: list[_List] = []
        self._list_groups = 0
        self._quote_depth = 0
        self._marker_due = False  # an <li> opened: its first block gets "- " or "3. "
        self._anchors: list[tuple[str | None, int]] = []  # href, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "blockquote":
            self._quote_depth += 1
        elif tag in ("ul", "ol"):
            self._open_list(ordered=tag == "ol")
        elif tag == "li":
            self._start_item()
        elif tag == "br":
            self._inline.append("\n")
        elif tag == "a":
            self._anchors.append((dict(attrs).get("href"), len(self._inline)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag == "a" and self._anchors:
            self._end_anchor(*self._anchors.pop())

    def handle_data(self, data: str) -> None:
        self._inline.append(_HTML_SPACE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._flush()

    def _open_list(self, *, ordered: bool) -> None:
        if not self._lists:
            self._list_groups += 1
        self._lists.append(_List(ordered))

    def _start_item(self) -> None:
        if not self._lists:  # a stray <li>: treat it as an item of an unordered list
            self._open_list(ordered=False)
        self._lists[-1].items += 1
        self._marker_due = True

    def _end_anchor(self, href: str | None, start: int) -> None:
        label = "".join(self._inline[start:]).strip()
        # A bare URL as its own link text needs no reference to repeat it.
        if href and label != href:
            self._inline.append(" " + self.refs.cite(href))

    def _flush(self) -> None:
        lines = [_HTML_SPACE.sub(" ", line).strip() for line in "".join(self._inline).split("\n")]
        self._inline = []
        self._anchors = [(href, 0) for href, _ in self._anchors]
        while lines and not lines[-1]:
            lines.pop()
        if not any(lines):
            return
        self.blocks.append(self._block(lines))

    def _block(self, lines: list[str]) -> _Block:
        outer = "> " * self._quote_depth + "".join(each.indent for each in self._lists[:-1])
        if not self._lists:
            return _Block(lines, outer, outer, None)
        innermost = self._lists[-1]
        first = innermost.marker if self._marker_due else innermost.indent
        self._marker_due = False
        return _Block(lines, outer + first, outer + innermost.indent, self._list_groups)


def wrap_lines(text: str, *, width: int = WIDTH, first: str = "", rest: str = "") -> list[str]:
    """Wrap one paragraph; URLs and other long words are never broken, so may overflow."""
    wrapped = textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped or [first.rstrip()]


def html_to_text(
    fragment: str, *, refs: References | None = None, width: int = WIDTH
) -> tuple[str, list[str]]:
    """Return ``fragment`` (allowlisted HTML) as wrapped text, and the URLs it cites.

    Links become ``[n]`` after their text; pass a section's ``refs`` to number them after
    the links it already holds. Paragraphs are separated by a blank line, list items not.
    """
    references = refs if refs is not None else References()
    parser = _FragmentParser(references)
    parser.feed(fragment)
    parser.close()
    parts: list[str] = []
    previous: _Block | None = None
    for block in parser.blocks:
        if previous is not None:
            tight = block.list_group is not None and previous.list_group == block.list_group
            parts.append("\n" if tight else "\n\n")
        parts.append(block.wrapped(width))
        previous = block
    return "".join(parts), references.urls


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    return "\n".join(wrap_lines(text, first=first, rest=rest))


def _body(fragment: str, refs: References) -> str:
    return html_to_text(fragment, refs=refs)[0]


def _links_cited(links: list[Link], refs: References) -> str:
    return ", ".join(f"{link.title} {refs.cite(link.url)}" for link in links)


def _bidi(text: str, direction: str) -> str:
    """Right-to-left text opens with a right-to-left mark: plain text has no ``dir``, and a
    reader's client takes a paragraph's direction from its first strong letter ("GPT-5 ...")."""
    return f"\u200f{text}" if direction == "rtl" else text


def _heading(title: str, aside: str = "") -> str:
    """A section heading in capitals with an optional right-aligned aside, then a rule."""
    label = title.upper()
    gap = max(1, WIDTH - len(label) - len(aside))
    return f"{label}{' ' * gap if aside else ''}{aside}\n{'-' * WIDTH}"


@functools.cache
def _environment() -> jinja2.Environment:
    # Autoescape off: this is text/plain, where "&amp;" would be a visible mistake.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emails", "templates"),
        autoescape=False,  # noqa: S701 - text/plain output, never parsed as HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        references=References,
        heading=_heading,
        wrap=_wrap,
        links_cited=_links_cited,
        bidi=_bidi,
        width=WIDTH,
    )
    env.filters.update(body=_body, wrap=_wrap)
    return env


def render_text(issue: Issue, context: Mapping[str, object]) -> str:
    """Render the text template; ``context`` holds what the HTML template also gets."""
    template = _environment().get_template(TEXT_TEMPLATE)
    text = template.render(issue=issue, **context)
    return tidy(text)


def tidy(text: str) -> str:
    """Drop trailing spaces and runs of blank lines left where sections were skipped."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"
