"""Render one issue into the email's HTML and plaintext, once per issue, and its web edition.

Jinja2 writes MJML, MJML (the Rust MRML compiler) writes responsive HTML, premailer
inlines the CSS for clients that ignore ``<style>``. The per-subscriber parts stay as SES
placeholders (``{{unsubscribe_url}}`` ...), filled by ``emails.personalise`` or by SES.

Two things make the placeholders safe:

* The templates emit random markers, not ``{{...}}``: libxml2 (inside premailer) would
  decode any ``&#123;`` the content was escaped with, so placeholders are inserted last.
* After premailer, every ``{`` outside CSS and comments is written as ``&#123;`` (HTML)
  and every ``{{`` is split by a word joiner (text), so no issue content can form one.

The web edition (``render_web``) is the same template without the per-subscriber parts,
and without premailer: a browser reads ``<style>``, and inlining is most of the cost.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import secrets
from typing import Any

import jinja2
import mjml
import premailer

from emails import plaintext
from emails.errors import RenderError
from emails.issue import Issue, Weather
from emails.rendered import PLACEHOLDERS, WORD_JOINER, RenderedEmail, email_subject
from emails.templating import html_environment

HTML_TEMPLATE = "issue.mjml.j2"
# Gmail clips HTML at about 102 KB (measured 102-105 KB); 100 KB keeps a margin.
HTML_BUDGET_BYTES = 102_400

# Primary language subtags written right to left (the issue's ``language`` is BCP 47).
_RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ps", "sd", "ug", "ur", "yi"}
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# Unguessable per process, so no feed title can spell one; never appears in the output.
_MARKER_PREFIX = f"mpph{secrets.token_hex(8)}"
_MARKERS = {name: f"{_MARKER_PREFIX}{name}" for name in PLACEHOLDERS}
# CSS and conditional comments hold braces that must stay braces.
_RAW_HTML = re.compile(r"(<style\b.*?</style>|<!--.*?-->)", re.DOTALL | re.IGNORECASE)
_TEXT_BRACE = re.compile(r"\{(?=\{|" + _MARKER_PREFIX + ")")
# MJML hides the preheader with white 1px text; SpamAssassin scores both tricks
# (HTML_FONT_LOW_CONTRAST, and FONT_INVIS_MSGID: a 1px font straight before text). The
# preheader stays hidden without either.
_PREVIEW_STYLE = re.compile(r'<div style="display:none;[^"]*"')
_HIDDEN_STYLE = (
    '<div style="display:none;max-height:0px;max-width:0px;opacity:0;overflow:hidden;mso-hide:all;"'
)

_EMAIL_BODY = re.compile(r'(<div [^>]*?)aria-roledescription="email" (?=class="mp-page")')

logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
logging.getLogger("cssutils").setLevel(logging.CRITICAL)


def render_email(issue: Issue, *, postal_address: str) -> RenderedEmail:
    """Render ``issue`` as HTML and text holding ``{{greeting}}`` and the link placeholders.

    Raises RenderError if a template or MJML fails, or the HTML breaks the size budget.
    """
    context = _context(issue, postal_address)
    html = _finish_html(_inline_css(_compile_mjml(_render_mjml(issue, context))))
    check_size(html)
    text = _finish_text(_render_text(issue, context))
    return RenderedEmail(html=html, text=text, subject=email_subject(issue))


def render_web(
    issue: Issue, *, postal_address: str, archive_url: str = "", feed_url: str = ""
) -> str:
    """Render the browser edition of ``issue``: no greeting, unsubscribe or view link.

    ``archive_url`` and ``feed_url`` (absolute, or "" to leave out) are linked from its
    footer. Raises RenderError if a template or MJML fails.
    """
    context = _context(issue, postal_address)
    context.update(web=True, archive_url=archive_url, feed_url=feed_url)
    return as_page(_compile_mjml(_render_mjml(issue, context)))


def as_page(html: str) -> str:
    """The web edition is a page, not a message: its body is the ``main`` landmark.

    MJML marks the body as ``role="article"`` described as an "email", which is right inside a
    mail client (whose own page has the ``main``), and wrong for a page of its own.
    """
    return _EMAIL_BODY.sub(r"\1", html, count=1).replace(
        ' class="mp-page" role="article"', ' class="mp-page" role="main"', 1
    )


def text_direction(language: str) -> str:
    """``rtl`` for languages written right to left (``ar``, ``he-IL`` ...), else ``ltr``."""
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    return "rtl" if primary in _RTL_LANGUAGES else "ltr"


def long_date(day: dt.date) -> str:
    """``Wednesday, 25 February 2026``, in English whatever the process locale is."""
    return f"{_WEEKDAYS[day.weekday()]}, {day.day} {_MONTHS[day.month - 1]} {day.year}"


def weather_line(weather: Weather | None) -> str:
    """``6°C Overcast``, or "" when there is no weather."""
    if weather is None:
        return ""
    return f"{round(weather.temperature_c)}°C {weather.condition}"


def check_size(html: str) -> None:
    """Raise RenderError if ``html`` is over the budget Gmail clips at."""
    size = len(html.encode("utf-8"))
    if size > HTML_BUDGET_BYTES:
        raise RenderError(
            f"email.html is {size} bytes, over the 100 KB budget ({HTML_BUDGET_BYTES} bytes) "
            "that keeps Gmail from clipping it; shorten the issue"
        )


def _context(issue: Issue, postal_address: str) -> dict[str, object]:
    return {
        "long_date": long_date(issue.date),
        "weather": weather_line(issue.masthead.weather),
        "postal_address": postal_address,
        "direction": text_direction(issue.language),
        "ph": _MARKERS,
        "web": False,
    }


def _render_mjml(issue: Issue, context: dict[str, object]) -> str:
    try:
        return html_environment().get_template(HTML_TEMPLATE).render(issue=issue, **context)
    except jinja2.TemplateError as err:
        raise RenderError(f"{HTML_TEMPLATE}: {err}") from err


def _render_text(issue: Issue, context: dict[str, object]) -> str:
    try:
        return plaintext.render_text(issue, context)
    except jinja2.TemplateError as err:
        raise RenderError(f"{plaintext.TEXT_TEMPLATE}: {err}") from err


def _compile_mjml(source: str) -> str:
    try:
        # fonts={}: with the default, MRML links Google Fonts; we use system fonts only.
        return str(mjml.mjml2html(source, fonts={}))
    except ValueError as err:
        raise RenderError(f"{HTML_TEMPLATE}: MJML failed: {err}") from err


class _Inliner(premailer.Premailer):  # type: ignore[misc]  # premailer has no types
    """premailer, working out each stylesheet's rules once per process instead of per render.

    premailer keeps the parsed stylesheet (``cache_css_parsing``) but turns its declarations
    back into text on every ``transform``: 70 % of inlining an issue. A stylesheet's rules
    depend only on its text and its place in the page (``_parse_style_rules``), and the
    templates' few stylesheets are the same for every issue. The output is byte-identical.
    """

    @functools.lru_cache(maxsize=32)  # noqa: B019 - one instance, alive as long as the module
    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[Any, Any]:
        rules, leftover = super()._parse_style_rules(css_body, ruleset_index)
        return tuple(rules), tuple(leftover)  # shared between renders: nobody may change them


_INLINER = _Inliner(
    keep_style_tags=True,  # the @media rules (mobile, dark mode) live only there
    strip_important=False,  # dark mode needs !important to beat the inlined colours
    allow_network=False,
    # premailer copies text-align into align=, and "start" (for right-to-left titles)
    # is no align value; MJML already sets align= where Outlook needs it.
    disable_basic_attributes=["align"],
    cssutils_logging_level=logging.CRITICAL,  # vendor properties are not errors
)


def _inline_css(html: str) -> str:
    inlined = _INLINER.transform(html, pretty_print=False)
    # lxml drops the doctype; without it clients render in quirks mode.
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined
    return str(inlined)


def _finish_html(html: str) -> str:
    html = _PREVIEW_STYLE.sub(_HIDDEN_STYLE, html, count=1)
    parts = _RAW_HTML.split(html)
    # split() with one group: even indices are markup and text, odd ones CSS or comments.
    parts[::2] = [part.replace("{", "&#123;") for part in parts[::2]]
    return _insert_placeholders("".join(parts))


def _break_text_braces(text: str) -> str:
    return _TEXT_BRACE.sub("{" + WORD_JOINER, text)


def _finish_text(text: str) -> str:
    return _insert_placeholders(_break_text_braces(text))


def _insert_placeholders(rendered: str) -> str:
    for name, marker in _MARKERS.items():
        rendered = rendered.replace(marker, "{{" + name + "}}")
    return rendered
