"""What the outbox transport costs per message: building the MIME, and writing the file.

The send engine hands the outbox batches of 50; each message becomes an ``.eml`` file.
The headline figure writes into a tmpfs folder (``/dev/shm``), where ``fsync`` is free, so
it is the email package's cost and not the disk's; the second writes to the temporary
folder's real disk, with the ``fsync`` every message gets, for reference.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from emails.issue import Issue
from emails.message import Campaign, Recipient
from emails.render import render_email
from emails.transports.outbox import OutboxTransport
from pipeline.sending.mailing import Mailing
from subscribers.store.roster import Subscriber
from subscribers.store.states import SubscriberStatus

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "issue.json"
TARGET_MS = 1.0
TMPFS = Path("/dev/shm")


def per_message(folder: Path, campaign: Campaign, recipients: list[Recipient]) -> float:
    """Seconds per message of ``send_batch`` into ``folder``, 50 recipients a call."""
    outbox = OutboxTransport(folder)
    outbox.send_batch(campaign, recipients[:1])  # warm: the folder exists, caches are filled
    start = time.perf_counter()
    for first in range(0, len(recipients), outbox.batch_size):
        outcomes = outbox.send_batch(campaign, recipients[first : first + outbox.batch_size])
        assert all(o.status == "sent" for o in outcomes), outcomes
    return (time.perf_counter() - start) / len(recipients)


def main(quick: bool = False) -> None:
    messages = 100 if quick else 2000
    mailing = Mailing(
        date=dt.date(2026, 2, 25),
        rendered=render_email(Issue.load(FIXTURE), postal_address="1 Example St"),
        sender="The AI Morning Post <briefing@example.com>",
        public_url="https://news.example.com",
        secret_key="bench-key",
        unsubscribe_mailto="unsubscribe@example.com",
    )
    recipients = [
        mailing.recipient(
            Subscriber(i, f"reader{i}@example.com", f"Reader {i}", SubscriberStatus.ACTIVE)
        )
        for i in range(messages)
    ]
    memory = TMPFS if TMPFS.is_dir() else None
    with tempfile.TemporaryDirectory(dir=memory) as folder:
        fast = per_message(Path(folder), mailing.campaign, recipients)
    where = "tmpfs" if memory else "disk (no /dev/shm here)"
    print(
        f"outbox send_batch into {where}: {fast * 1e3:.2f} ms/message ({messages} messages;"
        f" target <= {TARGET_MS:g} ms)"
    )
    with tempfile.TemporaryDirectory() as folder:
        disk = per_message(Path(folder), mailing.campaign, recipients[: max(messages // 10, 50)])
    print(f"outbox send_batch to disk, fsync'd: {disk * 1e3:.2f} ms/message (disk-bound)")
