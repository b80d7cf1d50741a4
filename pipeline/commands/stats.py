"""``morningpost stats``: what became of one issue's messages, or of the last 30 issues.

The figures and how each is counted are described in ``subscribers.feedback.results``; the
rates and their limits in ``emails.deliverability``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence

import click

from emails.deliverability import LIMITS, IssueResults, percent
from emails.errors import IssueError
from pipeline.commands.options import pass_context
from pipeline.context import Context

_BARS = "▁▂▃▄▅▆▇█"


@click.command()
@click.option(
    "--date",
    "date_",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="One issue, YYYY-MM-DD (default: the last 30 issues that went out).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@pass_context
def stats(ctx: Context, date_: dt.datetime | None, as_json: bool) -> None:
    """Results per issue: sent, delivered, bounced, complained, rejected, delayed,
    unsubscribed, opened and clicked, with the rates SES and Gmail hold senders to.

    Counts come from the ledger and from the SES events `bounces` and the /sns webhook
    record. A warning line is printed for each rate near its limit.
    """
    from subscribers.feedback.results import issue_results, recent_results

    with ctx.engine.connect() as conn:
        if date_ is not None:
            found = issue_results(conn, date_.date())
            if found is None:
                raise IssueError(f"there is no issue of {date_.date()}", date=date_.date())
            results = [found]
        else:
            results = recent_results(conn)
    if as_json:
        if date_ is not None:
            click.echo(json.dumps(results[0].as_json()))
        else:
            click.echo(json.dumps({"issues": [r.as_json() for r in results]}))
        return
    lines = issue_lines(results[0]) if date_ is not None else table_lines(results)
    for line in lines:
        click.echo(line)


def issue_lines(r: IssueResults) -> list[str]:
    """One issue, for a person: a figure per line with its rate, then the limits."""
    rates = r.rates()
    number = f"#{r.number} " if r.number else ""
    lines = [f"Issue {number}of {r.date}", f"  {'sent':<13}{r.sent:>8,}"]
    rows = [
        ("delivered", r.delivered, f"{percent(rates['delivery'])} of sent"),
        ("bounced", r.bounced, f"hard {r.bounced_hard} ({percent(rates['bounce'])} of sent), "
                               f"soft {r.bounced_soft}"),
        ("complained", r.complained, f"{percent(rates['complaint'], 2)} of sent, "
                                     f"{percent(rates['spam'], 2)} of delivered"),
        ("rejected", r.rejected, "by SES (virus)"),
        ("delayed", r.delayed, "at least once"),
        ("unsubscribed", r.unsubscribed, f"{percent(rates['unsubscribe'])} of delivered"),
    ]  # fmt: skip
    lines += [f"  {name:<13}{n:>8,}   {note}" for name, n, note in rows]
    lines += _tracking_lines(r)
    lines.append("  limits: " + " · ".join(_limit(limit.rate, rates) for limit in LIMITS))
    lines += [f"warning: {w}" for w in r.warnings()]
    return lines


def _tracking_lines(r: IssueResults) -> list[str]:
    if not r.tracked:
        return [f"  {name:<13}{'-':>8}   not tracked" for name in ("opened", "clicked")]
    rates = r.rates()
    return [
        f"  {'opened':<13}{r.opened_human or 0:>8,}   {percent(rates['open'])} of delivered; "
        f"machine opens apart: {r.opened_machine or 0:,}",
        f"  {'clicked':<13}{r.clicked or 0:>8,}   {percent(rates['click'])} of delivered",
    ]


def _limit(rate: str, rates: dict[str, float | None]) -> str:
    limit = next(limit for limit in LIMITS if limit.rate == rate)
    digits = 2 if limit.levels[0].at < 0.01 else 1
    levels = " / ".join(percent(level.at, digits) for level in limit.levels)
    return f"{rate} {percent(rates[rate], digits)} (limit {levels})"


# -- the last issues ------------------------------------------------------------------------

def _maybe(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


_COLUMNS: tuple[tuple[str, Callable[[IssueResults], str]], ...] = (
    ("date", lambda r: r.date.isoformat()),
    ("#", lambda r: str(r.number or "")),
    ("sent", lambda r: f"{r.sent:,}"),
    ("delivered", lambda r: f"{r.delivered:,}"),
    ("hard", lambda r: f"{r.bounced_hard:,}"),
    ("soft", lambda r: f"{r.bounced_soft:,}"),
    ("bounce%", lambda r: percent(r.rates()["bounce"], 2).replace(" %", "")),
    ("complained", lambda r: f"{r.complained:,}"),
    ("spam%", lambda r: percent(r.rates()["spam"], 2).replace(" %", "")),
    ("rejected", lambda r: f"{r.rejected:,}"),
    ("delayed", lambda r: f"{r.delayed:,}"),
    ("unsub", lambda r: f"{r.unsubscribed:,}"),
    ("opened", lambda r: _maybe(r.opened_human)),
    ("machine", lambda r: _maybe(r.opened_machine)),
    ("clicked", lambda r: _maybe(r.clicked)),
)
_TRENDS: tuple[tuple[str, Callable[[IssueResults], float | None]], ...] = (
    ("delivered %", lambda r: r.rates()["delivery"]),
    ("bounce %", lambda r: r.rates()["bounce"]),
    ("spam %", lambda r: r.rates()["spam"]),
    ("unsubscribed", lambda r: float(r.unsubscribed)),
    ("opened %", lambda r: r.rates()["open"]),
)


def table_lines(results: Sequence[IssueResults]) -> list[str]:
    """The issues as a table (oldest first), a sparkline per rate, then any warnings."""
    if not results:
        return ["no issue went out yet"]
    cells = [[name for name, _ in _COLUMNS]] + [[cell(r) for _, cell in _COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = [_row(row, widths) for row in cells]
    lines.append("")
    lines.append(f"trend over {len(results)} issues (oldest → newest)")
    lines += [f"  {name:<13}{sparkline([value(r) for r in results])}" for name, value in _TRENDS]
    lines += [f"warning: {w}" for r in results for w in r.warnings()]
    return lines


def _row(cells: list[str], widths: list[int]) -> str:
    # Date and number to the left, figures to the right.
    pairs = enumerate(zip(cells, widths, strict=True))
    padded = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
    return "  ".join(padded).rstrip()


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled between the smallest and largest (all the
    lowest when they are all equal); ' ' for None."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if v is None else _BARS[round((v - low) / span * 7) if span else 0] for v in values
    )
