"""The daily schedule: draft at DRAFT_TIME, send at SEND_TIME, give up at CUTOFF_TIME.

Times are wall-clock times in ``MORNINGPOST_TIMEZONE``, turned into instants with zoneinfo
for each local date, so a daylight-saving change moves them with the clock on the wall:
05:00 in London is 05:00 UTC in winter and 04:00 UTC in summer, every day including the day
of the change. A time that does not exist that day (the spring gap) happens one gap later
(01:30 -> 02:30); a time that happens twice (the autumn overlap) happens once, the first
time.

Why not ``schedule``'s own ``every().day.at(time, tz)`` (1.2.2)? It needs ``pytz``, which
is not installed (``ModuleNotFoundError`` at start-up); measured with pytz added, a job at
01:30 in Europe/London ran at 02:30 on the spring change day, then at 00:30 *and* 01:30 the
day after; and it reads the real wall clock, so tests would have to wait or patch it. The
library is used for what it does well, the steady tick of the long-running loop; what is
due is decided here, from a ``Clock``.

Each tick looks at the store, so a restarted scheduler picks up where the day is: it never
re-sends a sent issue, resumes an interrupted send, and never sends after the cut-off (a
morning newsletter must not arrive in the evening after an outage). A step that fails is
logged and tried again at the next tick; SIGTERM sets ``stop``, which ends a wait at once
and a send cleanly (calls in flight are recorded, nothing more goes out: the send
engine's stop flag), so the ledger is exact.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

import schedule

from emails.errors import ConfigError, LockHeld
from pipeline import jobs
from pipeline.context import Context
from pipeline.scheduling import daily
from pipeline.scheduling.clock import Clock, SystemClock, local_instant
from pipeline.settings import ENV_PREFIX, Settings
from subscribers.store.states import EditionState

log = logging.getLogger(__name__)

TICK = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class DayPlan:
    date: dt.date
    draft: dt.datetime
    send: dt.datetime
    cutoff: dt.datetime


@dataclass(frozen=True)
class DailyTimes:
    zone: ZoneInfo
    draft: dt.time
    send: dt.time
    cutoff: dt.time

    def __post_init__(self) -> None:
        if not self.draft <= self.send < self.cutoff:
            raise ConfigError(
                f"{ENV_PREFIX}DRAFT_TIME ({self.draft:%H:%M}) <= SEND_TIME ({self.send:%H:%M}) "
                f"< CUTOFF_TIME ({self.cutoff:%H:%M}) must hold"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> DailyTimes:
        return cls(settings.zone, settings.draft_time, settings.send_time, settings.cutoff_time)

    def on(self, day: dt.date) -> DayPlan:
        return DayPlan(
            day,
            local_instant(day, self.draft, self.zone),
            local_instant(day, self.send, self.zone),
            local_instant(day, self.cutoff, self.zone),
        )

    def today(self, now: dt.datetime) -> dt.date:
        """The local date at ``now``: it names the day's issue."""
        return now.astimezone(self.zone).date()


class Steps(Protocol):
    """What the scheduler does; the real ones run the pipeline, tests pass fakes."""

    def state(self, date: dt.date) -> EditionState | None: ...

    def draft(self, date: dt.date) -> None: ...

    def send(self, date: dt.date) -> bool:
        """Send the issue; True when every active subscriber has it."""
        ...


@dataclass
class _Day:
    """What this process has done about one date (the store knows the rest)."""

    drafted: bool = False
    finished: bool = False
    said: set[str] = field(default_factory=set)


