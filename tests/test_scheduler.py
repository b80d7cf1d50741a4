"""The daily scheduler, driven by a ManualClock: no real waiting anywhere."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.context import Context
from pipeline.scheduling import scheduler
from pipeline.scheduling.scheduler import DailyTimes, Scheduler, local_instant
from pipeline.settings import Settings
from pipeline.workspace import TEST_COPIES
from subscribers.store import editions
from subscribers.store.engine import open_store
from subscribers.store.states import EditionState
from tests.clocks import ManualClock, run_until
from tests.conftest import TEST_KEY

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
TICK = scheduler.TICK


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


class FakeSteps:
    """Records what the scheduler did and when; can fail on demand."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.states: dict[dt.date, str] = {}
        self.calls: list[tuple[str, dt.date, dt.datetime]] = []
        self.fail_next: dict[str, int] = {}

    def state(self, date: dt.date) -> str | None:
        return self.states.get(date)

    def _maybe_fail(self, step: str) -> None:
        if self.fail_next.get(step, 0) > 0:
            self.fail_next[step] -= 1
            raise RuntimeError(f"{step} exploded")

    def draft(self, date: dt.date) -> None:
        self._maybe_fail("draft")
        self.calls.append(("draft", date, self.clock.now()))
        self.states[date] = EditionState.DRAFT

    def send(self, date: dt.date) -> bool:
        self._maybe_fail("send")
        self.calls.append(("send", date, self.clock.now()))
        self.states[date] = EditionState.SENT
        return True

    def when(self, step: str) -> list[dt.datetime]:
        return [at for name, _, at in self.calls if name == step]


def make(
    start: dt.datetime,
    *,
    approval: bool = False,
    times: tuple[dt.time, dt.time, dt.time] = (dt.time(5), dt.time(6, 30), dt.time(10)),
) -> tuple[Scheduler, FakeSteps, ManualClock]:
    clock = ManualClock(start)
    steps = FakeSteps(clock)
    runner = Scheduler(
        steps, DailyTimes(LONDON, *times), require_approval=approval, clock=clock, tick=TICK
    )
    return runner, steps, clock


def assert_on_time(actual: dt.datetime, due: dt.datetime) -> None:
    assert due <= actual < due + TICK, (actual, due)


# --- local times to instants --------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (dt.date(2026, 1, 15), dt.time(5), utc(2026, 1, 15, 5)),  # GMT
        (dt.date(2026, 7, 15), dt.time(5), utc(2026, 7, 15, 4)),  # BST
        (dt.date(2026, 3, 29), dt.time(5), utc(2026, 3, 29, 4)),  # spring change day: BST
        (dt.date(2026, 10, 25), dt.time(5), utc(2026, 10, 25, 5)),  # autumn change day: GMT
        # 01:30 does not exist on 29 March: it happens one gap later, 02:30 BST.
        (dt.date(2026, 3, 29), dt.time(1, 30), utc(2026, 3, 29, 1, 30)),
        # 01:30 happens twice on 25 October: the first time (BST) counts.
        (dt.date(2026, 10, 25), dt.time(1, 30), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_local_instant(day: dt.date, at: dt.time, expected: dt.datetime) -> None:
    assert local_instant(day, at, LONDON) == expected


@given(
    day=st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
    at=st.times(),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_local_instant_reads_back_as_the_wall_time_or_one_gap_later(
    day: dt.date, at: dt.time, zone: str
) -> None:
    tz = ZoneInfo(zone)
    instant = local_instant(day, at, tz)
    back = instant.astimezone(tz)
    wall = dt.datetime.combine(day, at)
    # Exactly the wall time, or (in a spring gap) later by at most the gap, never earlier.
    assert dt.timedelta(0) <= back.replace(tzinfo=None) - wall <= dt.timedelta(hours=1)


def test_times_must_be_in_order() -> None:
    with pytest.raises(Exception, match="DRAFT_TIME"):
        DailyTimes(LONDON, dt.time(7), dt.time(6, 30), dt.time(10))


# --- the day -------------------------------------------------------------------------------


def test_draft_then_send_once_each() -> None:
    runner, steps, _ = make(utc(2026, 11, 26, 23))
    run_until(runner, utc(2026, 11, 27, 23))
    assert [name for name, _, _ in steps.calls] == ["draft", "send"]
    day = dt.date(2026, 11, 27)
    assert {d for _, d, _ in steps.calls} == {day}
    assert_on_time(steps.when("draft")[0], utc(2026, 11, 27, 5))
    assert_on_time(steps.when("send")[0], utc(2026, 11, 27, 6, 30))


def test_nothing_before_the_draft_time() -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 0))
    run_until(runner, utc(2026, 11, 27, 4, 59))
    assert steps.calls == []


