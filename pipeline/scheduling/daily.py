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

from emails.errors import InvalidAddress, TransportError
from emails.issue import Issue
from emails.transports.base import Transport
from pipeline import jobs
from pipeline.context import Context
from pipeline.workspace import IssueWorkspace
from subscribers.addresses import mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    issue: Issue
    rendered: jobs.Rendered | None
    test_copies: int


def draft(ctx: Context, date: dt.date, *, sample: bool = False) -> Draft:
    """Assemble (unless a draft exists) and render the issue of ``date``; send test copies.

    Holds the issue's lock, so two schedulers never draft (or mail editors) twice at once.
    """
    ws = ctx.issue(date)
    with ws.locked():
        issue, rendered = jobs.prepare(ctx, ws, sample=sample)
        sent = send_test_copies(ctx, ws, sample=sample)
    return Draft(issue, rendered, sent)


def send_test_copies(
    ctx: Context, ws: IssueWorkspace, *, sample: bool = False, transport: Transport | None = None
) -> int:
    """Send the rendered issue to each of ``MORNINGPOST_EDITORS``; return how many went.

    A copy that fails is logged and skipped: the draft stands, and editors can preview it.
    """
    editors = ctx.settings.editors
    if not editors:
        return 0
    transport = transport or ctx.transport(ws.test_copies_outbox, sample=sample)
    return sum(_send_one(ctx, ws, transport, editor) for editor in editors)


def _send_one(ctx: Context, ws: IssueWorkspace, transport: Transport, editor: str) -> bool:
    where = {"to": mask(editor), "date": ws.date.isoformat()}
    try:
        jobs.send_test(ctx, ws, editor, transport=transport)
    except (TransportError, InvalidAddress) as err:
        log.error("test copy not sent", extra={**where, "error": str(err)})
        return False
    log.info("test copy sent", extra=where)
    return True
