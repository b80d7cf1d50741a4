"""Pieces editors write: Markdown files with YAML front matter, one folder per issue.

    ---
    section: lead            # lead | deep-dive | opinion
    title: The Specialization Wave
    author: The Editors
    column: Editor's Column  # opinion pieces
    score: 7                 # 1-10, the lead's significance
    summary: One-paragraph standfirst.
    pull_quote: A line worth repeating.
    ---
    Body in CommonMark. Raw HTML is not rendered.

A file an editor got wrong is skipped with one log line naming it and why; the rest still load,
so one typo never costs the whole issue its editorial.
"""

from __future__ import annotations

import logging
from importlib.resources.abc import Traversable
from typing import Any, cast

import yaml
from markdown_it import MarkdownIt

from emails.errors import SourceError
from emails.sanitize import clean_html, plain_text
from pipeline.sources.items import EditorialPiece, Gathering, Section

log = logging.getLogger(__name__)

SECTIONS: frozenset[str] = frozenset({"lead", "deep-dive", "opinion"})
_TEXT_KEYS = ("title", "author", "column", "summary", "pull_quote")
_KNOWN_KEYS = frozenset({"section", "score", *_TEXT_KEYS})
_FENCE = "---"


class FrontMatterError(ValueError):
    """The file's front matter is missing or wrong; the message says how, in one line."""


class EditorialSource:
    """Every ``*.md`` file of ``directory``, in file-name order.

    ``directory`` may be a ``pathlib.Path`` or a package-resource ``Traversable`` (the bundled
    sample pieces), which is why only ``iterdir``/``read_text`` are used.
    """

    name = "editorial"

    def __init__(self, directory: Traversable) -> None:
        self.directory = directory
        # html=False: an editor's stray <script> is shown as text, never rendered.
        self._markdown = MarkdownIt("commonmark", {"html": False})

    def fetch(self) -> Gathering:
        if not _exists(self.directory):
            # Editors may simply write nothing for a day: that is news, not a fault.
            log.info("no editorial for %s (%s does not exist)", self.directory.name, self.directory)
            return Gathering()
        try:
            files = sorted(
                (f for f in self.directory.iterdir() if f.name.endswith(".md") and f.is_file()),
                key=lambda f: f.name,
            )
        except OSError as err:
            # Present but unreadable (a file where the folder should be, no permission): a
            # fault someone must fix, so it is a SourceError, which gather() logs as a warning.
            reason = err.strerror or type(err).__name__
            raise SourceError(f"editorial folder {self.directory} unreadable: {reason}") from None
        pieces: list[EditorialPiece] = []
        for file in files:
            try:
                pieces.append(self._piece(file))
            except (FrontMatterError, UnicodeDecodeError) as err:
                log.warning("editorial %s skipped: %s", file.name, err)
            except OSError as err:
                log.warning("editorial %s unreadable: %s", file.name, err.strerror or err)
        return Gathering(editorial=pieces)

    def _piece(self, file: Traversable) -> EditorialPiece:
        meta, body = split_front_matter(file.read_text(encoding="utf-8"))
        fields = validate(meta)
        return EditorialPiece(
            section=cast(Section, fields["section"]),
            title=fields["title"],
            body_html=clean_html(self._markdown.render(body)),
            summary=fields["summary"],
            author=fields["author"],
            column=fields["column"],
            score=fields["score"],
            pull_quote=fields["pull_quote"],
            path=str(file),
        )


def _exists(directory: Traversable) -> bool:
    """True when something is at ``directory`` (a folder, or a file standing in its way)."""
    return directory.is_dir() or directory.is_file()


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return the YAML mapping between the ``---`` fences and the Markdown after them."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        raise FrontMatterError("no front matter: the file must start with a '---' line")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == _FENCE:
            return _load_yaml("".join(lines[1:index])), "".join(lines[index + 1 :])
    raise FrontMatterError("front matter is not closed by a second '---' line")


def _load_yaml(source: str) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(source)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""  # +2: fence, 0-based
        raise FrontMatterError(f"front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be a mapping of keys to values")
    return meta


def validate(meta: dict[str, Any]) -> dict[str, Any]:
    """Check the keys and return them normalised: text plain, score an int or None."""
    unknown = sorted(str(key) for key in meta if key not in _KNOWN_KEYS)
    if unknown:
        # Strict on purpose: a misspelt "pullquote" would otherwise vanish without a word.
        raise FrontMatterError(f"unknown key(s): {', '.join(unknown)}")
    section = meta.get("section")
    if section not in SECTIONS:
        raise FrontMatterError(
            f"section must be one of {', '.join(sorted(SECTIONS))}, got {section!r}"
        )
    fields: dict[str, Any] = {"section": section, "score": _score(meta.get("score"))}
    for key in _TEXT_KEYS:
        value = meta.get(key, "")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise FrontMatterError(f"{key} must be text")
        fields[key] = plain_text(str(value))
    if not fields["title"]:
        raise FrontMatterError("title is missing")
    return fields


def _score(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise FrontMatterError(f"score must be a whole number from 1 to 10, got {value!r}")
    return value
