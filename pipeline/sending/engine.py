"""The send engine: every active subscriber gets the issue once, recorded in the ledger.

    seeder thread ──► ledger rows ``pending`` ──► N sender threads ──► transport
    (anti-join: rows for the      (the queue,     limiter ─► claim next (1 tx) ─►
     subscribers without one)      any worker)    build ─► call ─► ledger writer thread
                                                                   (several calls, 1 tx)

* Workers cooperate: any number of processes (on one machine or many, sharing a
  PostgreSQL store) send one issue together. Each claims its next call's rows from the
  ledger (``feed``; SKIP LOCKED on PostgreSQL), so they split the list without walking it,
  and each takes its share of the account's rate (``pace``: the rate over the runs
  sending, re-read every second by the heartbeat).
* Exactly once, across any number of processes: a call's ledger rows go to ``sending``
  for this run's owner (``host:pid:run``) with a lease, in one transaction, only once the
  rate limiter granted the call, re-reading each subscriber's status (whoever left
  meanwhile is ``skipped``); they go to ``sent``/``failed`` after the call, recorded by one
  writer thread. A heartbeat renews the leases of the rows in flight. Rows another
  process holds under a live lease are never taken; rows whose lease ran out are
  *unknown* and only a resend takes them. A kill leaves unknown at most the calls in
  flight and those answered but not yet recorded.
* Concurrency: threads sized by Little's law from the run's rate and the latency each
  call is seen to take (``pace``), unless ``SendOptions.concurrency`` sets it.
* A reader whose message cannot be built (an address an older release let in, say) fails
  alone, with the reason; the send goes on.
* Rate: one token bucket for all threads; SES throttling (429) and server errors are
  retried with exponential backoff and full jitter, throttling also halves the rate. Rows
  waiting for a retry are back in ``pending``, not held.
* Stop: a stop flag (pause, Ctrl-C, SIGTERM) ends the claims; a call in flight is
  finished and recorded.
* Too many consecutive errors pause the send (edition state ``paused``, the reason kept
  with the run); a re-run resumes. A send that went through the list concludes the
  issue: ``sent`` if every delivery is settled, else ``incomplete`` (see ``editions``);
  while other workers still have calls in flight, the last of them concludes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from emails.errors import (
    DeliveryUnknown,
    SendingBlocked,
    StoreError,
    TemporaryFailure,
    Throttled,
    TransportError,
)
from emails.message import Recipient
from emails.transports.base import Outcome, Transport
from pipeline.sending import pace
from pipeline.sending.feed import Feed, Where
from pipeline.sending.heartbeat import Heartbeat
from pipeline.sending.mailing import Mailing
from pipeline.sending.ratelimit import Limiter, TokenBucket, Unlimited, backoff_delay
from pipeline.sending.writer import NOTHING, Recording, Writer
from subscribers.store import editions, ledger, sendruns
from subscribers.store.ledger import Outcomes
from subscribers.store.roster import Subscriber, count
from subscribers.store.stamps import now as utc_now
from subscribers.store.states import EditionState, RunState, SubscriberStatus

log = logging.getLogger(__name__)

_STOPPED = "the send stopped before this message was handed over"
# Long enough to outlive a stalled store write and the longest call (SES: 10 s to connect,
# 60 s to read), short enough that a dead process's deliveries are resendable soon.
DEFAULT_LEASE = dt.timedelta(minutes=2)

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class SendOptions:
    # Sender threads, which also bound the unknowns after a crash; None: sized from the
    # rate and the latency seen (``pace.threads_for``).
    concurrency: int | None = None
    max_rate: float | None = None  # the account's messages per second; None = no limit
    resend_unknown: bool = False  # claim rows whose owner is gone (lease run out)
    max_attempts: int = 8  # per batch, for throttling, 5xx and per-entry transient failures
    max_consecutive_errors: int = 20  # failed calls in a row (429 excluded) before pausing
    backoff_base: float = 0.1  # seconds
    backoff_cap: float = 10.0  # seconds
    lease: dt.timedelta = DEFAULT_LEASE  # how long a claimed row is ours without a heartbeat


@dataclass
class SendReport:
    delivered: int = 0  # handed over this run (``sent`` in the ledger)
    failed: int = 0  # refused this run, or could not be built (``failed``: a re-run retries)
    skipped: int = 0  # no longer active when their turn came (``skipped``)
    already: int = 0  # sent (or skipped) before this run: not sent again
    elsewhere: int = 0  # another live process had them in flight (or took them first)
    passed_unknown: int = 0  # unknown when their turn came, left alone (no resend asked)
    unknown: int = 0  # once the run ended: deliveries of the issue whose fate is unknown
    in_flight: int = 0  # once the run ended: deliveries other processes still have in flight
    seconds: float = 0.0
    paused: str | None = None  # why the send paused, if it did
    interrupted: bool = False
    state: EditionState | None = None  # the issue's state once the run ended
    owner: str = ""  # host:pid:run, as the ledger and ``status`` name this run

    @property
    def done(self) -> int:
        """Readers this run is through with, whatever became of them."""
        return (
            self.delivered
            + self.failed
            + self.skipped
            + self.already
            + self.elsewhere
            + self.passed_unknown
        )

    @property
    def rate(self) -> float:
        """Messages handed over per second of the run."""
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


class Progress(Protocol):
    """Where the engine reports how far it got; called from the sender threads."""

    def start(self, total: int) -> None: ...

    def update(self, report: SendReport) -> None: ...

    def close(self, report: SendReport) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def update(self, report: SendReport) -> None:
        pass

    def close(self, report: SendReport) -> None:
        pass


def send_issue(
    engine: Engine,
    transport: Transport,
    mailing: Mailing,
    *,
    dry_run: bool = False,
    options: SendOptions | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    owner: str | None = None,
    clock: Clock = utc_now,
) -> SendReport:
    """Deliver ``mailing`` to every active subscriber who does not have it yet.

    ``dry_run`` goes through everything (reading, batching, building each request) but the
    transport and the ledger. Setting ``stop`` ends the send early and cleanly. ``owner``
    names this run in the ledger (default ``host:pid:run``); ``clock`` tells the leases'
    time.
    """
    run = _Run(
        engine,
        transport,
        mailing,
        options or SendOptions(),
        dry_run=dry_run,
        stop=stop,
        owner=owner or sendruns.new_owner(),
        clock=clock,
    )
    return run.execute(progress or NoProgress())


@dataclass
class _Results:
    """A call's outcome, as the ledger records it."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    released: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)

    def fail(self, group: Sequence[Recipient], reason: str) -> None:
        self.failed += [(r.key, reason) for r in group]

    def release(self, group: Sequence[Recipient], reason: str) -> None:
        self.released += [(r.key, reason) for r in group]

    def lose(self, group: Sequence[Recipient], reason: str) -> None:
        self.unknown += [(r.key, reason) for r in group]

    def outcomes(self) -> Outcomes:
        return Outcomes(self.sent, self.failed, self.released, self.unknown)


