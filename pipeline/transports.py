"""The one place that decides how mail leaves: SES or the outbox, and the SES client.

Every sender asks here: the send engine, editors' test copies and the web app's
confirmations. Each names its own outbox folder; ``sample`` runs always use the outbox,
whatever ``MORNINGPOST_TRANSPORT`` says, so demo content never reaches real readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emails.errors import ConfigError
from emails.transports.base import Transport
from emails.transports.outbox import OutboxTransport
from pipeline.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


def uses_outbox(settings: Settings, *, sample: bool = False) -> bool:
    return sample or settings.transport == "outbox"


def make_transport(settings: Settings, outbox: Path, *, sample: bool = False) -> Transport:
    """The transport for ``settings``: SES, or ``.eml`` files in ``outbox``."""
    if uses_outbox(settings, sample=sample):
        return OutboxTransport(outbox)
    from emails.transports.ses import SesTransport  # boto3 only for those who send with it

    return SesTransport(ses_client(settings), configuration_set=settings.ses_configuration_set)


def destination(settings: Settings, outbox: Path, *, sample: bool = False) -> str:
    """Where ``make_transport``'s messages go, for a person: ``outbox <folder>`` or ``ses``."""
    return f"outbox {outbox}" if uses_outbox(settings, sample=sample) else settings.transport


def ses_client(settings: Settings) -> SESV2Client:
    """The SES v2 client every SES transport uses (botocore's own retries off)."""
    from botocore.exceptions import BotoCoreError

    from emails.transports.ses import make_client
    from pipeline.sending.pace import MOST

    try:
        # Connections are opened as threads need them: room for the most a send may start.
        return make_client(concurrency=settings.send_concurrency or MOST)
    except BotoCoreError as err:
        raise aws_setup_error("SES", err) from None


def aws_setup_error(service: str, err: Exception) -> ConfigError:
    """One line saying which setting an AWS client is missing (region, credentials)."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    if isinstance(err, NoRegionError):
        return ConfigError(
            f"{service} needs an AWS region: set AWS_DEFAULT_REGION (e.g. eu-west-1)"
        )
    if isinstance(err, NoCredentialsError):
        return ConfigError(
            f"{service} found no AWS credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the machine a role"
        )
    return ConfigError(f"cannot set up the {service} client: {one_line(err)}")


def one_line(err: BaseException) -> str:
    """An exception's message as one bounded line (library messages can span many)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
