"""The one Jinja2 environment for HTML templates: package templates, autoescaping on, and
undefined names failing the render instead of reaching a reader as blanks."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def html_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("emails", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
