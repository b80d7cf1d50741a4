"""One issue's results after the send, and the limits mailbox providers hold senders to.

``IssueResults`` is plain values (the store fills it in ``subscribers.feedback.results``);
the CLI prints it and the preview draws it. Rates and their limits:

* bounce rate = hard bounces / sent. SES reviews an account at 5 % and may pause its
  sending at 10 % (soft bounces are not counted by SES, nor here).
* complaint rate = complaints / sent. SES reviews at 0.1 % and may pause at 0.5 %.
* spam rate = complaints / delivered: the figure Gmail holds bulk senders under 0.3 % (and
  asks them to keep under 0.1 %). Gmail reports spam per sender only in Postmaster Tools,
  not per message to SES, so this is a floor of the real figure, not the figure itself.

A rate is *near* its limit from ``Limit.warn`` on (a little below the first level): the
operator gets a warning line before SES or Gmail act, not after.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Level:
    at: float  # a fraction: 0.05 is 5 %
    meaning: str


@dataclass(frozen=True)
class Limit:
    rate: str  # the key in ``IssueResults.rates()``
    label: str
    warn: float
    levels: tuple[Level, ...]


LIMITS = (
    Limit(
        "bounce",
        "bounce rate (hard bounces / sent)",
        warn=0.04,
        levels=(Level(0.05, "SES reviews the account"), Level(0.10, "SES may pause sending")),
    ),
    Limit(
        "complaint",
        "complaint rate (complaints / sent)",
        warn=0.0008,
        levels=(Level(0.001, "SES reviews the account"), Level(0.005, "SES may pause sending")),
    ),
    Limit(
        "spam",
        "spam rate (complaints / delivered)",
        warn=0.001,
        levels=(Level(0.003, "Gmail's limit for bulk senders"),),
    ),
)


@dataclass(frozen=True)
class IssueResults:
    """What became of one issue's messages; ``None`` where the figure was not tracked."""

    date: dt.date
    number: int | None
    sent: int
    delivered: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    rejected: int
    delayed: int
    unsubscribed: int
    opened_human: int | None = None  # None: no open or click tracked for this issue
    opened_machine: int | None = None
    clicked: int | None = None
    rendering_failed: int = 0  # SES could not render the template: these never went out

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    @property
    def tracked(self) -> bool:
        return self.opened_human is not None

    def rates(self) -> dict[str, float | None]:
        """Fractions (0.05 is 5 %); None when the denominator is zero or nothing was tracked."""
        sent, delivered = self.sent, self.delivered
        return {
            "delivery": _ratio(delivered, sent),
            "bounce": _ratio(self.bounced_hard, sent),
            "complaint": _ratio(self.complained, sent),
            "spam": _ratio(self.complained, delivered),
            "unsubscribe": _ratio(self.unsubscribed, delivered),
            "open": _ratio(self.opened_human, delivered),
            "click": _ratio(self.clicked, delivered),
        }

    def warnings(self) -> list[str]:
        """One line per rate near or over its limit."""
        rates = self.rates()
        found = []
        for limit in LIMITS:
            rate = rates[limit.rate]
            if rate is not None and rate >= limit.warn:
                found.append(_warning(self, limit, rate))
        if self.rendering_failed:
            found.append(
                f"issue of {self.date}: SES could not render {self.rendering_failed} "
                "message(s), which never went out (see `subscribers show` for the error)"
            )
        return found

    def as_json(self) -> dict[str, Any]:
        """The figures under their documented names (``morningpost stats --json``)."""
        return {
            "date": self.date.isoformat(),
            "number": self.number,
            "sent": self.sent,
            "delivered": self.delivered,
            "bounced": {"hard": self.bounced_hard, "soft": self.bounced_soft},
            "complained": self.complained,
            "rejected": self.rejected,
            "delayed": self.delayed,
            "unsubscribed": self.unsubscribed,
            "opened": (
                {"human": self.opened_human, "machine": self.opened_machine}
                if self.tracked
                else None
            ),
            "clicked": self.clicked,
            "rates": {name: _rounded(value) for name, value in self.rates().items()},
            "warnings": self.warnings(),
        }


def _ratio(part: int | None, whole: int) -> float | None:
    if part is None or whole <= 0:
        return None
    return part / whole


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def percent(value: float | None, digits: int = 1) -> str:
    """``0.0123`` -> ``"1.2 %"``; ``None`` -> ``"-"``."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _warning(results: IssueResults, limit: Limit, rate: float) -> str:
    passed = [level for level in limit.levels if rate >= level.at]
    first = limit.levels[0]
    digits = 2 if first.at < 0.01 else 1
    where = f"issue of {results.date}: {limit.label} is {percent(rate, digits)}"
    if passed:
        worst = passed[-1]
        return f"{where}, over {percent(worst.at, digits)}: {worst.meaning}"
    return f"{where}, near {percent(first.at, digits)}: {first.meaning} there"
