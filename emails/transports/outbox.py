"""The outbox transport: each message becomes an ``.eml`` file, for local runs and editors."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from emails.errors import TransportError
from emails.message import Campaign, Recipient, build_personal_message
from emails.transports.base import Outcome, send_each

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class OutboxTransport:
    name = "outbox"
    batch_size = 50

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        return send_each(self, campaign, recipients)

    def prepare(self, campaign: Campaign, recipients: Sequence[Recipient]) -> None:
        for recipient in recipients:
            build_personal_message(campaign, recipient)

    def max_send_rate(self) -> float | None:
        return None  # a folder has no quota

    def send(self, message: EmailMessage) -> str:
        message_id = str(message["Message-ID"] or "").strip("<> ")
        if not message_id:
            raise TransportError("outbox: the message has no Message-ID")
        target = self.directory / f"{_UNSAFE.sub('_', message_id)}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, message.as_bytes(policy=SMTP))
        except OSError as err:
            raise TransportError(f"outbox: cannot write {target}: {err.strerror}") from err
        return message_id


def _write_atomically(target: Path, data: bytes) -> None:
    # A crash mid-write must not leave half a message that looks delivered.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
