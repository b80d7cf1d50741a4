"""The outbox transport: each message becomes an ``.eml`` file, for local runs and editors.

A batch is written from the issue's message built once (``emails.prebuilt``): each file
costs a fill-in and a write, not a whole build by the email package.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from emails.errors import TransportError
from emails.message import WIRE, Campaign, Recipient
from emails.prebuilt import PrebuiltMessage
from emails.transports.base import Outcome, rejected, sent

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class OutboxTransport:
    name = "outbox"
    batch_size = 50

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._prebuilt: PrebuiltMessage | None = None  # of the campaign sent last

    def send_batch(self, campaign: Campaign, recipients: Sequence[Recipient]) -> list[Outcome]:
        """One file per recipient; a recipient whose copy cannot be built or written fails
        alone (``rejected``, with the reason)."""
        prebuilt = self._prebuilt_for(campaign)
        return [self._deliver(prebuilt, recipient) for recipient in recipients]

    def prepare(self, campaign: Campaign, recipients: Sequence[Recipient]) -> None:
        prebuilt = self._prebuilt_for(campaign)
        for recipient in recipients:
            prebuilt.fill(recipient)

    def max_send_rate(self) -> float | None:
        return None  # a folder has no quota

    def send(self, message: EmailMessage) -> str:
        message_id = str(message["Message-ID"] or "").strip("<> ")
        if not message_id:
            raise TransportError("outbox: the message has no Message-ID")
        self._write(message_id, message.as_bytes(policy=WIRE))
        return message_id

    def _prebuilt_for(self, campaign: Campaign) -> PrebuiltMessage:
        # Senders share the transport: at worst two threads build the same message once each.
        prebuilt = self._prebuilt
        if prebuilt is None or prebuilt.campaign != campaign:
            prebuilt = self._prebuilt = PrebuiltMessage.build(campaign)
        return prebuilt

    def _deliver(self, prebuilt: PrebuiltMessage, recipient: Recipient) -> Outcome:
        try:
            message_id, data = prebuilt.fill(recipient)
            self._write(message_id, data)
        except TransportError as err:
            return rejected(str(err))
        return sent(message_id)

    def _write(self, message_id: str, data: bytes) -> None:
        target = self.directory / f"{_UNSAFE.sub('_', message_id)}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, data)
        except OSError as err:
            raise TransportError(f"outbox: cannot write {target}: {err.strerror}") from err


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