@dataclass(frozen=True)
class _Attempt:
    group: list[Recipient]  # recipients to hand over in one call
    attempts: int = 0  # calls made for them so far
    delay: float = 0.0  # seconds to wait first (backoff)


class _Run:
    """One run of the engine: the seeder, the senders, the writer, and what they share."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        mailing: Mailing,
        options: SendOptions,
        *,
        dry_run: bool,
        stop: threading.Event | None,
        owner: str,
        clock: Clock,
    ) -> None:
        self.engine, self.transport, self.mailing = engine, transport, mailing
        self.options, self.dry_run = options, dry_run
        self.owner, self.clock = owner, clock
        self.campaign = mailing.campaign
        self.size = transport.batch_size
        self.stop = stop or threading.Event()
        # Set once this run will claim nothing more (the queue is empty for it, or it
        # stopped): the threads waiting for the rate limiter end at once instead of each
        # waiting for tokens only to find the queue empty (seconds, with many threads).
        self.halt = threading.Event()
        self.rate = options.max_rate if options.max_rate and not dry_run else None
        self.limiter: Limiter = (
            TokenBucket(self.rate, burst=_burst(self.rate, self.size)) if self.rate else Unlimited()
        )
        self.latency = pace.Latency()
        self.report = SendReport(owner=owner)
        self.lock = threading.Lock()
        self.streak = 0
        self.crash: BaseException | None = None
        self.progress: Progress = NoProgress()
        self.senders: list[threading.Thread] = []
        self.feed = Feed(
            engine,
            Where(mailing.date, owner, options.lease, clock(), options.resend_unknown),
            clock=clock,
            stop=self.stop,
        )
        self.writer = Writer(
            engine,
            mailing.date,
            owner,
            clock=clock,
            on_recorded=self._recorded,
            on_error=self._crashed,
        )
        self.heartbeat = Heartbeat(
            engine,
            mailing.date,
            owner,
            lease=options.lease,
            counts=self._counts,
            on_lost=self._pause,
            clock=clock,
            on_share=self._share if self.rate else None,
        )

    # -- the whole run -------------------------------------------------------------------

    def execute(self, progress: Progress) -> SendReport:
        self.progress = progress
        started = time.perf_counter()
        total = self._total()
        if not self.dry_run:
            self._begin(total)
        progress.start(total)
        if self.dry_run:
            self._rehearse()
        else:
            self._send()
        self.report.seconds = time.perf_counter() - started
        self._conclude()
        progress.close(self.report)
        return self.report

    def _begin(self, total: int) -> None:
        with self.engine.begin() as conn:
            editions.move(conn, self.mailing.date, EditionState.SENDING)
            sendruns.start(
                conn,
                self.mailing.date,
                self.owner,
                total=total,
                resend_unknown=self.options.resend_unknown,
                now=self.clock(),
                lease=self.options.lease,
            )
            before = ledger.tally(conn, self.mailing.date, now=self.clock())
        # What this run will not send, as the ledger stood when it started.
        self.report.already = before.sent + before.skipped
        self.report.elsewhere = before.in_flight
        self.report.passed_unknown = 0 if self.options.resend_unknown else before.unknown
        self.heartbeat.share()  # the rate's share before the first call, not a second later
        self.heartbeat.start()

    def _send(self) -> None:
        seeder = threading.Thread(target=self._seed, name="send-seeder", daemon=True)
        self.writer.start()
        seeder.start()
        self._grow()
        try:
            self._join([seeder])
        finally:
            self.writer.close()
            self.heartbeat.stop()

    def _join(self, others: list[threading.Thread]) -> None:
        try:
            while alive := [t for t in [*others, *self._senders()] if t.is_alive()]:
                alive[0].join(0.2)  # short joins keep Ctrl-C deliverable
                if self.stop.is_set():  # set from outside (SIGTERM): wake the waiting threads
                    self.halt.set()
        except KeyboardInterrupt:
            log.warning("interrupted: finishing the calls in flight, sending nothing more")
            self.report.interrupted = True
            self.stop.set()
            self.halt.set()
            for thread in [*others, *self._senders()]:
                thread.join()

    def _senders(self) -> list[threading.Thread]:
        with self.lock:
            return list(self.senders)

    def _grow(self) -> None:
        """Start sender threads until there are as many as the rate and latency call for."""
        want = self.options.concurrency or pace.threads_for(
            self.rate, self.latency.seconds, self.size
        )
        with self.lock:
            while len(self.senders) < want and not self.stop.is_set():
                thread = threading.Thread(
                    target=self._work, name=f"send-{len(self.senders)}", daemon=True
                )
                self.senders.append(thread)
                thread.start()

    def _share(self, runs: int) -> None:
        """``runs`` are sending on the account now: take this run's part of its rate."""
        if self.options.max_rate is None:
            return
        rate = pace.share(self.options.max_rate, runs)
        if rate != self.rate:
            self.rate = rate
            self.limiter.set_ceiling(rate, burst=_burst(rate, self.size))
            self._grow()

    def _conclude(self) -> None:
        if self.crash is not None:
            self._end_after_crash()
        if isinstance(self.crash, SQLAlchemyError):
            raise StoreError(f"the send stopped: {_one_line(self.crash)}") from self.crash
        if self.crash is not None:
            raise self.crash
        if self.dry_run:
            return
        if self.stop.is_set() and not self.report.paused:
            self.report.interrupted = True  # stopped from outside: the issue stays ``sending``
        try:
            self._settle()
        except SQLAlchemyError as err:
            raise StoreError(f"the send ended but was not recorded: {_one_line(err)}") from err

    def _settle(self) -> None:
        """Record how the run ended and move the issue accordingly, in one transaction."""
        with self.engine.begin() as conn:
            self._record_end(conn)
            at = self.clock()
            if self.report.paused:
                editions.move(conn, self.mailing.date, EditionState.PAUSED)
                self.report.state = editions.state(conn, self.mailing.date)
            elif self.report.interrupted:
                self.report.state = editions.state(conn, self.mailing.date)
            else:
                self.report.state = editions.conclude(conn, self.mailing.date, at=at)
            counts = ledger.tally(conn, self.mailing.date, now=at)
        self.report.unknown, self.report.in_flight = counts.unknown, counts.in_flight

    def _record_end(self, conn: Connection) -> None:
        # Rows still ours were given up on (no answer): unknown now, not at lease's end.
        ledger.give_up(conn, self.mailing.date, self.owner)
        state = (
            RunState.PAUSED
            if self.report.paused
            else RunState.STOPPED
            if self.report.interrupted
            else RunState.FINISHED
        )
        sendruns.end(
            conn, self.owner, state, self._counts(), now=self.clock(), reason=self.report.paused
        )

    def _end_after_crash(self) -> None:
        if self.dry_run:
            return
        self.report.interrupted = True
        try:
            with self.engine.begin() as conn:
                self._record_end(conn)
        except SQLAlchemyError:  # the store is what failed: the leases run out on their own
            log.warning("could not record the end of the send; its leases expire by themselves")

    def _total(self) -> int:
        with self.engine.connect() as conn:
            return count(conn, SubscriberStatus.ACTIVE)

    # -- the seeder ----------------------------------------------------------------------

    def _seed(self) -> None:
        try:
            self.feed.seed()
        except BaseException as err:  # noqa: BLE001 - whatever it is, the senders must stop
            self._crashed(err)

    # -- a dry run: everything but the transport and the ledger ---------------------------

    def _rehearse(self) -> None:
        unsent = ledger.iter_unsent(
            self.engine,
            self.mailing.date,
            now=self.clock(),
            resend_unknown=self.options.resend_unknown,
        )
        for batch in _batches(unsent, self.size):
            if self.stop.is_set():
                return
            recipients, broken = self._build(batch)
            if recipients:
                self.transport.prepare(self.campaign, recipients)
            self._count(delivered=len(recipients), failed=len(broken))

    # -- the senders ---------------------------------------------------------------------

    def _work(self) -> None:
        last = NOTHING
        try:
            while not self.stop.is_set() and (recording := self._next_call(last)):
                last = recording
        except BaseException as err:  # noqa: BLE001 - a store failure: stop the run
            self._crashed(err)
        last.wait()

    def _next_call(self, last: Recording) -> Recording | None:
        """Wait for the limiter, claim the next call's rows and send them; return how its
        outcome is being recorded, None once the queue is empty for this run (or it
        stopped).

        The last call's outcome must be in the store before the next claim: a kill then
        leaves at most one call per thread unrecorded (unknown).
        """
        if not self.limiter.acquire(self.size, self.halt):
            return None
        last.wait()
        began = time.perf_counter()
        taken = self.feed.claim(self.size)
        if taken is None:
            self.limiter.refund(self.size)
            self.halt.set()
            return None
        self.limiter.refund(self.size - len(taken.claimed))
        if taken.skipped:
            self._count(skipped=taken.skipped)
        if not taken.claimed:
            return NOTHING
        return self._first_call(taken.claimed, began)

    def _first_call(self, subscribers: list[Subscriber], began: float) -> Recording:
        """Send the rows just claimed; retry what must be retried (claimed again by id)."""
        recipients, broken = self._build(subscribers)
        results = _Results(failed=broken)
        retry = self._attempt(recipients, 0, results) if recipients else []
        recording = self._record(results)
        self.latency.observe(time.perf_counter() - began)
        self._grow()
        if retry:
            self._retry(retry)
        return recording

    def _retry(self, retry: list[_Attempt]) -> None:
        todo = deque(retry)
        while todo:
            attempt = todo.popleft()
            if attempt.delay and self.stop.wait(attempt.delay):
                return  # its rows were released before the wait: they are ``pending``
            if self.stop.is_set():
                return  # nothing claimed: the rows stay as they were
            group = self._claim(attempt.group)
            if group:
                todo.extend(self._call(_Attempt(group, attempt.attempts)))

    def _build(
        self, subscribers: list[Subscriber]
    ) -> tuple[list[Recipient], list[tuple[int, str]]]:
        """Each reader's part of the message; one that cannot be built fails alone."""
        recipients: list[Recipient] = []
        broken: list[tuple[int, str]] = []
        for subscriber in subscribers:
            try:
                recipients.append(self.mailing.recipient(subscriber))
            except Exception as err:  # noqa: BLE001 - one reader's copy must not stop the send
                broken.append((subscriber.id, f"could not build the message: {_describe(err)}"))
        for i, reason in broken:
            log.error("delivery failed before its call: %s", reason, extra={"subscriber": i})
        return recipients, broken

    def _claim(self, group: list[Recipient]) -> list[Recipient]:
        """A retry: once the limiter grants the call, claim its rows again by id; return the
        recipients now ours."""
        if not self.limiter.acquire(len(group), self.stop):
            return []  # stopped while waiting: nothing of this call goes out
        with self.engine.begin() as conn:
            claim = ledger.claim_batch(
                conn,
                self.mailing.date,
                [r.key for r in group],
                owner=self.owner,
                now=self.clock(),
                lease=self.options.lease,
                resend_unknown=self.options.resend_unknown,
            )
        ours = [r for r in group if r.key in claim.claimed]
        self.limiter.refund(len(group) - len(ours))
        self._count(skipped=len(claim.skipped), elsewhere=claim.left)
        return ours

    def _call(self, attempt: _Attempt) -> list[_Attempt]:
        """Hand ``attempt`` over once and record what became of it; return what must be
        tried again (its rows released: nobody holds a row while it waits)."""
        results = _Results()
        retry = self._attempt(attempt.group, attempt.attempts, results)
        self._record(results).wait()  # a retry's outcome is recorded before the next claim
        return retry

    def _record(self, results: _Results) -> Recording:
        # Released rows are claimed again by id right after (a retry): they must be
        # ``pending`` in the store by then. The rest is recorded while the thread goes on.
        recording = self.writer.record(results.outcomes())
        if results.released:
            recording.wait()
        return recording

    def _recorded(self, outcomes: Outcomes) -> None:
        self._count(delivered=len(outcomes.sent), failed=len(outcomes.failed))

    def _attempt(self, group: list[Recipient], attempts: int, results: _Results) -> list[_Attempt]:
        try:
            outcomes = self.transport.send_batch(self.campaign, group)
        except Throttled as err:
            self.limiter.slow_down()  # throttling is a request to slow down, not an error
            return self._again(group, attempts, err, results)
        except TemporaryFailure as err:
            self._error(err)
            return self._again(group, attempts, err, results)
        except DeliveryUnknown as err:
            # Unknown from now on: listed by status, resent only when asked.
            self._error(err)
            log.warning("%d deliveries left unknown: %s", len(group), err)
            results.lose(group, str(err))
            return []
        except SendingBlocked as err:
            self._pause(str(err))
            results.release(group, str(err))
            return []
        except TransportError as err:
            return self._refused(group, attempts, err, results)
        except Exception as err:  # a transport's bug: what left is unknown
            log.exception("the transport failed; %d deliveries left unknown", len(group))
            reason = f"the transport failed: {_describe(err)}"
            self._error(TransportError(reason))
            results.lose(group, reason)
            return []
        self._succeeded()
        return self._sort(group, outcomes, attempts, results)

    def _refused(
        self, group: list[Recipient], attempts: int, err: TransportError, results: _Results
    ) -> list[_Attempt]:
        # The whole call was refused; if one bad recipient caused it, halving finds it and
        # the others still go. A refusal that hits everyone trips the error streak instead.
        self._error(err)
        if len(group) > 1:
            half = len(group) // 2
            results.release(group, str(err))
            return [_Attempt(group[:half], attempts), _Attempt(group[half:], attempts)]
        results.fail(group, str(err))
        return []

    def _sort(
        self,
        group: list[Recipient],
        outcomes: list[Outcome],
        attempts: int,
        results: _Results,
    ) -> list[_Attempt]:
        retry: list[Recipient] = []
        last_reason = ""
        for recipient, outcome in zip(group, outcomes, strict=True):
            reason = outcome.reason or outcome.status
            if outcome.status == "sent":
                results.sent.append((recipient.key, outcome.message_id or ""))
            elif outcome.status == "retry":
                retry.append(recipient)
                last_reason = reason
            elif outcome.status == "blocked":
                self._pause(reason)
                results.release([recipient], reason)
            else:
                results.fail([recipient], reason)
        if not retry:
            return []
        return self._again(retry, attempts, TransportError(last_reason), results)

    def _again(
        self, group: list[Recipient], attempts: int, err: TransportError, results: _Results
    ) -> list[_Attempt]:
        attempts += 1
        if attempts >= self.options.max_attempts:
            results.fail(group, f"gave up after {attempts} attempts: {err}")
            return []
        results.release(group, str(err))
        delay = backoff_delay(
            attempts - 1, base=self.options.backoff_base, cap=self.options.backoff_cap
        )
        return [_Attempt(group, attempts, delay)]

    # -- shared state ------------------------------------------------------------------------

    def _count(
        self,
        *,
        delivered: int = 0,
        failed: int = 0,
        skipped: int = 0,
        already: int = 0,
        elsewhere: int = 0,
        passed_unknown: int = 0,
    ) -> None:
        with self.lock:
            self.report.delivered += delivered
            self.report.failed += failed
            self.report.skipped += skipped
            self.report.already += already
            self.report.elsewhere += elsewhere
            self.report.passed_unknown += passed_unknown
            self.progress.update(self.report)

    def _counts(self) -> sendruns.Counts:
        with self.lock:
            r = self.report
            return sendruns.Counts(r.delivered, r.failed, r.skipped)

    def _succeeded(self) -> None:
        self.limiter.speed_up()
        with self.lock:
            self.streak = 0

    def _error(self, err: TransportError) -> None:
        with self.lock:
            self.streak += 1
            tripped = self.streak >= self.options.max_consecutive_errors
        if tripped:
            self._pause(f"{self.options.max_consecutive_errors} errors in a row, the last: {err}")

    def _pause(self, reason: str) -> None:
        with self.lock:
            if self.report.paused is None:
                self.report.paused = reason
                log.error("pausing the send: %s", reason)
        self.stop.set()
        self.halt.set()

    def _crashed(self, err: BaseException) -> None:
        with self.lock:
            if self.crash is None:
                self.crash = err
        self.stop.set()
        self.halt.set()


def _burst(rate: float, batch_size: int) -> float:
    # A fifth of a second of quota: a thread delayed a moment (GC, a slow commit) can catch
    # up instead of losing its share for good, and never more than SES's own second.
    return max(float(batch_size), rate / 5)


def _batches(items: Iterable[Subscriber], size: int) -> Iterator[list[Subscriber]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _describe(err: BaseException) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{err.__class__.__name__}: {first}"[:300]


def _one_line(err: SQLAlchemyError) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"the store failed ({err.__class__.__name__}: {first})"
