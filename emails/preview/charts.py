"""The Stats tab's charts: SVG drawn on the server from ``IssueResults``, no script, no CDN.

Each chart is a small bar chart, one group of bars per issue (oldest on the left), with
optional dashed lines at the limits a rate must stay under. The SVG carries a ``<title>``
per bar, so hovering a bar shows its figure, and ``role="img"`` with a label for readers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from emails.deliverability import LIMITS, IssueResults, Level, percent

WIDTH, HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 14, 34


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Line:
    at: float
    label: str


def charts(results: Sequence[IssueResults]) -> list[tuple[str, Markup]]:
    """The Stats tab's charts, titled, for the issues in ``results`` (oldest first)."""
    labels = [r.date.strftime("%d %b") for r in results]
    rates = [r.rates() for r in results]
    limit = {limit.rate: limit for limit in LIMITS}
    return [
        ("Sent and delivered", bar_chart(labels, [
            Series("sent", "#b9b1a2", [r.sent for r in results]),
            Series("delivered", "#1e6b34", [r.delivered for r in results]),
        ])),
        ("Bounce rate (hard bounces / sent)", bar_chart(labels, [
            Series("bounce rate", "#8a5a00", [x["bounce"] for x in rates]),
        ], lines=_lines(limit["bounce"].levels), as_percent=True)),
        ("Complaint and spam rates", bar_chart(labels, [
            Series("complaints / sent", "#a1192e", [x["complaint"] for x in rates]),
            Series("complaints / delivered", "#e07b8a", [x["spam"] for x in rates]),
        ], lines=_lines(limit["complaint"].levels + limit["spam"].levels), as_percent=True)),
        ("Opens (people, and machines apart) and clicks", bar_chart(labels, [
            Series("opened by people", "#2f5d8a", [r.opened_human for r in results]),
            Series("machine opens only", "#9db7d3", [r.opened_machine for r in results]),
            Series("clicked", "#1c1b19", [r.clicked for r in results]),
        ])),
        ("Unsubscribed through this issue", bar_chart(labels, [
            Series("unsubscribed", "#5f584f", [r.unsubscribed for r in results]),
        ])),
    ]  # fmt: skip


def _lines(levels: Sequence[Level]) -> list[Line]:
    return [
        Line(level.at, f"{percent(level.at, 2 if level.at < 0.01 else 1)} {level.meaning}")
        for level in levels
    ]


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    lines: Sequence[Line] = (),
    as_percent: bool = False,
) -> Markup:
    """Grouped bars, one group per label, scaled to the largest value or limit line."""
    known = [v for s in series for v in s.values if v is not None]
    top = max([*known, *(line.at for line in lines), 0.0]) or 1.0
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    group = plot_w / max(len(labels), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    parts = [_axes(top, plot_w, plot_h, as_percent)]
    for i, label in enumerate(labels):
        x0 = _LEFT + i * group + group * 0.1
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            parts.append(_bar(x0 + j * bar, bar, value, top, plot_h, s, label, as_percent))
        if len(labels) <= 12 or i % max(len(labels) // 10, 1) == 0:
            parts.append(_text(x0 + group * 0.4, HEIGHT - _BOTTOM + 14, label, "middle"))
    parts += [_limit(line, i, top, plot_w, plot_h) for i, line in enumerate(lines)]
    parts.append(_legend(series))
    names = ", ".join(s.name for s in series)
    return Markup(  # noqa: S704 - every piece is built here from numbers and escaped text
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{html.escape(names)} per issue" class="chart">'
        + "".join(parts)
        + "</svg>"
    )


def _y(value: float, top: float, plot_h: float) -> float:
    return _TOP + plot_h - (value / top) * plot_h


def _axes(top: float, plot_w: float, plot_h: float, as_percent: bool) -> str:
    ticks = []
    for step in range(5):
        value = top * step / 4
        y = _y(value, top, plot_h)
        shown = percent(value, 2 if top < 0.05 else 1) if as_percent else f"{value:,.0f}"
        ticks.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e6e0d4" stroke-width="1"/>' + _text(_LEFT - 4, y + 4, shown, "end")
        )
    return "".join(ticks)


def _bar(
    x: float,
    width: float,
    value: float | None,
    top: float,
    plot_h: float,
    series: Series,
    label: str,
    as_percent: bool,
) -> str:
    if value is None:
        return ""
    y = _y(value, top, plot_h)
    shown = percent(value, 2) if as_percent else f"{value:,.0f}"
    tip = html.escape(f"{label} · {series.name}: {shown}")
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{_TOP + plot_h - y:.1f}" '
        f'fill="{series.colour}"><title>{tip}</title></rect>'
    )


def _limit(line: Line, index: int, top: float, plot_w: float, plot_h: float) -> str:
    y = _y(line.at, top, plot_h)
    # Labels of neighbouring lines alternate between the right and the left end.
    x, anchor = (_LEFT + plot_w - 2, "end") if index % 2 == 0 else (_LEFT + 4, "start")
    return (
        f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#a1192e" '
        f'stroke-dasharray="5 4" stroke-width="1.2"/>'
        + _text(x, y - 3, line.label, anchor, colour="#a1192e")
    )


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], float(_LEFT)
    for s in series:
        parts.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - 14}" width="10" height="10" fill="{s.colour}"/>'
            + _text(x + 14, HEIGHT - 5, s.name, "start")
        )
        x += 24 + 7 * len(s.name)
    return "".join(parts)


def _text(x: float, y: float, text: str, anchor: str, *, colour: str = "#5f584f") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11" '
        f'font-family="system-ui, sans-serif" fill="{colour}">{html.escape(text)}</text>'
    )
