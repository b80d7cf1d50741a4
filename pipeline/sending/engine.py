"""The send engine: every active subscriber gets the issue once, recorded in the ledger.

    reader thread ──► bounded queue of batches ──► N sender threads ──► transport
    (keyset pages of                               claim batch (1 tx) ─► limiter ─►
     active subscribers)                           send_batch ─► finish batch (1 tx)

* Exactly once: a batch's ledger rows go to ``sending`` in one transaction before the
  call (re-reading each subscriber's status: whoever left meanwhile is ``skipped``) and
  to ``sent``/``failed`` in one transaction after it. A crash leaves at most
  ``concurrency x batch`` rows in ``sending``: unknown, not resent unless asked.
* Rate: one token bucket for all threads; SES throttling (429) and server errors are
  retried with exponential backoff and full jitter, throttling also halves the rate.
* Stop: a stop flag (pause, Ctrl-C) lets queued batches drain unsent; a batch whose call
  is in flight is finished and recorded; one waiting for a retry goes back to ``pending``.
* Too many consecutive errors pause the send (edition state ``paused``); a re-run resumes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine
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
from pipeline.sending.mailing import Mailing
from pipeline.sending.ratelimit import Limiter, TokenBucket, Unlimited, backoff_delay
from subscribers.store import editions, ledger
from subscribers.store.roster import Subscriber, count, iter_active
from subscribers.store.states import DeliveryState, EditionState, SubscriberStatus

log = logging.getLogger(__name__)

_STOPPED = "the send stopped before this message was handed over"


@dataclass(frozen=True)
class SendOptions:
    concurrency: int = 8  # sender threads; also bounds the unknowns after a crash
    max_rate: float | None = None  # messages per second; None = no limit
    resend_unknown: bool = False  # claim rows an earlier run left in ``sending``
    max_attempts: int = 8  # per batch, for throttling, 5xx and per-entry transient failures
    max_consecutive_errors: int = 20  # failed calls in a row (429 excluded) before pausing
    backoff_base: float = 0.1  # seconds
    backoff_cap: float = 10.0  # seconds


@dataclass
class SendReport:
    delivered: int = 0  # handed over this run (``sent`` in the ledger)
    failed: int = 0  # refused this run (``failed``: a re-run retries them)
    skipped: int = 0  # no longer active when their turn came (``skipped``)
    already: int = 0  # sent, skipped or in flight before this run: not sent again
    unknown: int = 0  # rows in ``sending`` once the run ended: their fate is unknown
    seconds: float = 0.0
    paused: str | None = None  # why the send paused, if it did
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.delivered + self.failed + self.skipped + self.already

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
) -> SendReport:
    """Deliver ``mailing`` to every active subscriber who does not have it yet.

    ``dry_run`` goes through everything (reading, batching, building each request) but the
    transport and the ledger. Setting ``stop`` ends the send early and cleanly.
    """
    run = _Run(engine, transport, mailing, options or SendOptions(), dry_run=dry_run, stop=stop)
    return run.execute(progress or NoProgress())


@dataclass
class _Results:
    """A batch's outcome, as the ledger records it."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    released: list[tuple[int, str]] = field(default_factory=list)

    def fail(self, group: Sequence[Recipient], reason: str) -> None:
        self.failed += [(r.key, reason) for r in group]

    def release(self, group: Sequence[Recipient], reason: str) -> None:
        self.released += [(r.key, reason) for r in group]


_Attempt = tuple[list[Recipient], int]  # recipients to hand over, attempts made so far