class Scheduler:
    def __init__(
        self,
        steps: Steps,
        times: DailyTimes,
        *,
        require_approval: bool,
        clock: Clock | None = None,
        stop: threading.Event | None = None,
        tick: dt.timedelta = TICK,
    ) -> None:
        self.steps, self.times, self.require_approval = steps, times, require_approval
        self.clock = clock or SystemClock()
        self.stop = stop or threading.Event()
        self.tick_every = tick
        self._days: dict[dt.date, _Day] = {}

    def tick(self) -> None:
        """Do whatever is due now; never raises (a failure is logged and retried next tick)."""
        now = self.clock.now()
        plan = self.times.on(self.times.today(now))
        if now < plan.draft:
            return
        self._days = {d: v for d, v in self._days.items() if d >= plan.date}
        day = self._days.setdefault(plan.date, _Day())
        if day.finished:
            return
        try:
            self._due(plan, day, now)
        except LockHeld as err:
            log.info(
                "another process is on this issue; trying again next tick",
                extra={**_at(plan), "holder": str(err)},
            )
        except Exception:
            # Any failure (a source down, the store busy, a bug): log it whole, try again.
            log.exception("scheduled step failed; trying again next tick", extra=_at(plan))

    def _due(self, plan: DayPlan, day: _Day, now: dt.datetime) -> None:
        if now >= plan.cutoff:
            self._cut_off(plan, day)
            return
        if not day.drafted:
            self._draft(plan, day)
        if now >= plan.send:
            self._send(plan, day)

    def _draft(self, plan: DayPlan, day: _Day) -> None:
        state = self.steps.state(plan.date)
        if state is None or state is EditionState.DRAFT:
            log.info("drafting the issue", extra=_at(plan))
            self.steps.draft(plan.date)
            log.info("issue drafted and test copies sent", extra=_at(plan))
        day.drafted = True

    def _send(self, plan: DayPlan, day: _Day) -> None:
        state = self.steps.state(plan.date)
        if state is EditionState.SENT:
            day.finished = True
            return
        if state is EditionState.PAUSED:
            day.finished = True
            log.error(
                "the send is paused after errors; not resumed automatically: "
                "`morningpost send --date DATE` resumes it",
                extra=_at(plan),
            )
            return
        if state is EditionState.INCOMPLETE:
            day.finished = True
            log.error(
                "the send ended with deliveries unknown or failed; not retried "
                "automatically: `morningpost status --date DATE` lists them",
                extra=_at(plan),
            )
            return
        if self.require_approval and state not in (EditionState.APPROVED, EditionState.SENDING):
            self._say_once(day, "waiting", "waiting for approval (morningpost approve)", plan)
            return
        log.info("sending the issue", extra=_at(plan))
        if self.steps.send(plan.date):
            day.finished = True
            log.info("issue sent", extra=_at(plan))

    def _cut_off(self, plan: DayPlan, day: _Day) -> None:
        day.finished = True
        state = self.steps.state(plan.date)
        if state is EditionState.SENT:
            return
        if state in (EditionState.SENDING, EditionState.PAUSED, EditionState.INCOMPLETE):
            reason = f"the send began but did not finish (state {state})"
        elif self.require_approval and state is not EditionState.APPROVED:
            reason = "it was not approved"
        else:
            reason = "it could not be sent"
        log.error(
            f"gave up on today's issue: {reason} by the cut-off; it will not be sent "
            "automatically (`morningpost send --date DATE` sends it by hand)",
            extra={**_at(plan), "cutoff": plan.cutoff.isoformat(), "state": state},
        )

    def _say_once(self, day: _Day, key: str, message: str, plan: DayPlan) -> None:
        if key not in day.said:
            day.said.add(key)
            log.info(message, extra={**_at(plan), "until": plan.cutoff.isoformat()})

    def run_forever(self) -> None:
        """Tick on the ``schedule`` library's steady beat until ``stop`` is set."""
        seconds = max(int(self.tick_every.total_seconds()), 1)
        beat = schedule.Scheduler()
        beat.every(seconds).seconds.do(self.tick)
        log.info("scheduler started", extra=self._describe())
        self.tick()
        while not self.stop.is_set():
            beat.run_pending()
            idle = beat.idle_seconds
            if idle is None or idle > seconds:
                # ``schedule`` keeps naive local time: if the host clock went back (a DST
                # change on a host in local time, an NTP step) re-arm instead of stalling.
                beat.clear()
                beat.every(seconds).seconds.do(self.tick)
                idle = seconds
            self.clock.sleep(max(idle, 0.0), self.stop)
        log.info("scheduler stopped")

    def _describe(self) -> dict[str, str]:
        t = self.times
        return {
            "timezone": str(t.zone),
            "draft_time": f"{t.draft:%H:%M}",
            "send_time": f"{t.send:%H:%M}",
            "cutoff_time": f"{t.cutoff:%H:%M}",
            "approval": "required" if self.require_approval else "not required",
        }


def _at(plan: DayPlan) -> dict[str, str]:
    return {"date": plan.date.isoformat()}


class PipelineSteps:
    """The real steps, on one ``Context``: the store for the state, ``daily.draft`` and
    ``jobs.run``."""

    def __init__(self, ctx: Context, *, sample: bool, stop: threading.Event) -> None:
        self.ctx, self.sample, self.stop = ctx, sample, stop

    def state(self, date: dt.date) -> EditionState | None:
        return self.ctx.issue(date).state()

    def draft(self, date: dt.date) -> None:
        daily.draft(self.ctx, date, sample=self.sample)

    def send(self, date: dt.date) -> bool:
        ws = self.ctx.issue(date)
        report = jobs.run(self.ctx, ws, sample=self.sample, stop=self.stop).report
        log.info(
            "send stopped on request; the next run resumes it"
            if report.interrupted
            else "send finished",
            extra={
                "date": date.isoformat(),
                "delivered": report.delivered,
                "already": report.already,
                "failed": report.failed,
                "skipped": report.skipped,
                "unknown": report.unknown,
                "in_flight_elsewhere": report.in_flight,
                "paused": report.paused,
                "state": report.state,
            },
        )
        if report.failed or report.unknown:
            # Refusals (a rejected address) would fail again at every tick: leave them to
            # the operator (`morningpost send` retries them), as the issue says ``incomplete``.
            log.warning("some deliveries failed or are unknown", extra={"date": date.isoformat()})
        return not report.interrupted


def build(
    ctx: Context,
    *,
    sample: bool = False,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
) -> Scheduler:
    """The scheduler for ``ctx``'s settings, on the real pipeline."""
    stop = stop or threading.Event()
    settings = ctx.settings
    settings.require_secret_key()  # fail at start-up, not at the first send hours later
    return Scheduler(
        PipelineSteps(ctx, sample=sample, stop=stop),
        DailyTimes.from_settings(settings),
        require_approval=settings.require_approval,
        clock=clock,
        stop=stop,
    )
