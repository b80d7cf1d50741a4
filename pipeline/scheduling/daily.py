"""The draft step of the day: assemble and render the issue, send the editors a test copy.

Test copies are the send engine's test sends (``jobs.send_test``, as ``morningpost send
--to EMAIL``): the real message through the real transport, personalised for no one, and
never in the delivery ledger: an editor's copy is not a delivery. With the outbox they land
in ``outbox/<date>/test-copies/``, apart from the readers' messages.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from emails.errors import TransportError
from emails.issue import Issue
from emails.transports.base import Transport
from emails.transports.outbox import OutboxTransport
from pipeline import jobs, paths
from pipeline.settings import Settings
from subscribers.addresses import mask
from subscribers.errors import InvalidAddress
from subscribers.store import locks
from subscribers.store.roster import open_store

log = logging.getLogger(__name__)

TEST_COPIES_DIR = "test-copies"  # under outbox/<date>/, apart from the readers' messages


@dataclass(frozen=True)
class Draft:
    issue: Issue
    rendered: jobs.Rendered | None
    test_copies: int


def draft(settings: Settings, date: dt.date, *, sample: bool = False) -> Draft:
    """Assemble (unless a draft exists) and render the issue of ``date``; send test copies.

    Holds the issue's lock, so two schedulers never draft (or mail editors) twice at once.
    """
    engine = open_store(settings.store_url)
    with locks.held(engine, jobs.issue_lock(date), ttl=jobs.ISSUE_LOCK_TTL):
        issue, rendered = jobs.prepare(settings, engine, date, sample=sample)
        sent = send_test_copies(settings, issue, sample=sample)
    return Draft(issue, rendered, sent)


def send_test_copies(
    settings: Settings, issue: Issue, *, sample: bool = False, transport: Transport | None = None
) -> int:
    """Send the rendered issue to each of ``MORNINGPOST_EDITORS``; return how many went.

    A copy that fails is logged and skipped: the draft stands, and editors can preview it.
    """
    if not settings.editors:
        return 0
    transport = transport or _test_transport(settings, issue.date, sample=sample)
    return sum(_send_one(settings, issue.date, transport, editor) for editor in settings.editors)


def _test_transport(settings: Settings, date: dt.date, *, sample: bool) -> Transport:
    if sample or settings.transport == "outbox":
        return OutboxTransport(paths.outbox_dir(settings.data_dir, date) / TEST_COPIES_DIR)
    return jobs.make_transport(settings, date)


def _send_one(settings: Settings, date: dt.date, transport: Transport, editor: str) -> bool:
    where = {"to": mask(editor), "date": date.isoformat()}
    try:
        jobs.send_test(settings, date, editor, transport=transport)
    except (TransportError, InvalidAddress) as err:
        log.error("test copy not sent", extra={**where, "error": str(err)})
        return False
    log.info("test copy sent", extra=where)
    return True