def test_approval_required_and_missing_gives_up_at_the_cutoff_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 4), approval=True)
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling.scheduler"):
        run_until(runner, utc(2026, 11, 27, 23))
    assert [name for name, _, _ in steps.calls] == ["draft"]
    gave_up = [r for r in caplog.records if r.getMessage().startswith("gave up")]
    assert len(gave_up) == 1
    assert "not approved" in gave_up[0].getMessage()
    assert gave_up[0].levelno == logging.ERROR
    waiting = [r for r in caplog.records if r.getMessage().startswith("waiting for approval")]
    assert len(waiting) == 1  # said once, not at every tick


def test_approval_that_arrives_late_sends_at_the_next_tick() -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 4), approval=True)
    run_until(runner, utc(2026, 11, 27, 8))
    assert [name for name, _, _ in steps.calls] == ["draft"]
    steps.states[dt.date(2026, 11, 27)] = EditionState.APPROVED
    run_until(runner, utc(2026, 11, 27, 12))
    assert [name for name, _, _ in steps.calls] == ["draft", "send"]
    assert_on_time(steps.when("send")[0], utc(2026, 11, 27, 8))


def test_approved_before_send_time_sends_at_send_time() -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 4), approval=True)
    run_until(runner, utc(2026, 11, 27, 6))
    steps.states[dt.date(2026, 11, 27)] = EditionState.APPROVED
    run_until(runner, utc(2026, 11, 27, 12))
    assert_on_time(steps.when("send")[0], utc(2026, 11, 27, 6, 30))


def test_started_after_the_cutoff_neither_drafts_nor_sends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 11))
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling.scheduler"):
        run_until(runner, utc(2026, 11, 27, 23))
    assert steps.calls == []
    assert sum(r.getMessage().startswith("gave up") for r in caplog.records) == 1


def test_started_late_but_before_the_cutoff_catches_up() -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 7))
    run_until(runner, utc(2026, 11, 27, 8))
    assert [name for name, _, _ in steps.calls] == ["draft", "send"]
    assert_on_time(steps.when("send")[0], utc(2026, 11, 27, 7))


def test_an_issue_already_sent_is_left_alone() -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 4))
    steps.states[dt.date(2026, 11, 27)] = EditionState.SENT
    run_until(runner, utc(2026, 11, 27, 23))
    assert steps.calls == []


def test_a_paused_send_is_not_resumed_automatically(caplog: pytest.LogCaptureFixture) -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 6))
    steps.states[dt.date(2026, 11, 27)] = EditionState.PAUSED
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling.scheduler"):
        run_until(runner, utc(2026, 11, 27, 23))
    assert steps.calls == []
    assert sum("paused" in r.getMessage() for r in caplog.records) == 1


def test_an_incomplete_send_is_left_to_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 6))
    steps.states[dt.date(2026, 11, 27)] = EditionState.INCOMPLETE
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling.scheduler"):
        run_until(runner, utc(2026, 11, 27, 23))
    assert steps.calls == []
    assert sum("unknown or failed" in r.getMessage() for r in caplog.records) == 1


def test_a_job_that_raises_is_logged_and_retried_next_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner, steps, _ = make(utc(2026, 11, 27, 4))
    steps.fail_next = {"draft": 2, "send": 1}
    with caplog.at_level(logging.INFO, logger="pipeline.scheduling.scheduler"):
        run_until(runner, utc(2026, 11, 27, 12))
    assert [name for name, _, _ in steps.calls] == ["draft", "send"]
    assert_on_time(steps.when("draft")[0], utc(2026, 11, 27, 5) + 2 * TICK)
    assert_on_time(steps.when("send")[0], utc(2026, 11, 27, 6, 30) + TICK)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.exc_info and "exploded" in str(r.exc_info[1]) for r in failures)