class _Run:
    """One run of the engine: the reader, the senders, and what they share."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        mailing: Mailing,
        options: SendOptions,
        *,
        dry_run: bool,
        stop: threading.Event | None,
    ) -> None:
        self.engine, self.transport, self.mailing = engine, transport, mailing
        self.options, self.dry_run = options, dry_run
        self.campaign = mailing.campaign
        self.stop = stop or threading.Event()
        # None tells a sender thread the list is finished.
        self.queue: queue.Queue[list[Subscriber] | None] = queue.Queue(
            maxsize=options.concurrency * 2
        )
        self.limiter: Limiter = (
            TokenBucket(options.max_rate, burst=_burst(options.max_rate, transport.batch_size))
            if options.max_rate and not dry_run
            else Unlimited()
        )
        self.report = SendReport()
        self.lock = threading.Lock()
        self.streak = 0
        self.crash: BaseException | None = None
        self.progress: Progress = NoProgress()
        # Unknown rows older than this were left by an earlier run; ours are newer.
        self.started_at = dt.datetime.now(dt.UTC)

    # -- the whole run -------------------------------------------------------------------

    def execute(self, progress: Progress) -> SendReport:
        self.progress = progress
        started = time.perf_counter()
        if not self.dry_run:
            self._move(EditionState.SENDING)
        progress.start(self._total())
        threads = [threading.Thread(target=self._read, name="send-reader", daemon=True)]
        threads += [
            threading.Thread(target=self._work, name=f"send-{n}", daemon=True)
            for n in range(self.options.concurrency)
        ]
        for thread in threads:
            thread.start()
        self._join(threads)
        self.report.seconds = time.perf_counter() - started
        self._conclude()
        progress.close(self.report)
        return self.report

    def _join(self, threads: list[threading.Thread]) -> None:
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins keep Ctrl-C deliverable
        except KeyboardInterrupt:
            log.warning("interrupted: finishing the calls in flight, sending nothing more")
            self.report.interrupted = True
            self.stop.set()
            for thread in threads:
                thread.join()

    def _conclude(self) -> None:
        if isinstance(self.crash, SQLAlchemyError):
            raise StoreError(f"the send stopped: {_one_line(self.crash)}") from self.crash
        if self.crash is not None:
            raise self.crash
        if self.dry_run:
            return
        with self.engine.connect() as conn:
            self.report.unknown = ledger.counts(conn, self.mailing.date)[DeliveryState.SENDING]
        if self.report.paused:
            self._move(EditionState.PAUSED)
        elif self.stop.is_set():
            self.report.interrupted = True  # stopped from outside: it stays ``sending``
        elif self.report.failed == 0:
            self._move(EditionState.SENT)

    def _total(self) -> int:
        with self.engine.connect() as conn:
            return count(conn, SubscriberStatus.ACTIVE)

    def _move(self, state: EditionState) -> None:
        with self.engine.begin() as conn:
            editions.move(conn, self.mailing.date, state)

    # -- the reader ------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            for batch in _batches(iter_active(self.engine), self.transport.batch_size):
                if not self._put(batch):
                    break
        except BaseException as err:  # noqa: BLE001 - whatever it is, the senders must stop
            self._crashed(err)
        finally:
            for _ in range(self.options.concurrency):
                self.queue.put(None)  # senders keep taking, so this never blocks for long

    def _put(self, batch: list[Subscriber]) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(batch, timeout=0.2)
            except queue.Full:
                continue
            return True
        return False

    # -- the senders ---------------------------------------------------------------------

    def _work(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.stop.is_set():
                continue  # drain: queued batches were never claimed, they stay unsent
            try:
                self._send_batch(batch)
            except BaseException as err:  # noqa: BLE001 - a store failure: stop the run
                self._crashed(err)

    def _send_batch(self, batch: list[Subscriber]) -> None:
        if self.dry_run:
            self.transport.prepare(self.campaign, [self.mailing.recipient(s) for s in batch])
            self._count(delivered=len(batch))
            return
        with self.engine.begin() as conn:
            claim = ledger.claim_batch(
                conn,
                self.mailing.date,
                [s.id for s in batch],
                resend_unknown_before=self.started_at if self.options.resend_unknown else None,
            )
        recipients = [self.mailing.recipient(s) for s in batch if s.id in claim.claimed]
        results = self._deliver(recipients) if recipients else _Results()
        with self.engine.begin() as conn:
            ledger.finish_batch(
                conn,
                self.mailing.date,
                sent=results.sent,
                failed=results.failed,
                released=results.released,
            )
        self._count(
            delivered=len(results.sent),
            failed=len(results.failed),
            skipped=len(claim.skipped),
            already=claim.already,
        )

    def _deliver(self, recipients: list[Recipient]) -> _Results:
        results = _Results()
        todo: deque[_Attempt] = deque([(recipients, 0)])
        while todo:
            group, attempts = todo.popleft()
            if self.stop.is_set() or not self.limiter.acquire(len(group), self.stop):
                results.release(group, _STOPPED)
                continue
            todo.extend(self._attempt(group, attempts, results))
        return results

    def _attempt(self, group: list[Recipient], attempts: int, results: _Results) -> list[_Attempt]:
        """Hand ``group`` over once; record what is settled, return what must be tried again."""
        try:
            outcomes = self.transport.send_batch(self.campaign, group)
        except Throttled as err:
            self.limiter.slow_down()  # throttling is a request to slow down, not an error
            return self._again(group, attempts, err, results)
        except TemporaryFailure as err:
            self._error(err)
            return self._again(group, attempts, err, results)
        except DeliveryUnknown as err:
            # The rows stay ``sending``: unknown, listed by status, never resent blindly.
            self._error(err)
            log.warning("%d deliveries left unknown: %s", len(group), err)
            return []
        except SendingBlocked as err:
            self._pause(str(err))
            results.release(group, str(err))
            return []
        except TransportError as err:
            return self._refused(group, attempts, err, results)
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
            return [(group[:half], attempts), (group[half:], attempts)]
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
        delay = backoff_delay(
            attempts - 1, base=self.options.backoff_base, cap=self.options.backoff_cap
        )
        if self.stop.wait(delay):
            results.release(group, _STOPPED)
            return []
        return [(group, attempts)]

    # -- shared state ------------------------------------------------------------------------

    def _count(
        self, *, delivered: int = 0, failed: int = 0, skipped: int = 0, already: int = 0
    ) -> None:
        with self.lock:
            self.report.delivered += delivered
            self.report.failed += failed
            self.report.skipped += skipped
            self.report.already += already
            self.progress.update(self.report)

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

    def _crashed(self, err: BaseException) -> None:
        with self.lock:
            if self.crash is None:
                self.crash = err
        self.stop.set()


def _burst(rate: float, batch_size: int) -> float:
    # A fifth of a second of quota: a thread delayed a moment (GC, a slow commit) can catch
    # up instead of losing its share for good, and never more than SES's own second.
    return max(float(batch_size), rate / 5)


def _batches(items: Iterable[Subscriber], size: int) -> Iterator[list[Subscriber]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _one_line(err: SQLAlchemyError) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"the store failed ({err.__class__.__name__}: {first})"
