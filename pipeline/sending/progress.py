"""How a send shows its progress: a rich bar on a terminal, plain lines in a log.

Both are called from the sender threads after each batch; both are cheap (the bar redraws
on its own thread, ten times a second; the log writes a line every ``interval`` seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

from pipeline.sending.engine import Progress, SendReport
from pipeline.status import duration


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} msg/s")


class BarProgress:
    """A rich progress bar with the rate, the time left and the counts so far."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            speed_estimate_period=10.0,
        )
        self._task = self._bar.add_task("send", total=None, counts="")

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)
        self._bar.start()

    def update(self, report: SendReport) -> None:
        self._bar.update(self._task, completed=report.done, counts=_counts(report))

    def close(self, report: SendReport) -> None:
        self.update(report)
        self._bar.stop()


class LogProgress:
    """A plain line every ``interval`` seconds: for logs, where a bar would be noise."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write, self._interval, self._clock = write, interval, clock
        self._lock = threading.Lock()
        self._total = 0
        self._started = self._last = clock()

    def start(self, total: int) -> None:
        self._total = total
        self._started = self._last = self._clock()

    def update(self, report: SendReport) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last < self._interval:
                return
            self._last = now
        self._write(progress_line(report, self._total, now - self._started))

    def close(self, report: SendReport) -> None:
        pass  # the command prints the summary


def progress_line(report: SendReport, total: int, elapsed: float) -> str:
    """``sending: 1,200/20,000 (6%) 412 msg/s, eta 41s; sent 1,200, failed 0, ...``"""
    done = report.done
    rate = report.delivered / elapsed if elapsed > 0 else 0.0
    share = f" ({done / total:.0%})" if total else ""
    pace = done / elapsed if elapsed > 0 else 0.0
    eta = f", eta {duration((total - done) / pace)}" if pace > 0 and total > done else ""
    return f"sending: {done:,}/{total:,}{share} {rate:,.0f} msg/s{eta}; {_counts(report)}"


def for_stream(stream: IO[str]) -> Progress:
    """The bar when ``stream`` is a terminal, plain lines on it otherwise."""
    if stream.isatty():
        return BarProgress(Console(file=stream))
    return LogProgress(lambda line: print(line, file=stream, flush=True))


def _counts(report: SendReport) -> str:
    line = (
        f"sent {report.delivered:,}, failed {report.failed:,}, skipped {report.skipped:,}, "
        f"already {report.already:,}"
    )
    if report.elsewhere:
        line += f", elsewhere {report.elsewhere:,}"
    if report.passed_unknown:
        line += f", unknown {report.passed_unknown:,}"
    return line
