"""Why a draft could not be rendered, told the way an editor can act on it."""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from pathlib import Path

import jinja2

from emails.errors import MorningPostError
from emails.preview.config import Problem


def describe_error(err: BaseException) -> Problem:
    """The page's account of ``err``: its first line, and where in which template it broke.

    Jinja's syntax errors carry the template and line; its runtime errors (an undefined
    variable) carry them in the traceback, which Jinja rewrites to point into the template.
    MJML's errors name no line of the template (they are about the MJML Jinja wrote).
    """
    text = str(err) or type(err).__name__
    first, _, rest = text.partition("\n")
    if not isinstance(err, MorningPostError):
        first = f"{type(err).__name__}: {first}"
    problem = Problem(first, details=rest.strip()[:4000])
    for cause in _causes(err):
        where = _template_location(cause)
        if where is not None:
            template, line, source = where
            return Problem(first, template, line, source, problem.details)
    return problem


def _causes(err: BaseException) -> Iterable[BaseException]:
    seen: BaseException | None = err
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _template_location(err: BaseException) -> tuple[str, int, str | None] | None:
    if isinstance(err, jinja2.TemplateSyntaxError) and err.lineno:
        name = err.name or Path(err.filename or "?").name
        return name, err.lineno, _source_line(err.source, err.lineno)
    if isinstance(err, jinja2.TemplateError):
        # Jinja rewrites the traceback: frames of template code name the template file.
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.endswith(".j2")]
        if frames and frames[-1].lineno:
            return Path(frames[-1].filename).name, frames[-1].lineno, frames[-1].line
    return None


def _source_line(source: str | None, line: int) -> str | None:
    lines = (source or "").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else None