def test_each_day_gets_its_own_issue() -> None:
    runner, steps, _ = make(utc(2026, 11, 26, 12))
    run_until(runner, utc(2026, 11, 30, 12))
    days = [d for name, d, _ in steps.calls if name == "send"]
    assert days == [dt.date(2026, 11, d) for d in (27, 28, 29, 30)]


def test_stop_ends_the_loop() -> None:
    runner, steps, clock = make(utc(2026, 11, 27, 4))
    runner.stop.set()
    run_until(runner, utc(2026, 11, 27, 12))
    assert steps.calls == []
    assert clock.now() == utc(2026, 11, 27, 4)


# --- daylight saving -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected_drafts"),
    [
        # Spring: the clocks go forward on Sunday 29 March 2026 at 01:00 GMT.
        (
            utc(2026, 3, 27, 12),
            [utc(2026, 3, 28, 5), utc(2026, 3, 29, 4), utc(2026, 3, 30, 4)],
        ),
        # Autumn: back on Sunday 25 October 2026 at 01:00 GMT.
        (
            utc(2026, 10, 23, 12),
            [utc(2026, 10, 24, 4), utc(2026, 10, 25, 5), utc(2026, 10, 26, 5)],
        ),
    ],
)
def test_dst_change_keeps_the_local_time(
    start: dt.datetime, expected_drafts: list[dt.datetime]
) -> None:
    runner, steps, _ = make(start)
    run_until(runner, start + dt.timedelta(days=3))
    drafts = steps.when("draft")
    assert len(drafts) == len(expected_drafts)
    for actual, due in zip(drafts, expected_drafts, strict=True):
        assert_on_time(actual, due)
        assert actual.astimezone(LONDON).strftime("%H:%M") == "05:00"
    sends = steps.when("send")
    assert [s.astimezone(LONDON).strftime("%H:%M") for s in sends] == ["06:30"] * 3


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 01:30 does not exist on 29 March: that day it runs at 02:30, then 01:30 again.
        (utc(2026, 3, 27, 12), ["01:30 GMT", "02:30 BST", "01:30 BST", "01:30 BST"]),
        # 01:30 happens twice on 25 October: it runs the first time only.
        (utc(2026, 10, 23, 12), ["01:30 BST", "01:30 BST", "01:30 GMT", "01:30 GMT"]),
    ],
)
def test_times_in_the_spring_gap_or_autumn_overlap_run_once_a_day(
    start: dt.datetime, expected: list[str]
) -> None:
    # `schedule` 1.2.2's .at("01:30", tz) ran at 00:30 and 01:30 the day after the change.
    runner, steps, _ = make(start, times=(dt.time(1, 30), dt.time(1, 45), dt.time(3)))
    run_until(runner, start + dt.timedelta(days=4))
    drafts = steps.when("draft")
    assert [d.astimezone(LONDON).strftime("%H:%M %Z") for d in drafts] == expected
    assert len(steps.when("send")) == 4


# --- the real steps, on sample data and the outbox ----------------------------------------


def test_real_steps_draft_test_copy_approve_send(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = Settings(
        data_dir=data,
        secret_key=TEST_KEY,
        require_approval=True,
        editors=["editor@example.com"],  # a bad address is refused with the settings now
    )
    clock = ManualClock(utc(2026, 11, 27, 4, 59))
    runner = scheduler.build(Context(settings), sample=True, clock=clock)
    day = dt.date(2026, 11, 27)
    run_until(runner, utc(2026, 11, 27, 7))
    copies = list((data / "outbox" / "2026-11-27" / TEST_COPIES).glob("*.eml"))
    assert len(copies) == 1
    assert b"editor@example.com" in copies[0].read_bytes()
    assert not list((data / "outbox" / "2026-11-27").glob("*.eml"))  # not approved: none sent
    engine = open_store(settings.store_url)
    with engine.begin() as conn:
        assert editions.state(conn, day) == EditionState.DRAFT
        editions.approve(conn, day, by="ed")
    run_until(runner, utc(2026, 11, 27, 8))
    assert len(list((data / "outbox" / "2026-11-27").glob("*.eml"))) == 5
    with engine.connect() as conn:
        assert editions.state(conn, day) == EditionState.SENT
